/**
 * Tool calling (`tools`, `tool_choice`, assistant `tool_calls`, `role: "tool"` results) through
 * node-llama-cpp's function calling, in the GGUF's chat wrapper's own call syntax
 * (`wrapper.settings.functions`: e.g. `||call: name(` params `)` for the generic wrapper).
 *
 * - `tool_choice: "none"` (or no tools): the tools are documented in the prompt as the wrapper does it
 *   and the reply is decoded as text by the usual path — accelerated.
 * - A named function or `"required"`: the call is forced. The prompt ends with the wrapper's call prefix
 *   (and the name, when one is named; with "required" and several tools a grammar picks the name), then
 *   the arguments are decoded under the JSON-schema grammar of the function's parameters (constrained
 *   plain decoding, see node-sampler.ts). One call per reply.
 * - `"auto"`: node-llama-cpp's LlamaChat decides (text, or calls it detects by the wrapper's syntax and
 *   then constrains by grammar); plain decoding, not accelerated.
 *
 * When max_tokens runs out inside the arguments, the reply has finish_reason "length", no tool_calls
 * (the arguments would not parse) and the partial call in `llma.partial_tool_call`.
 */
import { randomUUID } from "node:crypto";
import { LlamaChat, LlamaText, type ChatHistoryItem, type ChatModelFunctions, type ChatModelResponse, type GbnfJsonSchema } from "node-llama-cpp";
import { llamaCppSequence, type LlamaCppModel } from "../backends/llama-cpp.js";
import type { TokenSequence } from "../core/model.js";
import type { ChatRenderer } from "../backends/chat-template.js";
import type { ConversationMessage, EngineRequest, EngineResult, ToolCall, ToolChoice, ToolDefinition, ToolRequest, ToolRun } from "./engine-types.js";

export type { ConversationMessage, ToolCall, ToolChoice, ToolDefinition, ToolRequest, ToolRun } from "./engine-types.js";
import { ApiError, invalid, unsupported } from "./errors.js";
import { runNodeSampler } from "./node-sampler.js";
import { checkGrammarSchema } from "./structured.js";

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** A function without `parameters` takes none: its arguments are `{}`. */
const NO_PARAMETERS = { type: "object", properties: {}, additionalProperties: false } as const;

/** Validates `tools` and `tool_choice` (absent tools: undefined; tool_choice without tools is a 400 unless "none"). */
export function parseTools(tools: unknown, toolChoice: unknown): ToolRequest | undefined {
  if (tools == null || (Array.isArray(tools) && tools.length === 0)) {
    if (toolChoice != null && toolChoice !== "none" && toolChoice !== "auto") throw invalid("tool_choice", "a tool_choice other than \"none\" or \"auto\" needs tools");
    return undefined;
  }
  if (!Array.isArray(tools)) throw invalid("tools", "expected an array of {type: \"function\", function: {name, description, parameters}}");
  const definitions = tools.map((tool: unknown, i): ToolDefinition => {
    const at = `tools[${i}]`;
    const record = tool as Record<string, unknown> | null;
    if (typeof record !== "object" || record === null || Array.isArray(record)) throw invalid(at, "expected an object {type: \"function\", function}");
    if (record.type !== "function") throw unsupported(`${at}.type`, `only function tools are supported, got ${JSON.stringify(record.type)}`);
    const fn = record.function as Record<string, unknown> | null | undefined;
    if (typeof fn !== "object" || fn === null || Array.isArray(fn)) throw new ApiError(400, `Missing required parameter: '${at}.function'.`, `${at}.function`, "missing_required_parameter");
    for (const key of Object.keys(fn))
      if (!["name", "description", "parameters", "strict"].includes(key)) throw new ApiError(400, `Unrecognized argument supplied: '${at}.function.${key}'`, `${at}.function.${key}`, "unknown_parameter");
    if (typeof fn.name !== "string" || !NAME.test(fn.name)) throw invalid(`${at}.function.name`, "expected a name of 1-64 letters, digits, underscores or dashes");
    if (fn.description != null && typeof fn.description !== "string") throw invalid(`${at}.function.description`, "expected a string");
    if (fn.strict != null && typeof fn.strict !== "boolean") throw invalid(`${at}.function.strict`, "expected a boolean");
    const parameters = fn.parameters ?? NO_PARAMETERS;
    checkGrammarSchema(parameters, `${at}.function.parameters`);
    if ((parameters as { type?: unknown }).type !== "object") throw invalid(`${at}.function.parameters`, "the parameters schema must be of type object");
    return { name: fn.name, ...(typeof fn.description === "string" ? { description: fn.description } : {}), parameters: parameters as GbnfJsonSchema };
  });
  const names = new Set<string>();
  definitions.forEach((d, i) => {
    if (names.has(d.name)) throw invalid(`tools[${i}].function.name`, `the name ${JSON.stringify(d.name)} is used by two tools`);
    names.add(d.name);
  });
  return { tools: definitions, choice: parseToolChoice(toolChoice, names) };
}

