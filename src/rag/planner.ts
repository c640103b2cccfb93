/**
 * The reference planner: what one request's prompt holds and what it copies from. `llma rag`, the
 * library's ragAnswer() and `llma serve` (chat and completions, with `--docs`/`--store`) all build
 * their prompt and their references here, so the same query gets the same prompt and drafts from the
 * same sources whichever way it comes in.
 *
 * Two steps, because the server checks the prompt against the context before it looks anything up
 * in the answer cache (a request that is refused touches no cache entry):
 *
 * - fitPrompt: the prompt with as many retrieved passages (best first) as the context holds next to
 *   the completion. The whole prompt is tokenized once; only when it does not fit is each passage
 *   tokenized once more on its own, to estimate from the sum of their lengths how many to keep, and
 *   the prompt rendered again with that many (a fixed few renders, never one per dropped passage).
 * - orderReferences: the reference list, in one order for every entry point (see REFERENCE_ORDER).
 *   Passages in the prompt are found by the prompt's own index (`indexPrompt`), so they are not
 *   references as well: each passage is tokenized and indexed once.
 *
 * No I/O here: retrieval and the cache lookup are the caller's (see answer.ts and the server), and
 * the model is seen only through its tokenizer and context size.
 */
import type { TokenModel } from "../core/model.js";

/** A reference as generate() takes it: text, or tokens as they are. */
export type ReferenceInput = string | readonly number[];

/** Where a reference came from, to name a draft's source (the server's llma.trace). */
export type ReferenceOrigin = "prediction" | "reference" | "document" | "cache";

/**
 * The order of the references, for every entry point. The reference index drafts from the longest
 * match of the context and, among equally long ones, from the earliest indexed occurrence
 * (core/reference-index.ts), so this order is the tie-break: sources that predict the output come
 * before sources that only inform it. The client's prediction is its guess of this very output; a
 * cached answer is this model's own output for a similar query; the request's references are text
 * the client expects to be quoted; retrieved passages are context. The prompt is indexed after all
 * references, so passages that sit in the prompt are last either way: leaving them out of the
 * references changes no tie.
 */
export const REFERENCE_ORDER: readonly ReferenceOrigin[] = ["prediction", "cache", "reference", "document"];

export interface PassageLike {
  readonly text: string;
}

export interface CachedAnswerLike {
  readonly answer: string;
  /** The answer's own tokens when stored (this model's): re-tokenizing the text can give others. */
  readonly tokens?: readonly number[];
}

/** A rendered prompt: its tokens, and whatever else the renderer knows (the text, a chat template's stop strings). */
export interface RenderedPrompt {
  readonly tokens: readonly number[];
}

/** The prompt made with these passages (texts, best first); it is called with fewer when the context cannot hold them all. */
export type PromptFrame<R extends RenderedPrompt = RenderedPrompt> = (passages: readonly string[]) => R;

/** The retrieved passages as the paper's prompt has them: "docs:" and one passage a line. */
export function docsBlock(passages: readonly string[]): string {
  return `docs:\n${passages.join("\n")}`;
}

/** The paper's retrieval prompt (LLMA, arXiv 2304.04487; microsoft/LMOps llma): docs, then the query. */
export function ragPrompt(query: string, passages: readonly string[]): string {
  return `${docsBlock(passages)}\nquery: ${query}\nanswer:`;
}

export interface TextPrompt extends RenderedPrompt {
  readonly text: string;
}

/** The paper's prompt around a query: `llma rag`, ragAnswer(), and /v1/completions with `llma.retrieve`. */
export function queryFrame(model: Pick<TokenModel, "tokenize">, query: string): PromptFrame<TextPrompt> {
  return (passages) => {
    const text = ragPrompt(query, passages);
    return { text, tokens: model.tokenize(text, { bos: true }) };
  };
}

/** A prompt that takes no passages (a completions prompt without retrieval). */
export function textFrame(model: Pick<TokenModel, "tokenize">, text: string): PromptFrame<TextPrompt> {
  return () => ({ text, tokens: model.tokenize(text, { bos: true }) });
}

/** Chat messages with the passages as a system message ("docs:\n...") after the leading system/developer messages. */
export function withDocs<M extends { readonly role: string }>(messages: readonly M[], passages: readonly string[]): readonly (M | { role: "system"; content: string })[] {
  if (passages.length === 0) return messages;
  let at = 0;
  while (at < messages.length && (messages[at].role === "system" || messages[at].role === "developer")) at++;
  return [...messages.slice(0, at), { role: "system", content: docsBlock(passages) }, ...messages.slice(at)];
}

export interface FittedPrompt<P extends PassageLike, R extends RenderedPrompt> {
  readonly prompt: R;
  /** The passages in the prompt, best first (fewer than given when the context could not hold them all). */
  readonly passages: readonly P[];
}

