/**
 * TypeScript types of the server's OpenAI extensions, for clients that use the official `openai`
 * package: request params with llma's `references` and `llma` fields, responses with the `llma` block.
 * Types only (nothing runs): `import type { ... } from "llma/openai"` needs the `openai` package's
 * types, which a client of the server has anyway.
 */
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from "openai/resources/chat/completions";
import type { Completion, CompletionCreateParamsNonStreaming, CompletionCreateParamsStreaming } from "openai/resources/completions";

/** The request's `llma` object: per-request switches of the reference sources and the store. */
export interface LlmaRequestOptions {
  /** Copy from the conversation's earlier messages (default: the server's setting). */
  conversation_references?: boolean;
  /** Copy from `prediction.content` (OpenAI Predicted Outputs). */
  prediction?: boolean;
  /** Copy from the request's `references`. */
  references?: boolean;
  /** Copy from the output so far. */
  output_references?: boolean;
  /** Copy from cached answers to similar queries, and cache this answer (server started with --store). */
  cache?: boolean;
  /** Answer cache namespace (default: the request's `user`, else "default"). */
  tenant?: string;
  /** Retrieve the top passages from the document store (server started with --docs) as context and references. */
  retrieve?: { top?: number };
}

/** The fields llma adds to both endpoints' requests. */
export interface LlmaRequestExtensions {
  /** Reference texts to copy from. */
  references?: string[] | null;
  llma?: LlmaRequestOptions | null;
}

export type LlmaChatCompletionCreateParamsNonStreaming = ChatCompletionCreateParamsNonStreaming & LlmaRequestExtensions;
export type LlmaChatCompletionCreateParamsStreaming = ChatCompletionCreateParamsStreaming & LlmaRequestExtensions;
/** OpenAI's chat completion params with llma's extensions. */
export type LlmaChatCompletionCreateParams = LlmaChatCompletionCreateParamsNonStreaming | LlmaChatCompletionCreateParamsStreaming;

export type LlmaCompletionCreateParamsNonStreaming = CompletionCreateParamsNonStreaming & LlmaRequestExtensions;
export type LlmaCompletionCreateParamsStreaming = CompletionCreateParamsStreaming & LlmaRequestExtensions;
/** OpenAI's (legacy) completion params with llma's extensions. */
export type LlmaCompletionCreateParams = LlmaCompletionCreateParamsNonStreaming | LlmaCompletionCreateParamsStreaming;

/** The `llma` block of a (non-streamed) response: what acceleration did (src/server/app.ts's stats()). */
export interface LlmaResponseInfo {
  /** Whether the request ran through llma's draft-and-verify loop (false: plain decoding). */
  accelerated: boolean;
  forward_passes: number;
  tokens_per_pass: number;
  drafted_tokens: number;
  accepted_tokens: number;
  /** The seed of a sampled request. */
  seed?: number;
  /** Whether the text is guaranteed identical to plain decoding (null: the model's exactness was not measured). */
  exact: boolean | null;
  /** Cached answers used as references (server with --store). */
  cached_references?: number;
  /** Passages retrieved (requests with `llma.retrieve`). */
  sources?: { source: string; score: number }[];
}

/** A chat completion from the llma server. */
export type LlmaChatCompletion = ChatCompletion & { llma: LlmaResponseInfo };
/** A completion from the llma server. */
export type LlmaCompletion = Completion & { llma: LlmaResponseInfo };