function parseToolChoice(value: unknown, names: ReadonlySet<string>): ToolChoice {
  if (value == null) return "auto";
  if (value === "none" || value === "auto" || value === "required") return value;
  if (typeof value === "object" && !Array.isArray(value)) {
    const record = value as { type?: unknown; function?: { name?: unknown } };
    if (record.type !== "function") throw invalid("tool_choice.type", `expected "function", got ${JSON.stringify(record.type)}`);
    const name = record.function?.name;
    if (typeof name !== "string") throw new ApiError(400, "Missing required parameter: 'tool_choice.function.name'.", "tool_choice.function.name", "missing_required_parameter");
    if (!names.has(name)) throw invalid("tool_choice.function.name", `no tool is named ${JSON.stringify(name)} (tools: ${[...names].join(", ")})`);
    return { name };
  }
  throw invalid("tool_choice", `expected "none", "auto", "required" or {type: "function", function: {name}}, got ${JSON.stringify(value)}`);
}

/** An assistant message's `tool_calls`: `[{id, type: "function", function: {name, arguments}}]` with JSON arguments. */
export function parseToolCalls(value: unknown, param: string): ToolCall[] {
  if (!Array.isArray(value)) throw invalid(param, "expected an array of tool calls");
  return value.map((call: unknown, i): ToolCall => {
    const at = `${param}[${i}]`;
    const record = call as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } } | null;
    if (typeof record !== "object" || record === null) throw invalid(at, "expected {id, type: \"function\", function: {name, arguments}}");
    if (typeof record.id !== "string" || record.id === "") throw invalid(`${at}.id`, "expected a non-empty string");
    if (record.type !== "function") throw unsupported(`${at}.type`, `only function calls are supported, got ${JSON.stringify(record.type)}`);
    const name = record.function?.name;
    const args = record.function?.arguments;
    if (typeof name !== "string" || name === "") throw invalid(`${at}.function.name`, "expected a non-empty string");
    if (typeof args !== "string") throw invalid(`${at}.function.arguments`, "expected the arguments as a JSON string");
    try {
      JSON.parse(args);
    } catch (error) {
      throw invalid(`${at}.function.arguments`, `not valid JSON: ${(error as Error).message}`);
    }
    return { id: record.id, name, arguments: args };
  });
}

/**
 * Messages -> node-llama-cpp's chat history: an assistant message's tool calls become function-call
 * items holding the results of the tool messages that answer them (every call needs one, every tool
 * message must answer a call of the assistant message before it), so the wrapper renders them in its
 * own syntax. The open assistant turn is added at the end.
 */
