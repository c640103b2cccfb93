/**
 * Text helpers of the store: sentence-aware passage chunking, safe FTS5 query building (user text is
 * never FTS syntax), and the query normalization the answer cache keys on.
 */

export interface ChunkOptions {
  /** A passage is closed at the first sentence end after this many words (default 150). */
  readonly targetWords?: number;
  /** No passage is longer than this (default 200); a longer sentence is cut between words. */
  readonly maxWords?: number;
}

export const DEFAULT_TARGET_WORDS = 150;
export const DEFAULT_MAX_WORDS = 200;

const wordCount = (text: string) => (text.match(/\S+/g) ?? []).length;

/**
 * Words after which a period rarely ends a sentence. Unicode's sentence rules (Intl.Segmenter)
 * already keep "U.S. law", "3.5" and "e.g. this" together, but break after a title before a name
 * ("Dr. | Smith"), since the next word is capitalised; ICU's own list of such exceptions is not
 * reachable through Intl.Segmenter, so the common English ones are merged back here.
 */
const NON_TERMINAL_ABBREVIATIONS = new Set(
  "Mr Mrs Ms Mx Dr Prof Sr Jr St Mt Ft Gen Col Capt Lt Sgt Rev Hon Gov Sen Rep Pres Fr Fig Figs Vol Vols Ch Sec p pp vs cf approx ca Inc Ltd Corp Co Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec".split(" "),
);

/** Whether a sentence segment ends with an abbreviation or an initial ("J.") rather than a sentence end. */
function endsWithAbbreviation(segment: string): boolean {
  const last = /(?:^|\s)\(?([\p{L}]+)\.$/u.exec(segment.trimEnd());
  if (!last) return false;
  const word = last[1];
  return NON_TERMINAL_ABBREVIATIONS.has(word) || /^\p{Lu}$/u.test(word);
}

/**
 * Sentences of a text, by Unicode's sentence boundaries (Intl.Segmenter, granularity "sentence":
 * . ! ? with closing quotes and brackets, decimals and "U.S. law" kept whole), never across a blank
 * line, and not after a title or an initial ("Dr. Smith", "J. Smith").
 */
export function splitSentences(text: string): string[] {
  const segmenter = new Intl.Segmenter("en", { granularity: "sentence" });
  const sentences: string[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    const flat = paragraph.replace(/\s+/g, " ").trim();
    if (flat === "") continue;
    let pending = "";
    for (const { segment } of segmenter.segment(flat)) {
      pending += segment;
      if (endsWithAbbreviation(pending)) continue;
      if (pending.trim() !== "") sentences.push(pending.trim());
      pending = "";
    }
    if (pending.trim() !== "") sentences.push(pending.trim());
  }
  return sentences;
}

/**
 * Passages of ~targetWords words made of whole sentences (at most maxWords; a sentence longer than
 * that is cut between words). A text shorter than targetWords is one passage.
 */
export function chunkText(text: string, options: ChunkOptions = {}): string[] {
  const target = options.targetWords ?? DEFAULT_TARGET_WORDS;
  const max = Math.max(options.maxWords ?? DEFAULT_MAX_WORDS, target);
  if (!Number.isInteger(target) || target < 1) throw new RangeError(`targetWords must be an integer >= 1, got ${target}`);
  const passages: string[] = [];
  let current: string[] = [];
  let words = 0;
  const close = () => {
    if (current.length > 0) passages.push(current.join(" "));
    current = [];
    words = 0;
  };
  for (const sentence of splitSentences(text)) {
    const n = wordCount(sentence);
    if (n > max) {
      // A run-on "sentence" (a list, a table, text without punctuation): cut it between words.
      close();
      const tokens = sentence.split(" ");
      let i = 0;
      for (; i + target < tokens.length; i += target) passages.push(tokens.slice(i, i + target).join(" "));
      current = [tokens.slice(i).join(" ")];
      words = tokens.length - i;
      if (words >= target) close();
      continue;
    }
    if (words > 0 && words + n > max) close();
    current.push(sentence);
    words += n;
    if (words >= target) close();
  }
  close();
  return passages;
}

/** Common English words that match nearly every passage; dropped from queries unless nothing else is left. */
const STOPWORDS = new Set(
  (
    "a an and are as at be been but by can could did do does for from had has have how i if in into is it its " +
    "me my of on or our she he so than that the their them then there these they this to was we were what when " +
    "where which who whom why will with would you your"
  ).split(" "),
);

/** Word tokens of free text (letters and digits of any script), lowercased. */
export function queryTerms(text: string): string[] {
  return (text.normalize("NFKC").toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
}

/** Most terms one FTS query ORs together. */
export const MAX_QUERY_TERMS = 64;

/**
 * An FTS5 MATCH expression for free text: its distinct word tokens, each a quoted string ("" doubled),
 * joined with OR (BM25 ranks passages by how many and how rare). Operators, column filters, NEAR,
 * parentheses or quotes in the user's text are only ever characters inside quoted strings. Returns
 * undefined when the text has no words.
 */
export function ftsQuery(text: string): string | undefined {
  const chosen = searchTerms(text);
  if (chosen.length === 0) return undefined;
  return chosen.map((term) => `"${term.replace(/"/g, '""')}"`).join(" OR ");
}

/** The distinct terms a search ORs together: stopwords dropped unless nothing else is left, at most MAX_QUERY_TERMS. */
export function searchTerms(text: string): string[] {
  const terms = [...new Set(queryTerms(text))];
  const content = terms.filter((term) => !STOPWORDS.has(term));
  return (content.length > 0 ? content : terms).slice(0, MAX_QUERY_TERMS);
}

/**
 * A PostgreSQL tsquery for free text: the same terms as ftsQuery, joined with `|`. Every term is
 * letters and digits only (queryTerms), so no tsquery operator (& | ! ( ) : * < > ') can come from
 * the user's text. Returns undefined when the text has no words.
 */
export function tsQuery(text: string): string | undefined {
  const chosen = searchTerms(text);
  return chosen.length === 0 ? undefined : chosen.join(" | ");
}

/**
 * The answer cache's key for a query: lowercase words without punctuation or extra spaces, so
 * "Where does real insulin come from?" and "where does  real insulin come from" are the same entry.
 */
export function normalizeQuery(text: string): string {
  return queryTerms(text).join(" ");
}
