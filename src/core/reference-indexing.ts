/**
 * Turning a request's reference texts into a ReferenceIndex without blocking: tokenizing and
 * indexing a 5 MB reference takes seconds, which a person waits through, so both go in chunks that
 * yield to the event loop (progress can be drawn, Ctrl-C can stop it).
 *
 * Tokenizing in slices must give the tokens of the whole text, or drafts would copy other tokens
 * than the model reads (the output would still be lossless — every draft is verified — but copies
 * would be rejected). Slices are cut only at a single space between two non-space characters:
 * byte-level BPE vocabularies (GPT-2 style, Llama 3, Qwen) start a pre-token at such a space, and
 * SentencePiece vocabularies mark the space as the next word's "▁", which their tokenizer's dummy
 * prefix recreates when the slice starts at that word. Which of the two joins a model's tokenizer
 * needs is measured on the text itself (a window around the first cut tokenized whole and in two
 * parts); when neither reproduces the whole, the text is tokenized in one call.
 */
import type { TokenModel } from "./model.js";
import { ReferenceIndex, yieldToEventLoop } from "./reference-index.js";

/** Characters per tokenizer call (tens of milliseconds of work). */
export const DEFAULT_SLICE_CHARS = 64 * 1024;
/** Characters each side of a cut in the window that tells which join the tokenizer needs. */
const PROBE_CHARS = 2048;

/** How a slice boundary at a space is tokenized: the space starts the next slice, or is left to the tokenizer's dummy prefix. */
export type SliceJoin = "space-in-next" | "space-as-prefix" | "whole";

export interface IndexingProgress {
  /** "tokenizing" (done/total in characters of every text reference) or "indexing" (in tokens). */
  readonly phase: "tokenizing" | "indexing";
  readonly done: number;
  readonly total: number;
}

export interface IndexingOptions {
  /** Aborting stops at the next slice or chunk, throwing the signal's reason. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: IndexingProgress) => void;
  /** Characters per tokenizer call (default DEFAULT_SLICE_CHARS). */
  readonly sliceChars?: number;
  /** Tokens per indexing chunk (default: ReferenceIndex's). */
  readonly chunkTokens?: number;
}

type Tokenizer = Pick<TokenModel, "tokenize">;

const isSpaceAt = (text: string, i: number) => /\s/.test(text[i] ?? " ");

/** The first single space between two non-space characters at or after `from` (-1: none). */
function cutAfter(text: string, from: number): number {
  for (let i = Math.max(1, from); i < text.length - 1; i++) {
    if (text[i] === " " && !isSpaceAt(text, i - 1) && !isSpaceAt(text, i + 1)) return i;
  }
  return -1;
}

const sameTokens = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((token, i) => token === b[i]);

function tokenizePart(model: Tokenizer, text: string, start: number, end: number, join: SliceJoin, first: boolean): number[] {
  // With "space-as-prefix" every slice after the first starts after its cut space.
  const from = !first && join === "space-as-prefix" ? start + 1 : start;
  return model.tokenize(text.slice(from, end), { bos: false });
}

/** Which join reproduces the whole text's tokens around the cut at `cut` (measured, see the module comment). */
export function sliceJoinAt(model: Tokenizer, text: string, cut: number): SliceJoin {
  const from = Math.max(0, cut - PROBE_CHARS);
  const to = Math.min(text.length, cut + PROBE_CHARS);
  const whole = model.tokenize(text.slice(from, to), { bos: false });
  const head = model.tokenize(text.slice(from, cut), { bos: false });
  for (const join of ["space-in-next", "space-as-prefix"] as const) {
    if (sameTokens([...head, ...tokenizePart(model, text, cut, to, join, false)], whole)) return join;
  }
  return "whole";
}

/**
 * The tokens of `text` (no BOS), tokenized in slices of about `sliceChars` characters that yield to
 * the event loop in between; the same tokens as `model.tokenize(text)` (see the module comment).
 */
export async function tokenizeInSlices(
  model: Tokenizer,
  text: string,
  options: IndexingOptions & { readonly onSlice?: (charsDone: number) => void } = {},
): Promise<number[]> {
  const sliceChars = options.sliceChars ?? DEFAULT_SLICE_CHARS;
  if (!Number.isInteger(sliceChars) || sliceChars < 1) throw new RangeError(`sliceChars must be an integer >= 1, got ${sliceChars}`);
  options.signal?.throwIfAborted();
  const firstCut = text.length > sliceChars ? cutAfter(text, sliceChars) : -1;
  const join = firstCut < 0 ? "whole" : sliceJoinAt(model, text, firstCut);
  if (join === "whole") {
    const tokens = model.tokenize(text, { bos: false });
    options.onSlice?.(text.length);
    return tokens;
  }
  const tokens: number[] = [];
  let start = 0;
  let cut = firstCut;
  while (start < text.length) {
    const end = cut < 0 ? text.length : cut;
    for (const token of tokenizePart(model, text, start, end, join, start === 0)) tokens.push(token);
    options.onSlice?.(end);
    if (end === text.length) break;
    await yieldToEventLoop();
    options.signal?.throwIfAborted();
    start = end;
    cut = cutAfter(text, end + sliceChars);
  }
  return tokens;
}

/**
 * A ReferenceIndex over `references` (texts are tokenized without BOS, token arrays taken as they
 * are), built in chunks: progress through `onProgress`, stopped by `signal`.
 */
export async function indexReferences(model: Tokenizer, references: readonly (string | readonly number[])[], options: IndexingOptions = {}): Promise<ReferenceIndex> {
  const totalChars = references.reduce((sum, reference) => sum + (typeof reference === "string" ? reference.length : 0), 0);
  const tokenized: (readonly number[])[] = [];
  let charsBefore = 0;
  for (const reference of references) {
    if (typeof reference !== "string") {
      tokenized.push(reference);
      continue;
    }
    tokenized.push(
      await tokenizeInSlices(model, reference, {
        ...options,
        onSlice: (done) => options.onProgress?.({ phase: "tokenizing", done: charsBefore + done, total: totalChars }),
      }),
    );
    charsBefore += reference.length;
  }
  const totalTokens = tokenized.reduce((sum, tokens) => sum + tokens.length, 0);
  const index = new ReferenceIndex();
  let tokensBefore = 0;
  for (const tokens of tokenized) {
    await index.addReferenceAsync(tokens, {
      signal: options.signal,
      chunkTokens: options.chunkTokens,
      onProgress: (done) => options.onProgress?.({ phase: "indexing", done: tokensBefore + done, total: totalTokens }),
    });
    tokensBefore += tokens.length;
  }
  return index;
}

/**
 * indexReferences for generate(): aborted, an empty index instead of the signal's reason, so that the
 * request ends like any aborted one (decode sees the signal and returns stopReason "abort" at once).
 */
export async function indexReferencesUnlessAborted(
  model: Tokenizer,
  references: readonly (string | readonly number[])[],
  options: IndexingOptions = {},
): Promise<ReferenceIndex> {
  try {
    return await indexReferences(model, references, options);
  } catch (error) {
    if (options.signal?.aborted) return new ReferenceIndex();
    throw error;
  }
}
