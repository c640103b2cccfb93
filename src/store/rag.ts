/**
 * Retrieval-augmented, cache-assisted generation: retrieve the top passages for a query (BM25), build
 * the paper's prompt ("docs:\n...\nquery: ...\nanswer:"), and generate with LLMA copying from the
 * passages AND from the cached answers of the most similar past queries of the same tenant; then the
 * answer goes into the cache. The output is plain greedy decoding's: references only decide how many
 * tokens one forward pass may confirm.
 */
import type { DecodeResult } from "../core/decoder.js";
import { generate, type GenerateRequest } from "../core/generate.js";
import type { TokenModel } from "../core/model.js";
import { DEFAULT_TENANT, type CachedAnswer } from "./answers.js";
import type { AnswerStore, PassageStore } from "./backend.js";
import type { Passage } from "./documents.js";

/** The paper's retrieval prompt (LLMA, arXiv 2304.04487; microsoft/LMOps llma): docs, then the query. */
export function ragPrompt(query: string, passages: readonly string[]): string {
  return `docs:\n${passages.join("\n")}\nquery: ${query}\nanswer:`;
}

export interface RagRequest extends Pick<GenerateRequest, "method" | "policy" | "n" | "k" | "maxTokens" | "stop" | "signal" | "onText" | "indexPrompt" | "indexOutput"> {
  readonly query: string;
  /** Where passages come from (absent: no retrieval, the prompt has no docs). */
  readonly documents?: PassageStore;
  /** Passages retrieved (default 10). */
  readonly top?: number;
  /** The answer cache (absent: none). */
  readonly cache?: AnswerStore;
  /** Copy from cached answers to similar queries (default true when a cache is given). */
  readonly useCache?: boolean;
  /** Store the answer in the cache (default: same as useCache). */
  readonly storeAnswer?: boolean;
  /** Cached answers used as references (default 3). */
  readonly cacheTop?: number;
  /** Cache namespace (default "default"). */
  readonly tenant?: string;
  /** Model identity the cache keys answers on (e.g. the GGUF's file name). */
  readonly modelName: string;
}

export interface RagResult {
  readonly answer: string;
  readonly prompt: string;
  /** Passages in the prompt, best first (fewer than `top` when the context could not hold them all). */
  readonly sources: readonly Passage[];
  /** Cached answers used as references. */
  readonly cached: readonly CachedAnswer[];
  /** Id of the cache entry the answer was stored as (undefined when not stored). */
  readonly storedAs?: number;
  readonly result: DecodeResult;
}

export const DEFAULT_TOP = 10;
export const DEFAULT_CACHE_TOP = 3;

/**
 * Retrieved passages that fit: the prompt plus `maxTokens` must fit the context, so the lowest-ranked
 * passages are dropped until it does.
 */
export function fitPassages(model: Pick<TokenModel, "tokenize" | "contextSize">, query: string, passages: readonly Passage[], maxTokens: number): Passage[] {
  const kept = [...passages];
  while (kept.length > 0 && model.tokenize(ragPrompt(query, kept.map((p) => p.text)), { bos: true }).length + maxTokens > model.contextSize) kept.pop();
  return kept;
}

export async function ragAnswer(model: TokenModel, request: RagRequest): Promise<RagResult> {
  const maxTokens = request.maxTokens ?? 256;
  const retrieved = request.documents ? await request.documents.search(request.query, { top: request.top ?? DEFAULT_TOP }) : [];
  const sources = fitPassages(model, request.query, retrieved, maxTokens);
  const useCache = request.cache !== undefined && (request.useCache ?? true);
  const tenant = request.tenant ?? DEFAULT_TENANT;
  const cached = useCache ? await request.cache!.similar(request.query, { tenant, model: request.modelName, top: request.cacheTop ?? DEFAULT_CACHE_TOP }) : [];
  const prompt = ragPrompt(request.query, sources.map((p) => p.text));
  const result = await generate(model, {
    prompt,
    // The cached answers' own tokens when stored (this model's: the lookup filters by model): re-tokenized text can differ.
    references: [...cached.map((c) => c.tokens ?? c.answer), ...sources.map((p) => p.text)],
    method: request.method,
    policy: request.policy,
    n: request.n,
    k: request.k,
    maxTokens,
    stop: request.stop,
    signal: request.signal,
    onText: request.onText,
    indexPrompt: request.indexPrompt,
    indexOutput: request.indexOutput,
  });
  const answer = result.text;
  let storedAs: number | undefined;
  if (request.cache !== undefined && (request.storeAnswer ?? useCache) && answer.trim() !== "" && result.stopReason !== "abort")
    storedAs = (await request.cache.put({ query: request.query, answer, tokens: result.tokens, model: request.modelName, tenant })).id;
  return { answer, prompt, sources, cached, storedAs, result };
}
