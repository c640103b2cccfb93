/**
 * The OpenAI Responses API (`POST /v1/responses`, what current SDKs call by default) on top of the chat
 * pipeline: a request is validated here and translated into a chat completions body (instructions as
 * the first system message, input items as messages, text.format as response_format), so it is served
 * by the same generation path as chat — accelerated with the `references`/`llma` extensions unless a
 * format, logprobs or a tool call needs constrained decoding. Function tools map to chat's tools,
 * `function_call` / `function_call_output` input items to assistant tool calls and tool messages, and
 * the reply's tool calls to `function_call` output items. Responses are not stored: `previous_response_id` (and
 * `conversation`) are rejected with a 400 rather than answered without the earlier turns.
 */
import { randomUUID } from "node:crypto";
import type { EngineResult } from "./engine.js";
import { ApiError, invalid, unsupported } from "./errors.js";
import type { TokenLogprob } from "./logprobs.js";
import type { ToolCall } from "./tools.js";
import { jsonSchemaFormat, parseResponseFormat } from "./structured.js";

/** Request fields this endpoint reads; any other is a 400 naming it. */
const FIELDS = new Set([
  "model",
  "input",
  "instructions",
  "max_output_tokens",
  "temperature",
  "top_p",
  "top_logprobs",
  "stream",
  "stream_options",
  "previous_response_id",
  "conversation",
  "store",
  "metadata",
  "user",
  "text",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "truncation",
  "reasoning",
  "include",
  "background",
  "service_tier",
  "prompt_cache_key",
  "safety_identifier",
  "references",
  "llma",
]);

const ROLES = new Set(["user", "assistant", "system", "developer"]);

/** What the response object repeats from the request. */
export interface ResponsesEcho {
  readonly instructions: string | null;
  readonly maxOutputTokens: number | null;
  readonly temperature: number | null;
  readonly topP: number | null;
  readonly metadata: Record<string, string>;
  readonly format: Record<string, unknown>;
  readonly topLogprobs: number | null;
  /** The request's tools and tool_choice as the response repeats them. */
  readonly tools: readonly unknown[];
  readonly toolChoice: unknown;
}

export interface TranslatedRequest {
  /** The equivalent /v1/chat/completions body. */
  readonly chat: Record<string, unknown>;
  readonly echo: ResponsesEcho;
}

