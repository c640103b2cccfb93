/**
 * node-llama-cpp's sampler path: the one decoding loop for what llma's lossless loop does not carry.
 * Repeat/frequency/presence penalties and logit bias (engine.ts), a grammar (structured output,
 * tool-call arguments) and per-token log probabilities (constrained.ts) all decode here: one token per
 * forward pass through LlamaCppSequence.sampleTokens, the same sampler options as plain decoding
 * (greedy, or temperature/top_p/seed with OpenAI's whole-distribution defaults), so the text is plain
 * decoding's under those settings. Generation ends, and text streams, by the same rules as on LLMA's
 * path (core/output-text.ts's OutputCollector).
 *
 * Why not accelerated: a grammar masks the logits at every position with a state that advances through
 * the accepted tokens, and penalties read the tokens generated so far; verifying a draft losslessly
 * would need that state per drafted position and a rollback on rejection, which node-llama-cpp's
 * batched evaluation (controlledEvaluate) does not take. That is also why this is a loop of its own
 * beside decoder.ts's: the core's TokenSequence.evaluate runs on controlledEvaluate, whose per-position
 * sampler options in node-llama-cpp 3.21 have no grammar evaluation state; only evaluate() /
 * evaluateWithMetadata() apply a grammar, so grammars (and with them the other sampler-only settings)
 * decode through LlamaCppSequence.sampleTokens. What both loops share is the output (OutputCollector)
 * and the prompt-prefix reuse (reusablePromptPrefix).
 */
import { LlamaGrammarEvaluationState, TokenBias, type Token } from "node-llama-cpp";
import { llamaCppSequence, type LlamaCppModel, type NodeSampling } from "../backends/llama-cpp.js";
import { outputIsExact, passWidthLimit, reusablePromptPrefix } from "../core/exactness.js";
import type { TokenSequence } from "../core/model.js";
import { OutputCollector } from "../core/output-text.js";
import { randomSeed } from "../core/sampling.js";
import { finishReason, hasPenalties, PENALTY_WINDOW, type EngineRequest, type EngineResult, type Sampling } from "./engine-types.js";
import type { Constraints } from "./engine-types.js";
import { ApiError } from "./errors.js";
import { tokenLogprob, type TokenLogprob } from "./logprobs.js";

/**
 * Decodes a request with node-llama-cpp's sampler, under the constraints when given (a grammar, log
 * probabilities); without sampling settings, greedily.
 */
export async function runNodeSampler(model: LlamaCppModel, sequence: TokenSequence, request: EngineRequest, constraints: Constraints = {}): Promise<EngineResult> {
  const { prompt, signal } = request;
  // Never past the context (node-llama-cpp would shift it, see LlamaCppModel): a forced tool call's
  // prompt is a few tokens longer than the one the request's limits were checked against.
  const room = model.contextSize - prompt.length;
  if (room < 1) throw new ApiError(400, `This model's maximum context length is ${model.contextSize} tokens, but the prompt takes ${prompt.length}, leaving no room for the completion.`, "messages", "context_length_exceeded");
  const backend = llamaCppSequence(sequence, "node-llama-cpp's sampler");
  const sampling = request.sampling ?? { temperature: 0 };
  const top = constraints.topLogprobs;
  // Reuse the KV cache of a shared prompt prefix, as LLMA's path does.
  const cached = reusablePromptPrefix(model.exactness, sequence.tokens, prompt);
  await sequence.truncate(cached);
  const output = new OutputCollector<TokenLogprob>(model, { maxTokens: request.maxTokens, room, stop: request.stop, leftContext: prompt, onText: request.onText });
  const samplerOptions = nodeSamplerOptions(model, sampling, output.tokens, Math.min(request.maxTokens, room));
  const grammarEvaluationState = constraints.grammar ? new LlamaGrammarEvaluationState({ model: model.model, grammar: constraints.grammar }) : undefined;
  const logprobOf = (token: number, distribution: ReadonlyMap<number, number>) =>
    tokenLogprob(model, token, distribution, top ?? 0, output.tokens.length >= 8 ? output.tokens : [...prompt.slice(-8), ...output.tokens]);
  let passes = 0;

  if (signal.aborted) output.end("abort");
  if (!output.done) {
    const steps = backend.sampleTokens(prompt.slice(cached), { ...samplerOptions, grammarEvaluationState, probabilities: top !== undefined });
    let passStarted = performance.now();
    for await (const { token, probabilities } of steps) {
      passes++;
      const emitted = output.pushAll([token], probabilities && ((t) => logprobOf(t, probabilities)));
      const now = performance.now();
      request.onStep?.({ pass: passes - 1, draft: [], accepted: 0, emitted, ms: now - passStarted });
      passStarted = now;
      output.stream();
      if (output.done) break;
      if (signal.aborted) {
        output.end("abort");
        break;
      }
    }
    // The backend ends the loop itself only before a pass that would fill the context.
    output.end("context-full");
  }
  output.stream(true);
  const exact = outputIsExact(model.exactness, 1, cached, passWidthLimit(model.exactness, request.exactness ?? "strict"));
  return {
    text: output.text,
    tokens: output.tokens,
    finishReason: finishReason(output.stopReason!),
    mode: "sampled",
    promptTokens: prompt.length,
    cachedPromptTokens: cached,
    completionTokens: output.tokens.length,
    forwardPasses: passes,
    draftedTokens: 0,
    acceptedTokens: 0,
    ...(samplerOptions.seed !== undefined ? { seed: samplerOptions.seed } : {}),
    ...(exact !== undefined ? { exact } : {}),
    ...(top !== undefined ? { logprobs: output.entries } : {}),
  };
}

/**
 * node-llama-cpp's sampler settings for a request (every field it serves: temperature, top_k, top_p,
 * min_p, seed, the penalties over their window, logit_bias), so that no request on this path drops a
 * field another serves. `generated` is read at each token (the penalties' window).
 */
export function nodeSamplerOptions(model: LlamaCppModel, sampling: Sampling, generated: readonly number[], maxTokens: number) {
  const window = sampling.penaltyWindow === undefined ? PENALTY_WINDOW : sampling.penaltyWindow === "all" ? maxTokens : sampling.penaltyWindow;
  const newline = sampling.penalizeNewline === false ? model.model.tokens.nl : undefined;
  const punished = () => {
    const recent = generated.slice(-window) as Token[];
    return newline === undefined ? recent : recent.filter((token) => token !== newline);
  };
  const bias = sampling.logitBias;
  return {
    // OpenAI's sampler (the whole distribution, top_p 1) unless top_k / min_p are given.
    temperature: sampling.temperature,
    topK: sampling.topK ?? 0,
    topP: sampling.topP ?? 1,
    minP: sampling.minP ?? 0,
    seed: sampling.temperature > 0 ? (sampling.seed ?? randomSeed()) : undefined,
    repeatPenalty: hasPenalties(sampling)
      ? {
          punishTokens: punished,
          maxPunishTokens: window,
          penalty: sampling.repeatPenalty ?? 1,
          frequencyPenalty: sampling.frequencyPenalty ?? 0,
          presencePenalty: sampling.presencePenalty ?? 0,
        }
      : undefined,
    tokenBias: bias
      ? () => {
          const tokenBias = new TokenBias(model.model.tokenizer);
          for (const [token, logit] of bias) tokenBias.set(token as Token, { logit });
          return tokenBias;
        }
      : undefined,
  } satisfies NodeSampling;
}
