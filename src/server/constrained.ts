/**
 * Plain (non-accelerated) decoding with node-llama-cpp's sampler for what llma's lossless loop does not
 * carry: a grammar (structured output, tool-call arguments) and per-token log probabilities. One token
 * per forward pass, the same sampler options as plain decoding (greedy, or temperature/top_p/seed with
 * OpenAI's whole-distribution defaults), so the text is plain decoding's under that grammar.
 *
 * Why not accelerated: a grammar masks the logits at every position with a state that advances through
 * the accepted tokens; verifying a draft losslessly would need that state per drafted position and a
 * rollback on rejection, which node-llama-cpp's batched evaluation (controlledEvaluate) does not take.
 * Log probabilities come here when the reply is sampled, streamed or under a grammar; a greedy,
 * non-streamed reply gets them after LLMA's decoding instead (see logprobs-pass.ts).
 */
import { LlamaGrammarEvaluationState, type LlamaGrammar, type Token } from "node-llama-cpp";
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import type { StopReason } from "../core/decoder.js";
import { outputIsExact, passWidthLimit } from "../core/exactness.js";
import type { TokenSequence } from "../core/model.js";
import { OutputText } from "../core/output-text.js";
import { ApiError } from "./errors.js";
import { finishReason, nodeSamplerOptions, type EngineRequest, type EngineResult } from "./engine.js";
import { tokenLogprob, type TokenLogprob } from "./logprobs.js";
import { grammarFor, type ResponseFormat } from "./structured.js";

export interface Constraints {
  /** Every generated token must keep the text inside this grammar (and generation ends when it is complete). */
  readonly grammar?: LlamaGrammar;
  /** Return each generated token's log probability and this many most likely alternatives (0 and up). */
  readonly topLogprobs?: number;
}

export async function runConstrained(model: LlamaCppModel, sequence: TokenSequence, request: EngineRequest, constraints: Constraints): Promise<EngineResult> {
  const { prompt, signal } = request;
  // Never past the context (node-llama-cpp would shift it, see LlamaCppModel): a forced tool call's
  // prompt is a few tokens longer than the one the request's limits were checked against.
  const room = model.contextSize - prompt.length;
  if (room < 1) throw new ApiError(400, `This model's maximum context length is ${model.contextSize} tokens, but the prompt takes ${prompt.length}, leaving no room for the completion.`, "messages", "context_length_exceeded");
  const maxTokens = Math.min(request.maxTokens, room);
  const sampling = request.sampling ?? { temperature: 0 };
  const inner = (sequence as { sequence?: import("node-llama-cpp").LlamaContextSequence }).sequence;
  if (!inner || typeof inner.evaluateWithMetadata !== "function") throw new Error("constrained decoding needs a node-llama-cpp sequence (LlamaCppModel)");
  // Reuse the KV cache of a shared prompt prefix (not on a model whose batched passes are inexact: see engine.ts).
  const cached = model.exactness?.exact === false ? 0 : Math.min(commonPrefixLength(sequence.tokens, prompt), prompt.length - 1);
  await sequence.truncate(cached);
  const text = new OutputText(model, request.stop, prompt);
  const generated: number[] = [];
  const logprobs: TokenLogprob[] | undefined = constraints.topLogprobs !== undefined ? [] : undefined;
  let stop: StopReason | undefined = signal.aborted ? "abort" : undefined;
  const samplerOptions = nodeSamplerOptions(model, sampling, generated, maxTokens);
  const grammarEvaluationState = constraints.grammar ? new LlamaGrammarEvaluationState({ model: model.model, grammar: constraints.grammar }) : undefined;
  /** Entries of the tokens whose text has not been streamed yet (they go out with the next piece). */
  let unsent = 0;
  const flush = (final: boolean) => {
    const piece = text.takeStreamable(final);
    const entries = logprobs && logprobs.length > unsent ? logprobs.slice(unsent) : undefined;
    if (piece.length > 0 || (final && entries)) {
      request.onText?.(piece, entries);
      unsent = logprobs?.length ?? 0;
    }
  };
  if (!stop) {
    const tokens = inner.evaluateWithMetadata(
      prompt.slice(cached) as Token[],
      { probabilities: logprobs !== undefined },
      {
        ...samplerOptions,
        yieldEogToken: true,
        grammarEvaluationState,
      },
    );
    for await (const next of tokens) {
      const token = next.token;
      if (model.isEndOfGeneration(token)) {
        stop = "eos";
        break;
      }
      if (logprobs) {
        const distribution = (next as { probabilities?: Map<Token, number> }).probabilities;
        if (!distribution) throw new Error("the backend returned no probabilities for a generated token");
        logprobs.push(tokenLogprob(model, token, distribution, constraints.topLogprobs ?? 0, generated.length >= 8 ? generated : [...prompt.slice(-8), ...generated]));
      }
      generated.push(token);
      if (text.push(token)) stop = "stop";
      else if (generated.length >= maxTokens) stop = generated.length >= room ? "context-full" : "max-tokens";
      flush(false);
      if (stop) break;
      if (signal.aborted) {
        stop = "abort";
        break;
      }
    }
    stop ??= "context-full";
  }
  flush(true);
  const exact = outputIsExact(model.exactness, 1, cached, passWidthLimit(model.exactness, request.exactness ?? "strict"));
  return {
    text: text.text,
    tokens: generated,
    finishReason: finishReason(stop),
    mode: "sampled",
    promptTokens: prompt.length,
    cachedPromptTokens: cached,
    completionTokens: generated.length,
    forwardPasses: generated.length + (stop === "eos" ? 1 : 0),
    draftedTokens: 0,
    acceptedTokens: 0,
    ...(samplerOptions.seed !== undefined ? { seed: samplerOptions.seed } : {}),
    ...(exact !== undefined ? { exact } : {}),
    ...(logprobs ? { logprobs } : {}),
  };
}

function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const limit = Math.min(a.length, b.length);
  let i = 0;
  while (i < limit && a[i] === b[i]) i++;
  return i;
}

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