export function toChatHistory(messages: readonly ConversationMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  /** Calls of the latest assistant message still waiting for their result, by id. */
  let pending = new Map<string, { item: { result: unknown }; index: string }>();
  const checkAnswered = () => {
    for (const [id, { index }] of pending) throw invalid(`${index}`, `the tool call ${JSON.stringify(id)} has no tool message answering it (send one with tool_call_id ${JSON.stringify(id)})`);
  };
  messages.forEach((message, i) => {
    if (message.role === "tool") {
      const waiting = message.toolCallId !== undefined ? pending.get(message.toolCallId) : undefined;
      if (!waiting) throw invalid(`messages[${i}].tool_call_id`, `${JSON.stringify(message.toolCallId)} answers no tool call of the assistant message before it`);
      waiting.item.result = parseResult(message.content);
      pending.delete(message.toolCallId!);
      return;
    }
    checkAnswered();
    switch (message.role) {
      case "system":
      case "developer":
        history.push({ type: "system", text: message.content });
        return;
      case "user":
        history.push({ type: "user", text: message.content });
        return;
      case "assistant": {
        const response: ChatModelResponse["response"] = message.content !== "" ? [message.content] : [];
        pending = new Map();
        (message.toolCalls ?? []).forEach((call, j) => {
          const item = { type: "functionCall" as const, name: call.name, params: JSON.parse(call.arguments) as unknown, result: undefined as unknown, startsNewChunk: j === 0 };
          response.push(item);
          pending.set(call.id, { item, index: `messages[${i}].tool_calls[${j}]` });
        });
        history.push({ type: "model", response });
      }
    }
  });
  checkAnswered();
  history.push({ type: "model", response: [] });
  return history;
}

/** A tool's result as the template gets it: the JSON value when the content is JSON, else the text. */
function parseResult(content: string): unknown {
  try {
    return JSON.parse(content);
  } catch {
    return content;
  }
}

/** The tools as node-llama-cpp's function definitions. */
export function functionsOf(tools: readonly ToolDefinition[]): ChatModelFunctions {
  return Object.fromEntries(tools.map((t) => [t.name, { ...(t.description ? { description: t.description } : {}), params: t.parameters }]));
}

/** The call prefix as the model would write it (`||call: ` for the generic wrapper), optionally with a function's name and params prefix. */
export function callPrefix(renderer: ChatRenderer, name?: string): LlamaText {
  const syntax = renderer.wrapper.settings.functions.call;
  return name === undefined ? LlamaText(syntax.prefix) : LlamaText([syntax.prefix, name, syntax.paramsPrefix]);
}

/** A grammar that lets the model write exactly one of the names. */
function nameGrammarText(names: readonly string[]): string {
  return `root ::= ${names.map((n) => JSON.stringify(n)).join(" | ")}`;
}

export function newToolCallId(): string {
  return `call_${randomUUID().replace(/-/g, "").slice(0, 24)}`;
}

/**
 * What a forced call's two decodings (the name, the arguments) leave out of the request: its stop
 * strings (the grammar ends them), its streamed text and its trace (a call is no text, and its passes
 * were never part of the trace).
 */
const unstreamed = { stop: [], onText: undefined, onStep: undefined } as const;

/** Forced call: prompt (ending with the call prefix) -> name -> arguments under the parameters' grammar. */
export async function runForcedCall(model: LlamaCppModel, sequence: TokenSequence, request: EngineRequest, run: ToolRun): Promise<EngineResult> {
  const { choice, tools } = run.request;
  const history = toChatHistory(run.messages);
  const functions = functionsOf(tools);
  const context = run.renderer.contextText(history, functions);
  let name: string;
  let used = 0;
  let nameResult: EngineResult | undefined;
  const candidates = typeof choice === "object" ? [choice.name] : tools.map((t) => t.name);
  if (candidates.length === 1) name = candidates[0];
  else {
    const grammar = await model.llama.createGrammar({ grammar: nameGrammarText(candidates) });
    nameResult = await runNodeSampler(model, sequence, { ...request, ...unstreamed, prompt: run.renderer.tokenize(LlamaText([context, callPrefix(run.renderer)])) }, { grammar });
    used = nameResult.completionTokens;
    name = nameResult.text.trim();
    if (nameResult.finishReason !== "stop" || !candidates.includes(name)) return partial(nameResult, name, "", used);
  }
  const tool = tools.find((t) => t.name === name)!;
  const grammar = await model.llama.createGrammarForJsonSchema(tool.parameters as never);
  const prompt = run.renderer.tokenize(LlamaText([context, callPrefix(run.renderer, name)]));
  const remaining = request.maxTokens - used;
  if (remaining < 1) return partial(nameResult!, name, "", used);
  const args = await runNodeSampler(model, sequence, { ...request, ...unstreamed, prompt, maxTokens: remaining }, { grammar });
  const total = combine(nameResult, args);
  if (args.finishReason !== "stop") return partial(total, name, args.text, total.completionTokens);
  return { ...total, text: "", finishReason: "stop", toolCalls: [{ id: newToolCallId(), name, arguments: args.text.trim() }] };
}

