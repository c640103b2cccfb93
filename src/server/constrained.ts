/**
 * Constraints on a reply that llma's lossless loop does not carry: a grammar (structured output,
 * tool-call arguments) and per-token log probabilities. A constrained request decodes plainly with
 * node-llama-cpp's sampler (node-sampler.ts, which says why it is not accelerated). Log probabilities
 * alone, of a greedy non-streamed reply, are the exception: they are computed after LLMA's decoding
 * (see logprobs-pass.ts).
 */
import type { LlamaGrammar } from "node-llama-cpp";
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import type { Constraints, EngineRequest } from "./engine-types.js";

export type { Constraints } from "./engine-types.js";
import { grammarFor, type ResponseFormat } from "./structured.js";

/**
 * Whether a request's constraints leave it on LLMA's path: log probabilities alone (no grammar) of a
 * greedy, non-streamed reply are computed after decoding from exact passes (see logprobs-pass.ts).
 */
export function logprobsAfterDecoding(constraints: Constraints | undefined, sampling: EngineRequest["sampling"], streamed: boolean): boolean {
  return !!constraints && !constraints.grammar && constraints.topLogprobs !== undefined && sampling === undefined && !streamed;
}

/** The constraints a request's output options need (undefined: none, the request can be accelerated). */
export async function constraintsFor(model: LlamaCppModel, format: ResponseFormat, topLogprobs: number | undefined): Promise<Constraints | undefined> {
  const grammar = await grammarFor(model, format);
  if (!grammar && topLogprobs === undefined) return undefined;
  return { ...(grammar ? { grammar } : {}), ...(topLogprobs !== undefined ? { topLogprobs } : {}) };
}
