/**
 * All reference text of one request in one suffix automaton.
 *
 * The automaton is built over the concatenation of every indexed source (references, and optionally
 * the prompt and the output generated so far), with a unique separator between sources so that no
 * match ever spans two of them. A {@link ContextCursor} walks the request's context stream (prompt,
 * then output) through the automaton and keeps, after every token, the longest suffix of the stream
 * that occurs in the indexed text *before* that token, plus the end of its earliest occurrence.
 * The tokens that follow that occurrence are the draft.
 *
 * Costs: appending a token to the automaton and advancing the cursor are O(1) amortized (the classic
 * online construction and the classic matching-statistics walk); reading a continuation of k tokens
 * is O(k). Memory is a few typed arrays plus one Map entry per transition (at most 3 per token).
 */

/** Token ids must be non-negative integers below this bound; separators live above it. */
export const MAX_TOKEN_ID = 1 << 21;
const KEY_SPACE = 1 << 22; // token keys: [0, 2^21) real tokens, [2^21, 2^22) separators

/** Tokens addReferenceAsync appends between two yields to the event loop. */
export const DEFAULT_INDEX_CHUNK_TOKENS = 16_384;

export interface AddReferenceOptions {
  /** Aborting stops the indexing at the next chunk (it throws the signal's reason). */
  readonly signal?: AbortSignal;
  /** After each chunk: tokens of this reference indexed so far, and its length. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Tokens per chunk (default DEFAULT_INDEX_CHUNK_TOKENS). */
  readonly chunkTokens?: number;
}

/** Lets timers, I/O and signal handlers (Ctrl-C) run between two chunks of synchronous work. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A longest match of the context's suffix inside the indexed text. */
export interface ReferenceMatch {
  /** Number of context tokens matched (the matched suffix length). */
  readonly length: number;
  /** Position in the indexed text of the first token after the earliest occurrence. */
  readonly continuationStart: number;
}

export type SourceKind = "reference" | "prompt" | "output";

interface SourceSpan {
  readonly kind: SourceKind;
  /** For a reference: its ordinal among the addReference calls (empty ones counted), so callers can name it. */
  readonly reference?: number;
  readonly start: number;
  end: number; // exclusive; grows while the context stream keeps appending to it
}

function growInt32(array: Int32Array<ArrayBuffer>, minLength: number): Int32Array<ArrayBuffer> {
  if (array.length >= minLength) return array;
  const next = new Int32Array(Math.max(minLength, array.length * 2));
  next.set(array);
  return next;
}

export class ReferenceIndex {
  // Automaton states: len, suffix link, end position of the earliest occurrence, first outgoing edge.
  private len = new Int32Array(64);
  private link = new Int32Array(64);
  private firstEnd = new Int32Array(64);
  private edgeHead = new Int32Array(64);
  private stateCount = 1;
  private last = 0;
  // Outgoing edges: the Map answers lookups; the per-state edge lists let a clone copy them.
  private readonly transitions = new Map<number, number>();
  private edgeKey = new Int32Array(256);
  private edgeNext = new Int32Array(256);
  private edgeCount = 0;
  // The indexed text itself (separators are negative).
  private textTokens = new Int32Array(256);
  private textLength = 0;
  private separatorCount = 0;
  private readonly spans: SourceSpan[] = [];
  /** addReference calls so far, empty references included (the ordinal the next reference gets). */
  private referencesAdded = 0;

  constructor() {
    this.link[0] = -1;
    this.edgeHead[0] = -1;
    this.firstEnd[0] = -1;
  }

  /** Total tokens in the indexed text, separators included. */
  get length(): number {
    return this.textLength;
  }

  /** Number of automaton states (for memory reporting). */
  get states(): number {
    return this.stateCount;
  }

  /** Adds one reference text (its tokens) as a separate source. Empty references are ignored. */
  addReference(tokens: readonly number[]): void {
    const reference = this.referencesAdded++;
    if (tokens.length === 0) return;
    this.beginSource("reference", reference);
    for (const token of tokens) this.appendToken(token);
    this.spans[this.spans.length - 1].end = this.textLength;
  }