/** Validates a Responses API body and translates it into a chat completions body. */
export function translateResponsesRequest(body: unknown): TranslatedRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new ApiError(400, "Invalid request body: expected a JSON object sent with content-type: application/json", null, "invalid_request_body");
  const request = body as Record<string, unknown>;
  for (const key of Object.keys(request))
    if (!FIELDS.has(key)) throw new ApiError(400, `Unrecognized request argument supplied: '${key}'`, key, "unknown_parameter");
  if (request.previous_response_id != null)
    throw unsupported("previous_response_id", "this server does not store responses; send the earlier turns in 'input' (as message items) instead");
  if (request.conversation != null) throw unsupported("conversation", "this server does not store conversations; send the earlier turns in 'input' instead");
  if (request.background) throw unsupported("background", "background responses are not supported (this server does not store responses)");
  const tools = request.tools == null ? [] : request.tools;
  if (!Array.isArray(tools)) throw invalid("tools", "expected an array of function tools");
  const chatTools = tools.map((tool: unknown, i) => {
    const t = tool as Record<string, unknown> | null;
    if (typeof t !== "object" || t === null) throw invalid(`tools[${i}]`, "expected an object {type: \"function\", name, parameters}");
    if (t.type !== "function") throw unsupported(`tools[${i}].type`, `only function tools are supported, got ${JSON.stringify(t.type)}`);
    for (const key of Object.keys(t))
      if (!["type", "name", "description", "parameters", "strict"].includes(key)) throw new ApiError(400, `Unrecognized argument supplied: 'tools[${i}].${key}'`, `tools[${i}].${key}`, "unknown_parameter");
    const { type: _type, ...fn } = t;
    return { type: "function", function: fn };
  });
  const toolChoice = request.tool_choice;
  let chatToolChoice: unknown = toolChoice;
  if (typeof toolChoice === "object" && toolChoice !== null && !Array.isArray(toolChoice)) {
    const choice = toolChoice as { type?: unknown; name?: unknown };
    if (choice.type !== "function") throw unsupported("tool_choice.type", `only function tool choices are supported, got ${JSON.stringify(choice.type)}`);
    chatToolChoice = { type: "function", function: { name: choice.name } };
  }
  if (request.reasoning != null) throw unsupported("reasoning", "reasoning options are not supported (the model's output is returned as text)");
  if (request.truncation != null && request.truncation !== "disabled")
    throw unsupported("truncation", `only "disabled" is supported (a prompt too long for the context is a 400), got ${JSON.stringify(request.truncation)}`);
  if (request.include != null && (!Array.isArray(request.include) || request.include.length > 0))
    throw unsupported("include", "no additional output data is available here");
  if (request.metadata != null && (typeof request.metadata !== "object" || Array.isArray(request.metadata))) throw invalid("metadata", "expected an object of strings");
  if (request.stream_options != null) throw unsupported("stream_options", "no stream options are supported");

  const maxOutputTokens = request.max_output_tokens;
  if (maxOutputTokens != null && (typeof maxOutputTokens !== "number" || !Number.isInteger(maxOutputTokens) || maxOutputTokens < 1))
    throw invalid("max_output_tokens", `expected an integer >= 1, got ${JSON.stringify(maxOutputTokens)}`);
  const messages: Record<string, unknown>[] = [];
  const instructions = request.instructions ?? null;
  if (instructions !== null) {
    if (typeof instructions !== "string") throw invalid("instructions", "expected a string");
    messages.push({ role: "system", content: instructions });
  }
  const input = request.input;
  if (input === undefined) throw new ApiError(400, "Missing required parameter: 'input'.", "input", "missing_required_parameter");
  if (typeof input === "string") messages.push({ role: "user", content: input });
  else if (Array.isArray(input)) {
    input.forEach((item, i) => addInputItem(messages, item, `input[${i}]`));
    checkCallOutputs(input);
  }
  else throw invalid("input", "expected a string or an array of message items");
  if (messages.length === 0) throw invalid("input", "expected at least one message item");

  const format = textFormat(request.text);
  const topLogprobs = request.top_logprobs ?? null;
  if (topLogprobs !== null && (typeof topLogprobs !== "number" || !Number.isInteger(topLogprobs))) throw invalid("top_logprobs", "expected an integer from 0 to 20");
  const chat: Record<string, unknown> = {
    messages,
    max_tokens: request.max_output_tokens,
    temperature: request.temperature,
    top_p: request.top_p,
    stream: request.stream,
    user: request.user,
    references: request.references,
    llma: request.llma,
    response_format: format.chat,
    ...(chatTools.length > 0 ? { tools: chatTools } : {}),
    ...(toolChoice != null ? { tool_choice: chatToolChoice } : {}),
    ...(topLogprobs !== null ? { logprobs: true, top_logprobs: topLogprobs } : {}),
  };
  return {
    chat,
    echo: {
      instructions: instructions as string | null,
      maxOutputTokens: (request.max_output_tokens as number | undefined) ?? null,
      temperature: (request.temperature as number | undefined) ?? null,
      topP: (request.top_p as number | undefined) ?? null,
      metadata: (request.metadata as Record<string, string> | undefined) ?? {},
      format: format.echo,
      topLogprobs: topLogprobs as number | null,
      tools,
      toolChoice: toolChoice ?? (tools.length > 0 ? "auto" : "none"),
    },
  };
}

