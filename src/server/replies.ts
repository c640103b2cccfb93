/**
 * The objects /v1/chat/completions and /v1/completions answer with: the whole response, the stream's
 * chunks, OpenAI's usage block and llma's own numbers. Chat and completions differ only in their
 * object names and in what a choice holds (a message or a delta, or text), so both are built by the
 * same functions; the Responses API has its own shapes (responses.ts).
 */
import type { EngineResult } from "./engine.js";
import { chatLogprobs, completionLogprobs } from "./logprobs.js";
import type { TokenLogprob } from "./logprobs.js";

export type CompletionEndpoint = "chat" | "completion";

/** What every object of one response carries. */
export interface ReplyIds {
  readonly id: string;
  readonly createdAt: number;
  readonly model: string;
}

/** The response's `object`, and its chunks'. */
const OBJECT_NAMES: Record<CompletionEndpoint, { readonly response: string; readonly chunk: string }> = {
  chat: { response: "chat.completion", chunk: "chat.completion.chunk" },
  completion: { response: "text_completion", chunk: "text_completion" },
};

export function finishReason(result: EngineResult): "stop" | "length" | "tool_calls" {
  if (result.toolCalls && result.toolCalls.length > 0) return "tool_calls";
  return result.finishReason === "length" ? "length" : "stop";
}

export function toolCallsField(result: EngineResult) {
  return (result.toolCalls ?? []).map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } }));
}

/** The assistant message of a chat reply: its text, or its tool calls (content null, as OpenAI sends it). */
function chatMessage(result: EngineResult) {
  if (result.toolCalls && result.toolCalls.length > 0)
    return { role: "assistant", content: result.text === "" ? null : result.text, refusal: null, tool_calls: toolCallsField(result) };
  return { role: "assistant", content: result.partialToolCall ? null : result.text, refusal: null };
}

/** OpenAI's usage block; prediction counts are llma's drafted tokens accepted/rejected by verification. */
export function usage(result: EngineResult) {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
    total_tokens: result.promptTokens + result.completionTokens,
    prompt_tokens_details: { cached_tokens: result.cachedPromptTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: result.acceptedTokens,
      rejected_prediction_tokens: result.draftedTokens - result.acceptedTokens,
    },
  };
}

/** llma's own numbers (an extra response field OpenAI clients ignore). */
export function stats(result: EngineResult) {
  return {
    accelerated: result.mode === "accelerated",
    forward_passes: result.forwardPasses,
    tokens_per_pass: result.forwardPasses > 0 ? Math.round((result.completionTokens / result.forwardPasses) * 1000) / 1000 : 0,
    drafted_tokens: result.draftedTokens,
    accepted_tokens: result.acceptedTokens,
    ...(result.seed !== undefined ? { seed: result.seed } : {}),
    // Whether the text is guaranteed identical to plain decoding (null: the model's exactness was not measured).
    exact: result.exact ?? null,
  };
}

/** A whole (not streamed) response; `info` is llma's extra fields of the request (sources, cached references, trace). */
export function completionObject(endpoint: CompletionEndpoint, ids: ReplyIds, result: EngineResult, info: object) {
  const choice =
    endpoint === "chat"
      ? { index: 0, message: chatMessage(result), logprobs: result.logprobs ? chatLogprobs(result.logprobs) : null, finish_reason: finishReason(result) }
      : { index: 0, text: result.text, logprobs: result.logprobs ? completionLogprobs(result.logprobs) : null, finish_reason: finishReason(result) };
  return {
    id: ids.id,
    object: OBJECT_NAMES[endpoint].response,
    created: ids.createdAt,
    model: ids.model,
    choices: [choice],
    usage: usage(result),
    llma: { ...stats(result), ...info, ...(endpoint === "chat" && result.partialToolCall ? { partial_tool_call: result.partialToolCall } : {}) },
  };
}

/**
 * The chunks of one streamed response. `extra` adds fields to every chunk that has a choice (the
 * `usage: null` of include_usage, the trace entries recorded since the last chunk).
 */
export class CompletionChunks {
  constructor(
    private readonly endpoint: CompletionEndpoint,
    private readonly ids: ReplyIds,
    private readonly extra: () => object = () => ({}),
  ) {}

  /** The chunk that opens a chat stream (the assistant's role); completions have none. */
  opening(): object | undefined {
    return this.endpoint === "chat" ? this.chunk({ delta: { role: "assistant", content: "" } }) : undefined;
  }

  /** A piece of text, with the log probabilities of its tokens when the request asked for them. */
  text(text: string, logprobs?: readonly TokenLogprob[], textOffset = 0): object {
    if (this.endpoint === "chat") return this.chunk({ delta: { content: text }, ...(logprobs ? { logprobs: chatLogprobs(logprobs) } : {}) });
    return this.chunk({ text, ...(logprobs ? { logprobs: completionLogprobs(logprobs, textOffset) } : {}) });
  }

  /** The tool calls of a chat reply, all in one chunk. */
  toolCalls(result: EngineResult): object {
    return this.chunk({ delta: { tool_calls: toolCallsField(result).map((call, index) => ({ index, ...call })) } });
  }

  /** The last chunk with a choice: its finish reason. */
  finish(result: EngineResult): object {
    return this.chunk(this.endpoint === "chat" ? { delta: {}, finish_reason: finishReason(result) } : { text: "", finish_reason: result.finishReason });
  }

  /** include_usage's closing chunk: no choice, the usage block. */
  usage(result: EngineResult): object {
    return { ...this.head(), choices: [], usage: usage(result) };
  }

  private head() {
    return { id: this.ids.id, object: OBJECT_NAMES[this.endpoint].chunk, created: this.ids.createdAt, model: this.ids.model };
  }

  private chunk(choice: Record<string, unknown>): object {
    return { ...this.head(), choices: [{ index: 0, logprobs: null, finish_reason: null, ...choice }], ...this.extra() };
  }
}
