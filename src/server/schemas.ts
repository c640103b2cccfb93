/**
 * Request validation (zod) for the OpenAI-compatible endpoints. Every failure becomes a 400 whose
 * message names the field. Fields that do not change the output are accepted (fields.ts lists them);
 * fields that would change the output in ways this server does not implement, and unknown fields, are
 * rejected (a silently different answer would be worse than an error).
 */
import { z } from "zod";
import { ApiError, invalid, unsupported } from "./errors.js";
import { rejectUnknownFields } from "./fields.js";
import { MAX_TOP_LOGPROBS } from "./logprobs.js";
import { parseResponseFormat, type ResponseFormat } from "./structured.js";
import { parseToolCalls, parseTools, type ConversationMessage, type ToolRequest } from "./tools.js";

const MESSAGE_ROLES = ["system", "developer", "user", "assistant", "tool"] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

/**
 * Text content: a string or an array of `{type: "text", text}` parts (joined with `join`). Anything
 * else (images, audio, files) is named in the error.
 */
function textContent(join: string, nullable: boolean) {
  return z.unknown().transform((value, ctx): string => {
    if (typeof value === "string") return value;
    if (value == null && nullable) return "";
    if (Array.isArray(value)) {
      const texts: string[] = [];
      value.forEach((part: unknown, i) => {
        const record = part as { type?: unknown; text?: unknown } | null;
        if (typeof record !== "object" || record === null || Array.isArray(record)) {
          ctx.addIssue({ code: "custom", message: "expected a content part object {type: \"text\", text}", path: [i] });
        } else if (record.type !== "text") {
          ctx.addIssue({
            code: "custom",
            message: `only text content parts are supported, got type ${JSON.stringify(record.type)}`,
            path: [i, "type"],
          });
        } else if (typeof record.text !== "string") {
          ctx.addIssue({ code: "custom", message: "expected a string", path: [i, "text"] });
        } else texts.push(record.text);
      });
      return texts.join(join);
    }
    ctx.addIssue({
      code: "custom",
      message: value === undefined ? "missing: expected a string or an array of text parts" : `expected a string or an array of text parts, got ${describe(value)}`,
    });
    return "";
  });
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

const message = z.looseObject({
  role: z.enum(MESSAGE_ROLES, {
    error: (issue) =>
      issue.input === undefined
        ? "missing: every message needs a role"
        : `unknown role ${JSON.stringify(issue.input)}: use system, developer, user, assistant or tool (function messages are not supported: use tool messages)`,
  }),
  content: textContent("\n", true),
  name: z.string().nullish(),
  tool_calls: z.array(z.unknown()).nullish(),
  tool_call_id: z.string().nullish(),
  function_call: z.unknown().optional(),
});

const stop = z.union([z.string(), z.array(z.string())], { error: "expected a string or an array of strings" }).nullish();

const prediction = z.looseObject({
  type: z.literal("content", { error: 'only {type: "content"} predictions are supported' }),
  content: textContent("", false),
});

const llmaOptions = z.strictObject({
  conversation_references: z.boolean().optional(),
  prediction: z.boolean().optional(),
  references: z.boolean().optional(),
  output_references: z.boolean().optional(),
  /** Copy from cached answers to similar queries, and cache this answer (server started with --store). */
  cache: z.boolean().optional(),
  /** Answer cache namespace (default: the request's `user`, else "default"). */
  tenant: z.string().min(1).max(256).optional(),
  /** Retrieve the top passages from the document store (server started with --docs) as context and references. */
  retrieve: z.strictObject({ top: z.number().int().min(1).max(50).optional() }).optional(),
  /** Report every forward pass's draft and verdict (stream chunks and responses carry `llma.trace`). */
  trace: z.boolean().optional(),
});

const positiveInt = z.number().int().min(1);

/** Fields both endpoints share. */
const common = {
  model: z.string().nullish(),
  max_tokens: positiveInt.nullish(),
  stop,
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  seed: z.number().int().nullish(),
  n: z.number().int().min(1).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string().regex(/^\d+$/, "keys must be token ids"), z.number().min(-100).max(100)).nullish(),
  // llama-server / Ollama / vLLM sampler fields (node-llama-cpp's sampler has them too).
  /** 0 (llama.cpp, Ollama) or -1 (vLLM): no limit. */
  top_k: z.number().int().min(-1).nullish(),
  min_p: z.number().min(0).lt(1).nullish(),
  /** 1: off. */
  repeat_penalty: z.number().gt(0).nullish(),
  /** How many generated tokens the penalties look back over; 0: penalties off; -1: the whole output. */
  repeat_last_n: z.number().int().min(-1).nullish(),
  penalize_nl: z.boolean().nullish(),
  prediction: prediction.nullish(),
  references: z.array(z.string()).nullish(),
  llma: llmaOptions.nullish(),
};

