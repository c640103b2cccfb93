/**
 * What one request to the engine is and what it returns, with the rules read off a request alone
 * (which sampler it needs, how a decoder's stop becomes a finish reason): the types the engine and its
 * three paths (node-sampler.ts, constrained.ts, tools.ts) share. They live apart from those modules so
 * that each path depends on this one and none on another's (no import cycle).
 */
import type { GbnfJsonSchema, LlamaGrammar } from "node-llama-cpp";
import type { ChatRenderer } from "../backends/chat-template.js";
import type { DecodeStep, StopReason } from "../core/decoder.js";
import type { ExactnessMode } from "../core/exactness.js";
import type { PolicyName } from "../core/request.js";
import type { TokenLogprob } from "./logprobs.js";
import type { GenerationMode } from "./metrics.js";

export interface Constraints {
  /** Every generated token must keep the text inside this grammar (and generation ends when it is complete). */
  readonly grammar?: LlamaGrammar;
  /** Return each generated token's log probability and this many most likely alternatives (0 and up). */
  readonly topLogprobs?: number;
}

export interface ToolDefinition {
  readonly name: string;
  readonly description?: string;
  /** JSON Schema of the arguments (checked against what the grammar expresses). */
  readonly parameters: GbnfJsonSchema;
}

export type ToolChoice = "none" | "auto" | "required" | { readonly name: string };

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  /** The arguments as a JSON string (OpenAI's shape). */
  readonly arguments: string;
}

/** The tools a request offers and how it wants them used (absent: no tools). */
export interface ToolRequest {
  readonly tools: readonly ToolDefinition[];
  readonly choice: ToolChoice;
}

/** A message of the conversation as the chat template sees it (tool calls and their results included). */
export interface ConversationMessage {
  readonly role: "system" | "developer" | "user" | "assistant" | "tool";
  readonly content: string;
  readonly toolCalls?: readonly ToolCall[];
  readonly toolCallId?: string;
}

/** How a request with tools is decoded (see the module comment). */
export interface ToolRun {
  readonly renderer: ChatRenderer;
  readonly messages: readonly ConversationMessage[];
  readonly request: ToolRequest;
}

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