  /**
   * addReference in chunks of `chunkTokens` (default 16,384: tens of milliseconds) that yield to the
   * event loop in between, so a large reference (a 5 MB document is ~1.6M tokens, seconds of work)
   * reports progress and can be stopped: `signal` aborting ends it with the signal's reason (the index
   * then holds part of the reference and is not to be used). Builds exactly what addReference builds.
   */
  async addReferenceAsync(tokens: readonly number[], options: AddReferenceOptions = {}): Promise<void> {
    const chunk = options.chunkTokens ?? DEFAULT_INDEX_CHUNK_TOKENS;
    if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunkTokens must be an integer >= 1, got ${chunk}`);
    options.signal?.throwIfAborted();
    const reference = this.referencesAdded++;
    if (tokens.length === 0) return;
    this.beginSource("reference", reference);
    for (let start = 0; start < tokens.length; start += chunk) {
      if (start > 0) {
        await yieldToEventLoop();
        options.signal?.throwIfAborted();
      }
      const end = Math.min(tokens.length, start + chunk);
      for (let i = start; i < end; i++) this.appendToken(tokens[i]);
      options.onProgress?.(end, tokens.length);
    }
  }

  /** Which source a text position belongs to (for statistics: where drafts come from). */
  sourceAt(position: number): SourceKind | undefined {
    return this.spanAt(position)?.kind;
  }

  private spanAt(position: number): SourceSpan | undefined {
    let lo = 0;
    let hi = this.spans.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const span = this.spans[mid];
      if (position < span.start) hi = mid - 1;
      else if (position >= span.end) lo = mid + 1;
      else return span;
    }
    return undefined;
  }

  /** Which reference a text position belongs to: its ordinal among the addReference calls (undefined: not a reference). */
  referenceAt(position: number): number | undefined {
    return this.spanAt(position)?.reference;
  }

  /**
   * Up to `maxTokens` tokens of indexed text from `start`, stopping at the end of the source.
   */
  continuation(start: number, maxTokens: number): number[] {
    const out: number[] = [];
    for (let i = start; i < this.textLength && out.length < maxTokens; i++) {
      const token = this.textTokens[i];
      if (token < 0) break;
      out.push(token);
    }
    return out;
  }

  /** The indexed token at `position`, or -1 for a source boundary or a position outside the text. */
  tokenAt(position: number): number {
    if (position < 0 || position >= this.textLength) return -1;
    const token = this.textTokens[position];
    return token < 0 ? -1 : token;
  }

  /** A cursor over the request's context stream (prompt, then output), matched against this index. */
  cursor(): ContextCursor {
    return new ContextCursor(this);
  }

  /** @internal starts a new source: a unique separator keeps matches from crossing sources. */
  beginSource(kind: SourceKind, reference?: number): void {
    if (this.textLength > 0) {
      this.separatorCount++;
      if (this.separatorCount >= KEY_SPACE - MAX_TOKEN_ID) throw new Error("too many reference sources");
      this.extend(-this.separatorCount);
    }
    this.spans.push(reference === undefined ? { kind, start: this.textLength, end: this.textLength } : { kind, reference, start: this.textLength, end: this.textLength });
  }

  /** @internal appends a token to the current source. */
  appendToken(token: number): void {
    if (!Number.isInteger(token) || token < 0 || token >= MAX_TOKEN_ID)
      throw new RangeError(`token id ${token} is not an integer in [0, ${MAX_TOKEN_ID})`);
    this.extend(token);
    this.spans[this.spans.length - 1].end = this.textLength;
  }

  /** @internal */
  transition(state: number, token: number): number {
    return this.transitions.get(state * KEY_SPACE + token) ?? -1;
  }

  /** @internal */
  stateLength(state: number): number {
    return this.len[state];
  }

  /** @internal */
  suffixLink(state: number): number {
    return this.link[state];
  }

  /** @internal */
  earliestEnd(state: number): number {
    return this.firstEnd[state];
  }

  private keyOf(token: number): number {
    return token >= 0 ? token : MAX_TOKEN_ID - token;
  }

  private newState(length: number, link: number, firstEnd: number): number {
    const state = this.stateCount++;
    if (state >= this.len.length) {
      const size = state + 1;
      this.len = growInt32(this.len, size);
      this.link = growInt32(this.link, size);
      this.firstEnd = growInt32(this.firstEnd, size);
      this.edgeHead = growInt32(this.edgeHead, size);
    }
    this.len[state] = length;
    this.link[state] = link;
    this.firstEnd[state] = firstEnd;
    this.edgeHead[state] = -1;
    return state;
  }

  private addEdge(from: number, key: number, to: number): void {
    const mapKey = from * KEY_SPACE + key;
    if (!this.transitions.has(mapKey)) {
      const edge = this.edgeCount++;
      if (edge >= this.edgeKey.length) {
        this.edgeKey = growInt32(this.edgeKey, edge + 1);
        this.edgeNext = growInt32(this.edgeNext, edge + 1);
      }
      this.edgeKey[edge] = key;
      this.edgeNext[edge] = this.edgeHead[from];
      this.edgeHead[from] = edge;
    }
    this.transitions.set(mapKey, to);
  }

  /** Online suffix-automaton extension by one symbol (Blumer et al.), tracking earliest end positions. */
  private extend(token: number): void {
    const position = this.textLength;
    this.textTokens = growInt32(this.textTokens, position + 1);
    this.textTokens[position] = token;
    this.textLength = position + 1;

    const key = this.keyOf(token);
    const cur = this.newState(this.len[this.last] + 1, 0, position);
    let p = this.last;
    while (p !== -1 && !this.transitions.has(p * KEY_SPACE + key)) {
      this.addEdge(p, key, cur);
      p = this.link[p];
    }
    if (p !== -1) {
      const q = this.transitions.get(p * KEY_SPACE + key)!;
      if (this.len[p] + 1 === this.len[q]) {
        this.link[cur] = q;
      } else {
        const clone = this.newState(this.len[p] + 1, this.link[q], this.firstEnd[q]);
        for (let edge = this.edgeHead[q]; edge !== -1; edge = this.edgeNext[edge]) {
          const edgeKey = this.edgeKey[edge];
          this.addEdge(clone, edgeKey, this.transitions.get(q * KEY_SPACE + edgeKey)!);
        }
        while (p !== -1 && this.transitions.get(p * KEY_SPACE + key) === q) {
          this.transitions.set(p * KEY_SPACE + key, clone);
          p = this.link[p];
        }
        this.link[q] = clone;
        this.link[cur] = clone;
      }
    }
    this.last = cur;
  }
}

/**
 * Walks a context stream (prompt tokens, then generated tokens) through a {@link ReferenceIndex}.
 * Each pushed token is matched against the text indexed *before* it and then, if asked, appended to
 * the index itself, so the prompt and the output so far can serve as references too.
 */
export class ContextCursor {
  private state = 0;
  private matched = 0;
  private indexing = false;

  constructor(private readonly index: ReferenceIndex) {}

  /**
   * Feeds the next context token. With `indexIt`, the token also becomes indexed text (a new source
   * starts when indexing resumes after a gap, so matches never bridge the gap).
   */
  push(token: number, indexIt: boolean, kind: SourceKind = "output"): void {
    const index = this.index;
    // Matching statistics: the longest suffix of the stream that occurs in the indexed text.
    let state = this.state;
    let matched = this.matched;
    while (state !== 0 && index.transition(state, token) === -1) {
      state = index.suffixLink(state);
      matched = index.stateLength(state);
    }
    const next = index.transition(state, token);
    if (next !== -1) {
      state = next;
      matched++;
    } else {
      state = 0;
      matched = 0;
    }

    if (indexIt) {
      if (!this.indexing) index.beginSource(kind);
      this.indexing = true;
      index.appendToken(token);
      // Appending may split `state` (the shorter strings move to a clone, its new suffix link).
      while (state !== 0 && matched <= index.stateLength(index.suffixLink(state))) state = index.suffixLink(state);
    } else {
      this.indexing = false;
    }
    this.state = state;
    this.matched = matched;
  }

  /** The current longest match, or undefined when the last token occurs nowhere before. */
  match(): ReferenceMatch | undefined {
    if (this.matched === 0) return undefined;
    return { length: this.matched, continuationStart: this.index.earliestEnd(this.state) + 1 };
  }
}
