/**
 * Runs one request on one sequence. Greedy requests and sampled ones (temperature > 0, top_k, top_p,
 * min_p, seed) go through llma's generate(): lossless, accelerated by references (a sampled text is
 * exactly the one plain sampling gives with the same seed, see core/sampling.ts). Requests that bend the
 * distribution with state llma does not model (repeat/frequency/presence penalties, logit bias), and
 * those under constraints (a grammar, streamed or sampled log probabilities), go through node-llama-cpp's
 * own sampler on the same sequence (node-sampler.ts): correct output, no acceleration. Both paths end
 * generation and stream text by the same rules (core/output-text.ts).
 */
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import type { Accelerator } from "../core/accelerator.js";
import type { TokenSequence } from "../core/model.js";
import { logprobsAfterDecoding } from "./constrained.js";
import { finishReason, needsPlainSampler, needsSampler, type EngineRequest, type EngineResult } from "./engine-types.js";
import { greedyLogprobs } from "./logprobs-pass.js";
import { runNodeSampler } from "./node-sampler.js";
import { runAutoTools, runForcedCall } from "./tools.js";

export { finishReason, hasPenalties, needsPlainSampler, needsSampler, PENALTY_WINDOW } from "./engine-types.js";
export type { EngineRequest, EngineResult, FinishReason, Sampling } from "./engine-types.js";

/** Runs `request` on `sequence`, one of the accelerator's model's: through the accelerator unless it needs node-llama-cpp's sampler. */
export async function runGeneration(llma: Accelerator<LlamaCppModel>, sequence: TokenSequence, request: EngineRequest): Promise<EngineResult> {
  const { model } = llma;
  const { sampling } = request;
  if (request.tools) return request.tools.path === "forced" ? runForcedCall(model, sequence, request, request.tools) : runAutoTools(model, sequence, request, request.tools);
  if (request.constraints && logprobsAfterDecoding(request.constraints, sampling, request.onText !== undefined)) {
    const result = await runGeneration(llma, sequence, { ...request, constraints: undefined });
    if (result.finishReason === "abort") return result;
    const { entries, passes } = await greedyLogprobs(model, sequence, request.prompt, result.tokens ?? [], request.constraints.topLogprobs ?? 0);
    return { ...result, logprobs: entries, forwardPasses: result.forwardPasses + passes };
  }
  if (request.constraints) return runNodeSampler(model, sequence, request, request.constraints);
  if (sampling && needsPlainSampler(sampling)) return runNodeSampler(model, sequence, request);
  const sampled = sampling !== undefined && sampling.temperature > 0;
  const result = await llma.generate({
    prompt: request.prompt,
    references: request.references,
    policy: request.policy,
    exactness: request.exactness,
    indexPrompt: request.indexPrompt,
    indexOutput: request.indexOutput,
    maxTokens: request.maxTokens,
    stop: request.stop,
    signal: request.signal,
    onText: request.onText,
    onStep: request.onStep,
    sequence,
    // OpenAI's sampler (the whole distribution, top_p 1) unless top_k / min_p are given. At temperature 0
    // they cannot change the output (the most likely token survives every filter), so greedy ignores them.
    ...(sampled ? { temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP, minP: sampling.minP, seed: sampling.seed } : {}),
  });
  const { stats } = result;
  return {
    text: result.text,
    tokens: result.tokens,
    finishReason: finishReason(result.stopReason),
    mode: "accelerated",
    promptTokens: stats.promptTokens,
    cachedPromptTokens: stats.reusedPromptTokens,
    completionTokens: stats.generatedTokens,
    forwardPasses: stats.steps,
    draftedTokens: stats.draftedTokens,
    acceptedTokens: stats.acceptedTokens,
    ...(stats.seed !== undefined ? { seed: stats.seed } : {}),
    ...(stats.exact !== undefined ? { exact: stats.exact } : {}),
  };
}
