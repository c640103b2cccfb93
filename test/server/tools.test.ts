/**
 * Tool calling on the tiny model with the official `openai` client. Its weights are random, so a
 * successful call is forced (a named function, or "required"): the arguments are decoded under the
 * parameters' JSON-schema grammar and validate (ajv); the tool result goes back and the assistant
 * answers in text. Also: "auto" (node-llama-cpp decides), "none" (accelerated text with the tools
 * documented), a call cut by max_tokens (finish_reason "length", the partial call in llma's field),
 * streaming, and 400s naming bad tool fields.
 */
import { Ajv } from "ajv";
import OpenAI, { BadRequestError } from "openai";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources";
import { describe, expect, it } from "vitest";
import { useTinyServer } from "../helpers/tiny-server.js";

let client: OpenAI;

const weather = {
  type: "object",
  properties: { city: { enum: ["Paris", "Rome", "Oslo"] }, unit: { enum: ["C", "F"] } },
  required: ["city", "unit"],
  additionalProperties: false,
} as const;
const tools: ChatCompletionTool[] = [
  { type: "function", function: { name: "get_weather", description: "Current weather in a city", parameters: weather } },
  { type: "function", function: { name: "get_time", description: "Current time", parameters: { type: "object", properties: { zone: { enum: ["UTC", "CET"] } }, required: ["zone"] } } },
];
const question: ChatCompletionMessageParam[] = [{ role: "user", content: "What is the weather in Paris?" }];

async function chat(body: Omit<ChatCompletionCreateParamsNonStreaming, "model">) {
  const { data, response } = await client.chat.completions.create({ model: "tiny", ...body }).withResponse();
  return { data: data as ChatCompletion & { llma: Record<string, unknown> }, accelerated: response.headers.get("x-llma-accelerated") };
}

async function rejected(body: Record<string, unknown>): Promise<BadRequestError> {
  const error = await client.chat.completions.create({ model: "tiny", ...body } as never).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BadRequestError);
  return error as BadRequestError;
}

useTinyServer((started) => ({ client } = started));