/** A call cut short by max_tokens (or an abort): no tool_calls, the partial call for llma's field. */
function partial(result: EngineResult, name: string, args: string, tokens: number): EngineResult {
  return { ...result, text: "", completionTokens: tokens, finishReason: result.finishReason === "abort" ? "abort" : "length", partialToolCall: { name, arguments: args } };
}

function combine(first: EngineResult | undefined, second: EngineResult): EngineResult {
  if (!first) return second;
  return {
    ...second,
    promptTokens: first.promptTokens,
    cachedPromptTokens: first.cachedPromptTokens,
    completionTokens: first.completionTokens + second.completionTokens,
    forwardPasses: first.forwardPasses + second.forwardPasses + 1,
  };
}

/** "auto": node-llama-cpp's LlamaChat decodes text or function calls (plain decoding). */
export async function runAutoTools(model: LlamaCppModel, sequence: TokenSequence, request: EngineRequest, run: ToolRun): Promise<EngineResult> {
  const inner = llamaCppSequence(sequence, "tool calling").sequence;
  const history = toChatHistory(run.messages);
  const chat = new LlamaChat({ contextSequence: inner, chatWrapper: run.renderer.wrapper, autoDisposeSequence: false });
  const sampling = request.sampling ?? { temperature: 0 };
  const before = inner.tokenMeter.usedOutputTokens;
  const beforeInput = inner.tokenMeter.usedInputTokens;
  try {
    const response = await chat.generateResponse(history, {
      functions: functionsOf(run.request.tools),
      documentFunctionParams: true,
      maxParallelFunctionCalls: 1,
      // Never past the context (LlamaChat would shift it): the room our rendering of the same history leaves.
      maxTokens: Math.max(1, Math.min(request.maxTokens, model.contextSize - request.prompt.length)),
      temperature: sampling.temperature,
      topK: sampling.topK ?? 0,
      topP: sampling.topP ?? 1,
      minP: sampling.minP ?? 0,
      ...(sampling.seed !== undefined ? { seed: sampling.seed } : {}),
      customStopTriggers: request.stop.length > 0 ? [...request.stop] : undefined,
      signal: request.signal,
      stopOnAbortSignal: true,
      onTextChunk: request.onText,
    });
    const completionTokens = inner.tokenMeter.usedOutputTokens - before;
    const calls = (response.functionCalls ?? []).map((call): ToolCall => ({ id: newToolCallId(), name: call.functionName, arguments: JSON.stringify(call.params ?? {}) }));
    const stop = response.metadata.stopReason;
    const finishReason = stop === "maxTokens" ? "length" : stop === "abort" ? "abort" : "stop";
    return {
      text: response.response,
      finishReason: calls.length > 0 ? "stop" : finishReason,
      mode: "sampled",
      promptTokens: request.prompt.length,
      cachedPromptTokens: Math.max(0, request.prompt.length - (inner.tokenMeter.usedInputTokens - beforeInput)),
      completionTokens,
      forwardPasses: completionTokens,
      draftedTokens: 0,
      acceptedTokens: 0,
      ...(calls.length > 0 ? { toolCalls: calls } : {}),
    };
  } finally {
    chat.dispose({ disposeSequence: false });
  }
}

/** Whether a tool request decodes through a tool path (else: plain text through the usual path). */
export function toolPath(request: ToolRequest | undefined): "forced" | "auto" | undefined {
  if (!request || request.choice === "none") return undefined;
  return request.choice === "auto" ? "auto" : "forced";
}