/**
 * The prompt with the most passages (a prefix of them, best first) that leaves `room` tokens for the
 * completion in the context; with none at all when even one does not fit (the caller decides whether
 * that prompt fits). The same passages as dropping the last one until the prompt fits, at the cost of
 * a few renders (the whole prompt, the prompt without passages, the estimate, a probe or two: the
 * estimate is off by less than a token where every passage adds the same around itself) instead of
 * one per dropped passage.
 */
export function fitPrompt<P extends PassageLike, R extends RenderedPrompt>(
  model: Pick<TokenModel, "tokenize" | "contextSize">,
  frame: PromptFrame<R>,
  passages: readonly P[],
  room = 1,
): FittedPrompt<P, R> {
  const fits = (prompt: R) => prompt.tokens.length + room <= model.contextSize;
  const render = (count: number) => frame(passages.slice(0, count).map((p) => p.text));
  const whole = render(passages.length);
  if (passages.length === 0 || fits(whole)) return { prompt: whole, passages: [...passages] };
  // Too long: estimate the prompt with the first k passages as the prompt without any (no passage in
  // it) plus their lengths, each passage tokenized once on its own, plus what a passage adds inside the
  // prompt beyond its own tokens (its separator; its first token merging otherwise after it), the
  // same for each: measured on the whole prompt.
  const lengths = passages.map((p) => model.tokenize(p.text, { bos: false }).length);
  const bare = render(0).tokens.length;
  const perPassage = (whole.tokens.length - bare - lengths.reduce((sum, n) => sum + n, 0)) / passages.length;
  let estimate = bare;
  let count = 0;
  while (count < passages.length && estimate + lengths[count] + perPassage + room <= model.contextSize) estimate += lengths[count++] + perPassage;
  // Where passages differ in what they add, the rendered prompt decides: one more passage while it still fits, or one fewer until it does.
  let prompt = render(count);
  if (fits(prompt)) {
    while (count + 1 < passages.length) {
      const more = render(count + 1);
      if (!fits(more)) break;
      prompt = more;
      count++;
    }
  } else {
    while (count > 0 && !fits(prompt)) prompt = render(--count);
  }
  return { prompt, passages: passages.slice(0, count) };
}

export interface ReferenceSources {
  /** The client's guess of the output (Predicted Outputs). */
  readonly prediction?: string;
  /** Cached answers to similar queries, most similar first. */
  readonly cached?: readonly CachedAnswerLike[];
  /** The request's own references. */
  readonly references?: readonly ReferenceInput[];
  /** The passages in the prompt (fitPrompt's). */
  readonly passages?: readonly PassageLike[];
  /** Whether the prompt is indexed (default true): then its passages are found there and are not references too. */
  readonly indexPrompt?: boolean;
}

export interface ReferenceList {
  readonly references: readonly ReferenceInput[];
  /** Where each reference came from (same order). */
  readonly origins: readonly ReferenceOrigin[];
}

/** The references in REFERENCE_ORDER; empty ones left out (they hold nothing to copy). */
export function orderReferences(sources: ReferenceSources): ReferenceList {
  const indexPrompt = sources.indexPrompt ?? true;
  const byOrigin: Record<ReferenceOrigin, readonly ReferenceInput[]> = {
    prediction: sources.prediction !== undefined ? [sources.prediction] : [],
    cache: (sources.cached ?? []).map((c) => c.tokens ?? c.answer),
    reference: sources.references ?? [],
    // Without the prompt's index a passage would not be copied from at all: then it is a reference.
    document: indexPrompt ? [] : (sources.passages ?? []).map((p) => p.text),
  };
  const references: ReferenceInput[] = [];
  const origins: ReferenceOrigin[] = [];
  for (const origin of REFERENCE_ORDER)
    for (const reference of byOrigin[origin])
      if (reference.length > 0) {
        references.push(reference);
        origins.push(origin);
      }
  return { references, origins };
}

export interface PlanRequest<P extends PassageLike, R extends RenderedPrompt> extends Omit<ReferenceSources, "passages"> {
  readonly frame: PromptFrame<R>;
  /** Retrieved passages, best first; the ones the context cannot hold are dropped, lowest ranked first. */
  readonly passages?: readonly P[];
  /** Tokens the completion needs after the prompt (default 1). */
  readonly room?: number;
}

export interface ReferencePlan<P extends PassageLike, R extends RenderedPrompt> extends FittedPrompt<P, R>, ReferenceList {
  readonly indexPrompt: boolean;
}

/** Both steps at once, for a caller that has every source before it builds the prompt (ragAnswer). */
export function planReferences<P extends PassageLike, R extends RenderedPrompt>(model: Pick<TokenModel, "tokenize" | "contextSize">, request: PlanRequest<P, R>): ReferencePlan<P, R> {
  const fitted = fitPrompt(model, request.frame, request.passages ?? [], request.room);
  const indexPrompt = request.indexPrompt ?? true;
  return { ...fitted, ...orderReferences({ ...request, passages: fitted.passages, indexPrompt }), indexPrompt };
}