/**
 * One input item as chat messages: a message, a `function_call` (an assistant tool call; consecutive
 * calls join one assistant message) or a `function_call_output` (a tool message answering one).
 */
function addInputItem(messages: Record<string, unknown>[], item: unknown, param: string): void {
  if (typeof item !== "object" || item === null || Array.isArray(item)) throw invalid(param, "expected an item {role, content} or {type: \"function_call\" | \"function_call_output\"}");
  const record = item as Record<string, unknown>;
  const only = (allowed: string[]) => {
    for (const key of Object.keys(record))
      if (!allowed.includes(key)) throw new ApiError(400, `Unrecognized argument supplied: '${param}.${key}'`, `${param}.${key}`, "unknown_parameter");
  };
  const text = (key: string) => {
    if (typeof record[key] !== "string") throw invalid(`${param}.${key}`, "expected a string");
    return record[key] as string;
  };
  if (record.type === "function_call") {
    only(["type", "id", "call_id", "name", "arguments", "status"]);
    const call = { id: text("call_id"), type: "function", function: { name: text("name"), arguments: text("arguments") } };
    const last = messages.at(-1);
    if (last && last.role === "assistant" && Array.isArray(last.tool_calls)) (last.tool_calls as unknown[]).push(call);
    else messages.push({ role: "assistant", content: null, tool_calls: [call] });
    return;
  }
  if (record.type === "function_call_output") {
    only(["type", "id", "call_id", "output", "status"]);
    messages.push({ role: "tool", tool_call_id: text("call_id"), content: text("output") });
    return;
  }
  messages.push(inputMessage(record, param));
}

/** Every function_call item needs a function_call_output after it, and every output answers an earlier call (named by input index). */
function checkCallOutputs(input: readonly unknown[]): void {
  const open = new Map<string, number>();
  input.forEach((item, i) => {
    const record = item as { type?: unknown; call_id?: unknown };
    if (record.type === "function_call") open.set(record.call_id as string, i);
    else if (record.type === "function_call_output") {
      if (!open.has(record.call_id as string)) throw invalid(`input[${i}].call_id`, `${JSON.stringify(record.call_id)} answers no function_call item before it`);
      open.delete(record.call_id as string);
    }
  });
  for (const [id, i] of open) throw invalid(`input[${i}]`, `the function call ${JSON.stringify(id)} has no function_call_output item answering it`);
}

/** A message item: `{role, content}` (type "message" or none) with a string or input_text/output_text parts. */
function inputMessage(record: Record<string, unknown>, param: string): Record<string, unknown> {
  if (record.type !== undefined && record.type !== "message")
    throw unsupported(`${param}.type`, `only message, function_call and function_call_output items are supported, got ${JSON.stringify(record.type)}`);
  for (const key of Object.keys(record))
    if (!["type", "role", "content", "id", "status"].includes(key)) throw new ApiError(400, `Unrecognized argument supplied: '${param}.${key}'`, `${param}.${key}`, "unknown_parameter");
  if (typeof record.role !== "string" || !ROLES.has(record.role)) throw invalid(`${param}.role`, `expected user, assistant, system or developer, got ${JSON.stringify(record.role)}`);
  const content = record.content;
  if (typeof content === "string") return { role: record.role, content };
  if (!Array.isArray(content)) throw invalid(`${param}.content`, "expected a string or an array of input_text parts");
  const texts = content.map((part: unknown, j) => {
    const p = part as { type?: unknown; text?: unknown } | null;
    if (typeof p !== "object" || p === null) throw invalid(`${param}.content[${j}]`, "expected a content part {type: \"input_text\", text}");
    if (p.type !== "input_text" && p.type !== "output_text")
      throw unsupported(`${param}.content[${j}].type`, `only input_text (and output_text in assistant turns) parts are supported, got ${JSON.stringify(p.type)}`);
    if (typeof p.text !== "string") throw invalid(`${param}.content[${j}].text`, "expected a string");
    return { type: "text", text: p.text };
  });
  return { role: record.role, content: texts };
}

