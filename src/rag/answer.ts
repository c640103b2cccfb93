/**
 * Retrieval-augmented, cache-assisted generation (`llma rag`, the library's ragAnswer): retrieve the
 * top passages for a query (BM25), look up the cached answers to the most similar past queries of the
 * same tenant, plan the prompt and references (planner.ts), generate with LLMA, and cache the answer.
 * The output is plain greedy decoding's: references only decide how many tokens one forward pass may
 * confirm. The store only stores; generation is here, above it.
 */
import { Accelerator } from "../core/accelerator.js";
import type { DecodeResult } from "../core/decoder.js";
import type { TokenModel } from "../core/model.js";
import type { GenerateRequest } from "../core/request.js";
import { DEFAULT_TENANT, type CachedAnswer } from "../store/answers.js";
import type { AnswerStore, PassageStore } from "../store/backend.js";
import type { Passage } from "../store/documents.js";
import { planReferences, queryFrame } from "./planner.js";

export const DEFAULT_TOP = 10;
export const DEFAULT_CACHE_TOP = 3;

/** The top passages for a query, best first. */
export function retrievePassages(documents: PassageStore, query: string, top = DEFAULT_TOP): Promise<Passage[]> {
  return documents.search(query, { top });
}

/** The cached answers of this tenant and model to the queries most similar to this one, most similar first. */
export function lookUpAnswers(cache: AnswerStore, query: string, options: { readonly model: string; readonly tenant?: string; readonly top?: number }): Promise<CachedAnswer[]> {
  return cache.similar(query, { tenant: options.tenant ?? DEFAULT_TENANT, model: options.model, top: options.top ?? DEFAULT_CACHE_TOP });
}

/** Whether a finished answer is worth caching: one that was cut short by an abort, or says nothing, is not. */
export function worthCaching(text: string, aborted: boolean): boolean {
  return !aborted && text.trim() !== "";
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

/** Answers on `on`: an Accelerator, or a model (then on its own accelerator, as generate(model, request)). */
export async function ragAnswer(on: Accelerator | TokenModel, request: RagRequest): Promise<RagResult> {
  const llma = on instanceof Accelerator ? on : Accelerator.of(on);
  const { model } = llma;
  const maxTokens = request.maxTokens ?? 256;
  const retrieved = request.documents ? await retrievePassages(request.documents, request.query, request.top) : [];
  const useCache = request.cache !== undefined && (request.useCache ?? true);
  const tenant = request.tenant ?? DEFAULT_TENANT;
  const cached = useCache ? await lookUpAnswers(request.cache!, request.query, { tenant, model: request.modelName, top: request.cacheTop }) : [];
  const plan = planReferences(model, { frame: queryFrame(model, request.query), passages: retrieved, room: maxTokens, cached, indexPrompt: request.indexPrompt });
  const result = await llma.generate({
    // The planner's tokens: tokenizing the text again would give the same ones, a second time.
    prompt: plan.prompt.tokens,
    references: plan.references,
    method: request.method,
    policy: request.policy,
    n: request.n,
    k: request.k,
    maxTokens,
    stop: request.stop,
    signal: request.signal,
    onText: request.onText,
    indexPrompt: plan.indexPrompt,
    indexOutput: request.indexOutput,
  });
  const answer = result.text;
  let storedAs: number | undefined;
  if (request.cache !== undefined && (request.storeAnswer ?? useCache) && worthCaching(answer, result.stopReason === "abort"))
    storedAs = (await request.cache.put({ query: request.query, answer, tokens: result.tokens, model: request.modelName, tenant })).id;
  return { answer, prompt: plan.prompt.text, sources: plan.passages, cached, storedAs, result };
}