describe("tools", () => {
  it("a named tool_choice forces a call whose arguments validate; the tool result goes back and the assistant answers", async () => {
    const call = await chat({ messages: question, tools, tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 64 });
    const choice = call.data.choices[0];
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.content).toBeNull();
    expect(call.accelerated).toBe("false");
    const toolCalls = choice.message.tool_calls!;
    expect(toolCalls).toHaveLength(1);
    const first = toolCalls[0] as { id: string; type: string; function: { name: string; arguments: string } };
    expect(first.type).toBe("function");
    expect(first.id).toMatch(/^call_/);
    expect(first.function.name).toBe("get_weather");
    const args: unknown = JSON.parse(first.function.arguments);
    expect(new Ajv().compile(weather)(args)).toBe(true);
    expect(call.data.usage!.completion_tokens).toBeGreaterThan(0);

    // The round trip: the call and its result in the history, then a text answer.
    const history: ChatCompletionMessageParam[] = [
      ...question,
      { role: "assistant", content: null, tool_calls: toolCalls },
      { role: "tool", tool_call_id: first.id, content: JSON.stringify({ temperature: 21, unit: "C" }) },
    ];
    const answer = await chat({ messages: history, tools, tool_choice: "none", max_tokens: 16 });
    expect(["stop", "length"]).toContain(answer.data.choices[0].finish_reason);
    expect(answer.data.choices[0].message.tool_calls ?? []).toHaveLength(0);
    expect(answer.data.choices[0].message.content!.length).toBeGreaterThan(0);
    expect(answer.accelerated).toBe("true");
    // The result is in the prompt: another result gives another prompt (more prompt tokens here).
    const other = await chat({ messages: [...history.slice(0, 2), { role: "tool", tool_call_id: first.id, content: JSON.stringify({ temperature: 21, unit: "C", note: "sunny all day long" }) }], tools, tool_choice: "none", max_tokens: 16 });
    expect(other.data.usage!.prompt_tokens).toBeGreaterThan(answer.data.usage!.prompt_tokens);
    // Without tools in the second request the history still renders (the calls are part of it).
    const noTools = await chat({ messages: history, max_tokens: 8 });
    expect(noTools.data.choices[0].message.content!.length).toBeGreaterThan(0);
  });

  it('"required" with several tools: the grammar picks one of them and its arguments validate', async () => {
    const call = await chat({ messages: question, tools, tool_choice: "required", max_tokens: 64 });
    expect(call.data.choices[0].finish_reason).toBe("tool_calls");
    const fn = (call.data.choices[0].message.tool_calls![0] as { function: { name: string; arguments: string } }).function;
    const tool = tools.find((t) => (t as { function: { name: string } }).function.name === fn.name) as { function: { parameters: object } } | undefined;
    expect(tool).toBeDefined();
    expect(new Ajv().compile(tool!.function.parameters)(JSON.parse(fn.arguments))).toBe(true);
  });

  it("a call cut by max_tokens: finish_reason length, no tool_calls, the partial call in llma.partial_tool_call", async () => {
    const call = await chat({ messages: question, tools, tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 3 });
    const choice = call.data.choices[0];
    expect(choice.finish_reason).toBe("length");
    expect(choice.message.tool_calls ?? []).toHaveLength(0);
    expect(choice.message.content).toBeNull();
    const partial = call.data.llma.partial_tool_call as { name: string; arguments: string };
    expect(partial.name).toBe("get_weather");
    expect(partial.arguments.length).toBeGreaterThan(0);
    expect(() => JSON.parse(partial.arguments)).toThrow();
    expect(call.data.usage!.completion_tokens).toBe(3);
  });

  it('"auto": node-llama-cpp decides; a text reply or a valid call', async () => {
    const reply = await chat({ messages: question, tools, tool_choice: "auto", max_tokens: 24 });
    const choice = reply.data.choices[0];
    expect(reply.accelerated).toBe("false");
    if (choice.finish_reason === "tool_calls") {
      const fn = (choice.message.tool_calls![0] as { function: { name: string; arguments: string } }).function;
      expect(["get_weather", "get_time"]).toContain(fn.name);
      expect(() => JSON.parse(fn.arguments)).not.toThrow();
    } else {
      expect(["stop", "length"]).toContain(choice.finish_reason);
      expect(typeof choice.message.content).toBe("string");
    }
  });

  it('"auto" with penalties or logit_bias: a 400 naming the field (LlamaChat would count another window)', async () => {
    const penalty = await rejected({ messages: question, tools, tool_choice: "auto", max_tokens: 8, repeat_penalty: 1.3 });
    expect(penalty.param).toBe("repeat_penalty");
    const bias = await rejected({ messages: question, tools, tool_choice: "auto", max_tokens: 8, logit_bias: { "5": 3 } });
    expect(bias.param).toBe("logit_bias");
    // A forced call serves them (node-llama-cpp's sampler under the grammar, as plain decoding would).
    const forced = await chat({ messages: question, tools, tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 64, repeat_penalty: 1.3 } as never);
    expect(forced.data.choices[0].finish_reason).toBe("tool_calls");
  });

  it("streamed forced call: one tool_calls delta, then finish_reason tool_calls", async () => {
    const stream = await client.chat.completions.create({ model: "tiny", messages: question, tools, tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 64, stream: true });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const withCalls = chunks.filter((c) => c.choices[0]?.delta.tool_calls);
    expect(withCalls).toHaveLength(1);
    const delta = withCalls[0].choices[0].delta.tool_calls![0];
    expect(delta.index).toBe(0);
    expect(delta.function?.name).toBe("get_weather");
    expect(new Ajv().compile(weather)(JSON.parse(delta.function!.arguments!))).toBe(true);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe("tool_calls");
  });

  it("bad tool fields are 400s naming them; the server keeps serving", async () => {
    const base = { messages: question, max_tokens: 4 };
    expect((await rejected({ ...base, tools: [{ type: "retrieval" }] })).param).toBe("tools[0].type");
    expect((await rejected({ ...base, tools: [{ type: "function", function: { name: "bad name" } }] })).param).toBe("tools[0].function.name");
    expect((await rejected({ ...base, tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "string", pattern: "x" } } } } }] })).param).toBe(
      "tools[0].function.parameters",
    );
    expect((await rejected({ ...base, tools, tool_choice: { type: "function", function: { name: "nope" } } })).param).toBe("tool_choice.function.name");
    expect((await rejected({ ...base, tool_choice: "required" })).param).toBe("tool_choice");
    expect((await rejected({ ...base, tools, tool_choice: "required", response_format: { type: "json_object" } })).param).toBe("response_format");
    expect((await rejected({ messages: [...question, { role: "tool", content: "x" }] })).param).toBe("messages[1].tool_call_id");
    expect((await rejected({ messages: [...question, { role: "tool", tool_call_id: "call_x", content: "x" }] })).param).toBe("messages[1].tool_call_id");
    const call = { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city": "Paris", "unit": "C"}' } };
    expect((await rejected({ messages: [...question, { role: "assistant", content: null, tool_calls: [call] }] })).param).toBe("messages[1].tool_calls[0]");
    expect((await rejected({ messages: [...question, { role: "assistant", content: null, tool_calls: [{ ...call, function: { name: "f", arguments: "{oops" } }] }] })).param).toBe(
      "messages[1].tool_calls[0].function.arguments",
    );
    expect((await rejected({ ...base, functions: [{ name: "f" }] })).param).toBe("functions");
    const after = await chat({ messages: question, max_tokens: 4 });
    expect(after.data.choices[0].message.content!.length).toBeGreaterThan(0);
  });
});