const chatSchema = z.looseObject({
  ...common,
  messages: z.array(message).min(1, "expected at least one message"),
  max_completion_tokens: positiveInt.nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().nullish(),
  tools: z.array(z.unknown()).nullish(),
  functions: z.array(z.unknown()).nullish(),
  tool_choice: z.unknown().optional(),
  function_call: z.unknown().optional(),
  response_format: z.unknown().optional(),
  audio: z.unknown().optional(),
});

const completionSchema = z.looseObject({
  ...common,
  prompt: z.union([z.string(), z.array(z.string()).length(1)], {
    error: (issue) => (issue.input === undefined ? "missing: expected a string" : "expected a string (or an array of exactly one string)"),
  }),
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
  best_of: z.number().int().nullish(),
  logprobs: z.number().int().nullish(),
  response_format: z.unknown().optional(),
});

/** A chat message; assistant messages may carry tool calls, tool messages answer one (see tools.ts). */
export type ChatMessage = ConversationMessage;

/** What both endpoints ask of the generator, validated and with OpenAI's defaults resolved. */
export interface GenerationParams {
  /** Absent: as many as the context holds. */
  readonly maxTokens?: number;
  readonly stop: readonly string[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** Absent: the server's default. */
  readonly temperature?: number;
  readonly topP?: number;
  readonly seed?: number;
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  /** Token id -> logit bias. */
  readonly logitBias?: ReadonlyMap<number, number>;
  /** Keep the k most likely tokens (absent: no limit). */
  readonly topK?: number;
  /** Drop tokens less likely than minP times the most likely one (absent: none). */
  readonly minP?: number;
  /** llama.cpp's repeat penalty (absent or 1: off). */
  readonly repeatPenalty?: number;
  /** Generated tokens the penalties look back over (absent: the server's window; "all": the whole output). */
  readonly repeatLastN?: number | "all";
  /** Whether the penalties count the newline token (absent: true, as OpenAI's penalties do). */
  readonly penalizeNewline?: boolean;
  /** The predicted output (OpenAI Predicted Outputs), as text. */
  readonly prediction?: string;
  /** llma extension: reference texts to copy from. */
  readonly references: readonly string[];
  /** llma extension: per-request switches of the reference sources (undefined: server default). */
  readonly sources: {
    readonly conversation?: boolean;
    readonly prediction?: boolean;
    readonly references?: boolean;
    readonly output?: boolean;
    readonly cache?: boolean;
  };
  /** llma extension: the answer cache namespace (`llma.tenant`, else `user`). */
  readonly tenant?: string;
  /** llma extension: passages to retrieve as context (absent: no retrieval). */
  readonly retrieveTop?: number;
  /** llma extension: report every forward pass (`llma.trace`). */
  readonly trace: boolean;
}

export interface ChatRequest extends GenerationParams {
  readonly messages: readonly ChatMessage[];
  /** `tools` and `tool_choice` (absent: no tools). */
  readonly tools?: ToolRequest;
}

export interface CompletionRequest extends GenerationParams {
  readonly prompt: string;
}

/** What both endpoints may ask beyond plain text (served by constrained decoding, see constrained.ts and node-sampler.ts). */
export interface OutputOptions {
  /** Structured output (`response_format`). */
  readonly responseFormat: ResponseFormat;
  /** Alternatives per token when log probabilities are asked for (absent: none asked). */
  readonly topLogprobs?: number;
}

/** `top_logprobs` / completions' `logprobs`: an integer 0..20. */
function topLogprobsCount(value: number, param: string): number {
  if (value < 0 || value > MAX_TOP_LOGPROBS) throw invalid(param, `expected an integer from 0 to ${MAX_TOP_LOGPROBS}, got ${value}`);
  return value;
}

/** Zod issues -> one 400 that names the first problem's field (OpenAI style: `param` is its path). */
function toApiError(error: z.ZodError): ApiError {
  const issue = error.issues[0];
  const param = formatPath(issue.path);
  if (param === "") return new ApiError(400, `Invalid request body: ${issue.message}`, null, "invalid_request_body");
  const missing = /received undefined$/.test(issue.message) || issue.message.startsWith("missing");
  if (missing) {
    const detail = issue.message.startsWith("missing: ") ? ` (${issue.message.slice("missing: ".length)})` : "";
    return new ApiError(400, `Missing required parameter: '${param}'${detail}.`, param, "missing_required_parameter");
  }
  return new ApiError(400, `Invalid '${param}': ${issue.message}`, param, "invalid_value");
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  return out;
}

function parse<T>(schema: z.ZodObject & z.ZodType<T>, body: unknown): T {
  if (body === undefined || body === null || typeof body === "string")
    throw new ApiError(400, "Invalid request body: expected a JSON object sent with content-type: application/json", null, "invalid_request_body");
  if (typeof body === "object" && !Array.isArray(body)) rejectUnknownFields(body as Record<string, unknown>, new Set(Object.keys(schema.shape)));
  const result = schema.safeParse(body);
  if (!result.success) throw toApiError(result.error);
  return result.data;
}

function commonParams(body: z.infer<typeof chatSchema> | z.infer<typeof completionSchema>, maxTokens: number | null | undefined): GenerationParams {
  if (body.n != null && body.n !== 1) throw unsupported("n", `only n = 1 is supported, got ${body.n}: send ${body.n} requests (greedy decoding gives the same answer each time)`);
  const stops = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  stops.forEach((s, i) => {
    if (s.length === 0) throw new ApiError(400, `Invalid '${typeof body.stop === "string" ? "stop" : `stop[${i}]`}': stop strings must not be empty`, "stop", "invalid_value");
  });
  const logitBias = body.logit_bias ? new Map(Object.entries(body.logit_bias).map(([token, bias]) => [Number(token), bias] as const)) : undefined;
  const prediction = body.prediction?.content;
  return {
    maxTokens: maxTokens ?? undefined,
    stop: stops,
    stream: body.stream ?? false,
    includeUsage: body.stream_options?.include_usage ?? false,
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    seed: body.seed ?? undefined,
    frequencyPenalty: body.frequency_penalty ?? undefined,
    presencePenalty: body.presence_penalty ?? undefined,
    logitBias: logitBias && logitBias.size > 0 ? logitBias : undefined,
    // top_k 0 and -1 both mean no limit; the sampler's 0 does.
    topK: body.top_k == null || body.top_k <= 0 ? undefined : body.top_k,
    minP: body.min_p == null || body.min_p === 0 ? undefined : body.min_p,
    repeatPenalty: body.repeat_penalty == null || body.repeat_penalty === 1 ? undefined : body.repeat_penalty,
    repeatLastN: body.repeat_last_n == null ? undefined : body.repeat_last_n === -1 ? "all" : body.repeat_last_n,
    penalizeNewline: body.penalize_nl ?? undefined,
    prediction: prediction !== undefined && prediction.length > 0 ? prediction : undefined,
    references: body.references ?? [],
    sources: {
      conversation: body.llma?.conversation_references,
      prediction: body.llma?.prediction,
      references: body.llma?.references,
      output: body.llma?.output_references,
      cache: body.llma?.cache,
    },
    tenant: body.llma?.tenant ?? (typeof body.user === "string" && body.user.length > 0 && body.user.length <= 256 ? body.user : undefined),
    retrieveTop: body.llma?.retrieve ? (body.llma.retrieve.top ?? 5) : undefined,
    trace: body.llma?.trace ?? false,
  };
}

export function parseChatRequest(body: unknown): ChatRequest & OutputOptions {
  const parsed = parse(chatSchema, body);
  if (parsed.top_logprobs != null && !parsed.logprobs) throw invalid("top_logprobs", "top_logprobs needs logprobs: true");
  const topLogprobs = parsed.logprobs ? topLogprobsCount(parsed.top_logprobs ?? 0, "top_logprobs") : undefined;
  if (parsed.functions && parsed.functions.length > 0) throw unsupported("functions", "the deprecated functions field is not supported: send tools");
  if (parsed.function_call != null) throw unsupported("function_call", "the deprecated function_call field is not supported: send tool_choice");
  const tools = parseTools(parsed.tools, parsed.tool_choice);
  if (parsed.audio != null) throw unsupported("audio", "audio output is not supported");
  const messages = parsed.messages.map((m, i): ChatMessage => {
    if (m.function_call != null) throw unsupported(`messages[${i}].function_call`, "the deprecated function_call is not supported: send tool_calls");
    if (m.tool_calls != null && m.role !== "assistant") throw invalid(`messages[${i}].tool_calls`, "only assistant messages carry tool calls");
    if (m.role === "tool" && !m.tool_call_id) throw new ApiError(400, `Missing required parameter: 'messages[${i}].tool_call_id'.`, `messages[${i}].tool_call_id`, "missing_required_parameter");
    if (m.role !== "tool" && m.tool_call_id != null) throw invalid(`messages[${i}].tool_call_id`, "only tool messages answer a tool call");
    const toolCalls = m.tool_calls && m.tool_calls.length > 0 ? parseToolCalls(m.tool_calls, `messages[${i}].tool_calls`) : undefined;
    return { role: m.role, content: m.content, ...(toolCalls ? { toolCalls } : {}), ...(m.tool_call_id ? { toolCallId: m.tool_call_id } : {}) };
  });
  if (parsed.max_tokens != null && parsed.max_completion_tokens != null && parsed.max_tokens !== parsed.max_completion_tokens)
    throw new ApiError(400, "Invalid 'max_tokens': max_tokens and max_completion_tokens disagree; send one of them", "max_tokens", "invalid_value");
  return {
    ...commonParams(parsed, parsed.max_completion_tokens ?? parsed.max_tokens),
    messages,
    ...(tools ? { tools } : {}),
    responseFormat: parseResponseFormat(parsed.response_format),
    topLogprobs,
  };
}

export function parseCompletionRequest(body: unknown): CompletionRequest & OutputOptions {
  const parsed = parse(completionSchema, body);
  if (parsed.echo) throw unsupported("echo", "echoing the prompt is not supported");
  if (parsed.suffix) throw unsupported("suffix", "insertion (suffix) is not supported");
  if (parsed.best_of != null && parsed.best_of !== 1) throw unsupported("best_of", `only best_of = 1 is supported, got ${parsed.best_of}`);
  return {
    ...commonParams(parsed, parsed.max_tokens),
    prompt: typeof parsed.prompt === "string" ? parsed.prompt : parsed.prompt[0],
    responseFormat: parseResponseFormat(parsed.response_format),
    topLogprobs: parsed.logprobs != null ? topLogprobsCount(parsed.logprobs, "logprobs") : undefined,
  };
}

/** The top-level fields each endpoint's schema serves (every other one is text-neutral or rejected: fields.ts). */
export const SERVED_FIELDS: Readonly<Record<"chat" | "completion", readonly string[]>> = {
  chat: Object.keys(chatSchema.shape),
  completion: Object.keys(completionSchema.shape),
};