/** `text.format` -> the chat body's response_format, and the format the response repeats. */
function textFormat(text: unknown): { chat: unknown; echo: Record<string, unknown> } {
  if (text == null) return { chat: undefined, echo: { type: "text" } };
  if (typeof text !== "object" || Array.isArray(text)) throw invalid("text", "expected an object {format}");
  const record = text as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (key !== "format") throw new ApiError(400, `Unrecognized request argument supplied: 'text.${key}'`, `text.${key}`, "unknown_parameter");
  const format = record.format;
  if (format == null) return { chat: undefined, echo: { type: "text" } };
  if (typeof format !== "object" || Array.isArray(format)) throw invalid("text.format", "expected an object {type}");
  const spec = format as Record<string, unknown>;
  if (spec.type === "json_schema") {
    const { type: _type, ...rest } = spec;
    jsonSchemaFormat(rest, "text.format"); // named errors under text.format
    return { chat: { type: "json_schema", json_schema: { name: rest.name, schema: rest.schema, strict: rest.strict } }, echo: spec };
  }
  parseResponseFormat(spec, "text.format");
  return { chat: spec, echo: spec };
}

export function responseId(): string {
  return `resp_${randomUUID().replace(/-/g, "")}`;
}

export function messageId(): string {
  return `msg_${randomUUID().replace(/-/g, "")}`;
}

type Status = "in_progress" | "completed" | "incomplete";

function outputText(text: string, logprobs: readonly TokenLogprob[] | undefined) {
  return {
    type: "output_text",
    text,
    annotations: [],
    logprobs: (logprobs ?? []).map((e) => ({
      token: e.token,
      logprob: e.logprob,
      bytes: [...Buffer.from(e.token, "utf8")],
      top_logprobs: e.top.map((a) => ({ token: a.token, logprob: a.logprob, bytes: [...Buffer.from(a.token, "utf8")] })),
    })),
  };
}

export function messageItem(id: string, status: Status, text: string | undefined, logprobs?: readonly TokenLogprob[]) {
  return { type: "message", id, status, role: "assistant", content: text === undefined ? [] : [outputText(text, logprobs)] };
}

/** A tool call as a `function_call` output item (its id "fc_...", the call's id as call_id). */
export function functionCallItem(call: ToolCall, status: Status) {
  return { type: "function_call", id: `fc_${call.id.replace(/^call_/, "")}`, call_id: call.id, name: call.name, arguments: call.arguments, status };
}

/** The output items of a finished reply: the message (unless the reply is only tool calls), then the calls. */
function outputItems(parts: ResponseParts, result: EngineResult, status: Status) {
  const calls = result.toolCalls ?? [];
  const items: Record<string, unknown>[] = [];
  if (calls.length === 0 || result.text !== "") items.push(messageItem(parts.messageId, status === "incomplete" ? "incomplete" : "completed", result.text, result.logprobs));
  for (const call of calls) items.push(functionCallItem(call, "completed"));
  return items;
}

export interface ResponseParts {
  readonly id: string;
  readonly messageId: string;
  readonly createdAt: number;
  readonly model: string;
  readonly echo: ResponsesEcho;
}

