/**
 * The Responses API (`POST /v1/responses`) on the tiny model with the official `openai` client
 * (client.responses.create / .stream): the same text as chat completions for the same conversation
 * (greedy, accelerated, with references), the streaming events in order, structured output through
 * text.format, and 400s naming unknown or unserved fields (previous_response_id among them).
 */
import { Ajv } from "ajv";
import OpenAI, { BadRequestError } from "openai";
import type { ResponseCreateParamsNonStreaming, ResponseStreamEvent } from "openai/resources/responses/responses";
import { describe, expect, it } from "vitest";
import { useTinyServer } from "../helpers/tiny-server.js";

let client: OpenAI;
const MAX = 24;

interface LlmaStats {
  accelerated: boolean;
  accepted_tokens: number;
}

useTinyServer((started) => ({ client } = started));

async function rejected(body: Record<string, unknown>): Promise<BadRequestError> {
  const error = await client.responses.create({ model: "tiny", ...body } as unknown as ResponseCreateParamsNonStreaming).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BadRequestError);
  return error as BadRequestError;
}

describe("POST /v1/responses", () => {
  const instructions = "You answer briefly.";
  const question = "Where is the Eiffel Tower?";

  it("a string input gives chat's greedy text for the same conversation, with usage and status", async () => {
    const chat = await client.chat.completions.create({
      model: "tiny",
      messages: [
        { role: "system", content: instructions },
        { role: "user", content: question },
      ],
      max_tokens: MAX,
    });
    const { data: response, response: raw } = await client.responses.create({ model: "tiny", instructions, input: question, max_output_tokens: MAX }).withResponse();
    expect(response.object).toBe("response");
    expect(response.id).toMatch(/^resp_/);
    expect(response.output_text).toBe(chat.choices[0].message.content);
    expect(response.output[0].type).toBe("message");
    expect(response.status).toBe(chat.choices[0].finish_reason === "length" ? "incomplete" : "completed");
    if (response.status === "incomplete") expect(response.incomplete_details?.reason).toBe("max_output_tokens");
    expect(response.usage?.output_tokens).toBe(chat.usage?.completion_tokens);
    expect(response.usage?.input_tokens).toBe(chat.usage?.prompt_tokens);
    expect(response.instructions).toBe(instructions);
    expect(raw.headers.get("x-llma-accelerated")).toBe("true");

    // Message items with input_text parts, and the answer itself as a reference: same text, drafted from it.
    const items = await client.responses.create({
      model: "tiny",
      input: [
        { role: "system", content: [{ type: "input_text", text: instructions }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: question }] },
      ],
      max_output_tokens: MAX,
      references: [response.output_text],
    } as unknown as ResponseCreateParamsNonStreaming);
    expect(items.output_text).toBe(response.output_text);
    expect((items as unknown as { llma: LlmaStats }).llma.accepted_tokens).toBeGreaterThan(MAX / 2);
  });

  it("streamed (client.responses.stream): the events in order, deltas reassemble the final text", async () => {
    const expected = await client.responses.create({ model: "tiny", input: question, max_output_tokens: MAX });
    const stream = client.responses.stream({ model: "tiny", input: question, max_output_tokens: MAX });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    const last = expected.status === "incomplete" ? "response.incomplete" : "response.completed";
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", last]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const deltas = events.filter((e) => e.type === "response.output_text.delta");
    expect(deltas.length).toBeGreaterThan(0);
    const text = deltas.map((e) => (e as { delta: string }).delta).join("");
    expect(text).toBe(expected.output_text);
    const done = events.find((e) => e.type === "response.output_text.done") as { text: string };
    expect(done.text).toBe(text);
    expect(final.output_text).toBe(text);
    expect(final.usage?.output_tokens).toBe(expected.usage?.output_tokens);
  });

  it("text.format json_schema: the output validates against the schema", async () => {
    const schema = { type: "object", properties: { ok: { type: "boolean" }, n: { enum: [1, 2, 3] } }, required: ["ok", "n"], additionalProperties: false };
    const response = await client.responses.create({
      model: "tiny",
      input: "JSON please",
      max_output_tokens: 48,
      text: { format: { type: "json_schema", name: "answer", schema, strict: true } },
    });
    expect(response.status).toBe("completed");
    expect(new Ajv().compile(schema)(JSON.parse(response.output_text))).toBe(true);
    expect(response.text?.format?.type).toBe("json_schema");
    const bad = await rejected({ input: "x", text: { format: { type: "json_schema", name: "a", schema: { type: "nope" } } } });
    expect(bad.param).toBe("text.format.schema");
  });

  it("top_logprobs: the output text's logprobs, the greedy token first among its alternatives", async () => {
    const plain = await client.responses.create({ model: "tiny", input: question, max_output_tokens: 8 });
    const { data, response } = await client.responses.create({ model: "tiny", input: question, max_output_tokens: 8, top_logprobs: 2, include: [] }).withResponse();
    expect(data.output_text).toBe(plain.output_text);
    expect(response.headers.get("x-llma-accelerated")).toBe("true");
    const part = (data.output[0] as { content: { logprobs: { token: string; logprob: number; top_logprobs: { token: string; logprob: number }[] }[] }[] }).content[0];
    expect(part.logprobs.map((l) => l.token).join("")).toBe(data.output_text);
    for (const entry of part.logprobs) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top_logprobs).toHaveLength(2);
      expect(entry.top_logprobs[0].token).toBe(entry.token);
    }
    expect((await rejected({ input: "x", top_logprobs: 2, stream: true })).param).toBe("top_logprobs");
  });

  it("function tools: a forced call as a function_call item, its output sent back as input items, then a text answer; streamed too", async () => {
    const parameters = { type: "object", properties: { city: { enum: ["Paris", "Rome"] } }, required: ["city"], additionalProperties: false };
    const tools = [{ type: "function" as const, name: "get_weather", description: "Weather in a city", parameters, strict: true }];
    const call = await client.responses.create({ model: "tiny", input: question, tools, tool_choice: { type: "function", name: "get_weather" }, max_output_tokens: 48 });
    expect(call.status).toBe("completed");
    expect(call.output).toHaveLength(1);
    const item = call.output[0] as { type: string; call_id: string; name: string; arguments: string; id: string };
    expect(item.type).toBe("function_call");
    expect(item.name).toBe("get_weather");
    expect(item.id).toMatch(/^fc_/);
    expect(new Ajv().compile(parameters)(JSON.parse(item.arguments))).toBe(true);
    expect(call.tools).toHaveLength(1);

    const answer = await client.responses.create({
      model: "tiny",
      input: [
        { role: "user", content: question },
        { type: "function_call", call_id: item.call_id, name: item.name, arguments: item.arguments },
        { type: "function_call_output", call_id: item.call_id, output: JSON.stringify({ temperature: 20 }) },
      ],
      tools,
      tool_choice: "none",
      max_output_tokens: 12,
    });
    expect(answer.output[0].type).toBe("message");
    expect(answer.output_text.length).toBeGreaterThan(0);

    const stream = client.responses.stream({ model: "tiny", input: question, tools, tool_choice: "required", max_output_tokens: 48 });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    expect(types).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const streamed = final.output[0] as { type: string; arguments: string };
    expect(streamed.type).toBe("function_call");
    expect(streamed.arguments).toBe(item.arguments);
  });

  it("unknown and unserved fields are 400s naming them; the server keeps serving", async () => {
    expect((await rejected({ input: "x", previous_response_id: "resp_123" })).param).toBe("previous_response_id");
    expect((await rejected({ input: "x", frobnicate: true })).param).toBe("frobnicate");
    expect((await rejected({ input: [{ role: "user", content: [{ type: "input_image", image_url: "http://x" }] }] })).param).toBe("input[0].content[0].type");
    expect((await rejected({ input: [{ type: "reasoning", summary: [] }] })).param).toBe("input[0].type");
    expect((await rejected({ input: [{ role: "robot", content: "x" }] })).param).toBe("input[0].role");
    expect((await rejected({})).param).toBe("input");
    expect((await rejected({ input: "x", max_output_tokens: 0 })).param).toBe("max_output_tokens");
    expect((await rejected({ input: "x", tools: [{ type: "web_search" }] })).param).toBe("tools[0].type");
    expect((await rejected({ input: [{ type: "function_call_output", call_id: "call_nope", output: "1" }] })).param).toBe("input[0].call_id");
    expect((await rejected({ input: [{ type: "function_call", call_id: "c1", name: "f", arguments: "{}" }] })).param).toBe("input[0]");
    expect((await rejected({ input: "x", text: { format: { type: "xml" } } })).param).toBe("text.format.type");
    const after = await client.responses.create({ model: "tiny", input: "hi", max_output_tokens: 4 });
    expect(after.output_text.length).toBeGreaterThan(0);
  });
});
