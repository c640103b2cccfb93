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
import type { DecodeStep, StopReason } from "../core/decoder.js";
import type { ExactnessMode } from "../core/exactness.js";
import type { TokenSequence } from "../core/model.js";
import type { PolicyName } from "../core/request.js";
import { logprobsAfterDecoding, type Constraints } from "./constrained.js";
import { greedyLogprobs } from "./logprobs-pass.js";
import type { TokenLogprob } from "./logprobs.js";
import type { GenerationMode } from "./metrics.js";
import { runNodeSampler } from "./node-sampler.js";
import { runAutoTools, runForcedCall, type ToolCall, type ToolRun } from "./tools.js";

export interface Sampling {
  readonly temperature: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly minP?: number;
  readonly seed?: number;
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  /** llama.cpp's repeat penalty (absent or 1: off). */
  readonly repeatPenalty?: number;
  /** Generated tokens the penalties look back over (absent: PENALTY_WINDOW; 0: penalties off; "all": the whole output). */
  readonly penaltyWindow?: number | "all";
  /** Whether the penalties count the newline token (absent: true). */
  readonly penalizeNewline?: boolean;
  readonly logitBias?: ReadonlyMap<number, number>;
}

export interface EngineRequest {
  readonly prompt: readonly number[];
  readonly maxTokens: number;
  readonly stop: readonly string[];
  /** Absent (or temperature 0 without penalties/bias): greedy; accelerated with the references unless needsPlainSampler. */
  readonly sampling?: Sampling;
  readonly references: readonly (string | readonly number[])[];
  readonly indexPrompt: boolean;
  readonly indexOutput: boolean;
  readonly policy: PolicyName;
  /** Default "strict" (see core/exactness.ts). */
  readonly exactness?: ExactnessMode;
  readonly signal: AbortSignal;
  /** Streamed text; under constraints with logprobs, the entries of the tokens behind this piece come with it. */
  readonly onText?: (text: string, logprobs?: readonly TokenLogprob[]) => void;
  /** After every forward pass, before its text (llma.trace); on the plain sampler's path one token a pass, no drafts. */
  readonly onStep?: (step: DecodeStep) => void;
  /** A grammar or log probabilities: decoded plainly by node-llama-cpp's sampler (see constrained.ts, node-sampler.ts). */
  readonly constraints?: Constraints;
  /** A tool call to force or to let the model decide ("auto"); see tools.ts. */
  readonly tools?: ToolRun & { readonly path: "forced" | "auto" };
}

export type FinishReason = "stop" | "length" | "abort";

export interface EngineResult {
  readonly text: string;
  /** The generated tokens (the answer cache keeps greedy ones; absent on the "auto" tool path). */
  readonly tokens?: readonly number[];
  readonly finishReason: FinishReason;
  readonly mode: GenerationMode;
  readonly promptTokens: number;
  readonly cachedPromptTokens: number;
  readonly completionTokens: number;
  readonly forwardPasses: number;
  readonly draftedTokens: number;
  readonly acceptedTokens: number;
  /** The seed a sampled request used (the request's, or a random one): replays the output. */
  readonly seed?: number;
  /** Whether the text is guaranteed identical to plain decoding (absent: unknown). */
  readonly exact?: boolean;
  /** Per generated token, when the request asked for log probabilities. */
  readonly logprobs?: readonly TokenLogprob[];
  /** The tool calls of the reply (finish_reason "tool_calls"). */
  readonly toolCalls?: readonly ToolCall[];
  /** A forced call that max_tokens cut short: what was written of it. */
  readonly partialToolCall?: { readonly name: string; readonly arguments: string };
}

/** How many generated tokens the penalties look back over when the request does not say (repeat_last_n). */
export const PENALTY_WINDOW = 256;

export function finishReason(stop: StopReason): FinishReason {
  switch (stop) {
    case "eos":
    case "stop":
      return "stop";
    case "max-tokens":
    case "context-full":
      return "length";
    case "abort":
      return "abort";
  }
}

/** Whether a request samples or bends the distribution rather than decoding greedily. */
export function needsSampler(sampling: Sampling): boolean {
  return sampling.temperature > 0 || needsPlainSampler(sampling);
}

/**
 * Whether a request needs node-llama-cpp's own sampler (and so cannot be accelerated): penalties and
 * logit bias. Plain temperature / top_p sampling is accelerated losslessly.
 */
export function needsPlainSampler(sampling: Sampling | undefined): boolean {
  return !!sampling && (hasPenalties(sampling) || (sampling.logitBias?.size ?? 0) > 0);
}

/** Whether any penalty is on (a window of 0 turns them all off, as llama.cpp's repeat_last_n 0 does). */
export function hasPenalties(sampling: Sampling): boolean {
  const penalized = !!sampling.frequencyPenalty || !!sampling.presencePenalty || (sampling.repeatPenalty !== undefined && sampling.repeatPenalty !== 1);
  return penalized && sampling.penaltyWindow !== 0;
}

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