/** The response object: in progress (no result yet) or finished. `llma` carries the generation's numbers. */
export function responseObject(parts: ResponseParts, result?: EngineResult, llma?: Record<string, unknown>) {
  const status: Status = !result ? "in_progress" : result.finishReason === "length" ? "incomplete" : "completed";
  const text = result?.text;
  return {
    id: parts.id,
    object: "response",
    created_at: parts.createdAt,
    status,
    ...(result ? { completed_at: Math.floor(Date.now() / 1000) } : {}),
    error: null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: parts.echo.instructions,
    max_output_tokens: parts.echo.maxOutputTokens,
    metadata: parts.echo.metadata,
    model: parts.model,
    output: result ? outputItems(parts, result, status) : [],
    ...(result ? { output_text: text } : {}),
    parallel_tool_calls: false,
    previous_response_id: null,
    reasoning: null,
    store: false,
    temperature: parts.echo.temperature,
    text: { format: parts.echo.format },
    tool_choice: parts.echo.toolChoice,
    tools: parts.echo.tools,
    top_logprobs: parts.echo.topLogprobs,
    top_p: parts.echo.topP,
    truncation: "disabled",
    usage: result
      ? {
          input_tokens: result.promptTokens,
          input_tokens_details: { cached_tokens: result.cachedPromptTokens },
          output_tokens: result.completionTokens,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: result.promptTokens + result.completionTokens,
        }
      : null,
    ...(llma ? { llma } : {}),
  };
}

/**
 * The Responses streaming events of one message reply, as server-sent events (`event:` + `data:`,
 * with a growing sequence_number): created, in_progress, output_item.added, content_part.added, then
 * output_text.delta per piece of text, then output_text.done, content_part.done, output_item.done and
 * completed (or incomplete when max_output_tokens cut the text).
 */
export class ResponsesEventStream {
  private sequence = 0;
  /** Whether the message item has been announced (at the first text, or at the end of a text reply). */
  private messageOpen = false;

  constructor(
    private readonly parts: ResponseParts,
    private readonly write: (chunk: string) => void,
  ) {}

  private event(type: string, data: Record<string, unknown>): void {
    this.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.sequence++, ...data })}\n\n`);
  }

  start(): void {
    const response = responseObject(this.parts);
    this.event("response.created", { response });
    this.event("response.in_progress", { response });
  }

  private openMessage(): void {
    if (this.messageOpen) return;
    this.messageOpen = true;
    this.event("response.output_item.added", { output_index: 0, item: messageItem(this.parts.messageId, "in_progress", undefined) });
    this.event("response.content_part.added", { item_id: this.parts.messageId, output_index: 0, content_index: 0, part: outputText("", undefined) });
  }

  delta(text: string): void {
    if (text === "") return;
    this.openMessage();
    this.event("response.output_text.delta", { item_id: this.parts.messageId, output_index: 0, content_index: 0, delta: text, logprobs: [] });
  }

  finish(result: EngineResult, llma: Record<string, unknown>): void {
    const response = responseObject(this.parts, result, llma);
    const calls = result.toolCalls ?? [];
    if (calls.length === 0) this.openMessage();
    let index = 0;
    if (this.messageOpen) {
      const item = response.output[0] as ReturnType<typeof messageItem>;
      this.event("response.output_text.done", { item_id: this.parts.messageId, output_index: 0, content_index: 0, text: result.text, logprobs: [] });
      this.event("response.content_part.done", { item_id: this.parts.messageId, output_index: 0, content_index: 0, part: item.content[0] });
      this.event("response.output_item.done", { output_index: 0, item });
      index = 1;
    }
    for (const call of calls) {
      const item = functionCallItem(call, "completed");
      this.event("response.output_item.added", { output_index: index, item: { ...item, arguments: "", status: "in_progress" } });
      this.event("response.function_call_arguments.delta", { item_id: item.id, output_index: index, delta: call.arguments });
      this.event("response.function_call_arguments.done", { item_id: item.id, output_index: index, name: call.name, arguments: call.arguments });
      this.event("response.output_item.done", { output_index: index, item });
      index++;
    }
    this.event(response.status === "incomplete" ? "response.incomplete" : "response.completed", { response });
  }

  /** A failed generation: the `error` event, then `response.failed`. */
  fail(error: ApiError): void {
    this.event("error", { code: error.code, message: error.message, param: error.param });
    this.event("response.failed", { response: { ...responseObject(this.parts), status: "failed", error: { code: error.code ?? "server_error", message: error.message } } });
  }
}
