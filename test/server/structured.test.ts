/**
 * Structured output (`response_format`) and log probabilities on the tiny model, with the official
 * `openai` client: a JSON-schema reply parses and validates (ajv), JSON mode gives JSON, a schema the
 * grammar cannot express is a 400 naming `response_format.json_schema.schema` (and the server keeps
 * serving), logprobs are consistent with greedy decoding and leave the text as it is without them.
 */
import { Ajv } from "ajv";
import OpenAI, { BadRequestError } from "openai";
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming, Completion, CompletionCreateParamsNonStreaming } from "openai/resources";
import { describe, expect, it } from "vitest";
import { useTinyServer } from "../helpers/tiny-server.js";

let client: OpenAI;

type ChatBody = Omit<ChatCompletionCreateParamsNonStreaming, "model"> & Record<string, unknown>;

async function chat(body: ChatBody) {
  const { data, response } = await client.chat.completions.create({ model: "tiny", ...body } as ChatCompletionCreateParamsNonStreaming).withResponse();
  return { data: data as ChatCompletion, accelerated: response.headers.get("x-llma-accelerated") };
}

async function rejected(body: Record<string, unknown>, endpoint: "chat" | "completion" = "chat"): Promise<BadRequestError> {
  const call = endpoint === "chat" ? client.chat.completions.create({ model: "tiny", ...body } as never) : client.completions.create({ model: "tiny", ...body } as never);
  const error = await (call as Promise<unknown>).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BadRequestError);
  return error as BadRequestError;
}

const user = (content: string) => ({ role: "user" as const, content });

useTinyServer((started) => ({ client } = started));

const schema = {
  type: "object",
  properties: {
    ok: { type: "boolean" },
    color: { enum: ["red", "green", "blue"] },
    size: { type: "string", maxLength: 6 },
    tags: { type: "array", items: { enum: ["a", "b"] }, maxItems: 2 },
  },
  required: ["ok", "color", "size", "tags"],
  additionalProperties: false,
} as const;

describe("sampler fields on the constrained path", () => {
  const format = { type: "json_schema" as const, json_schema: { name: "ball", schema, strict: true } };
  const ask = (extra: Record<string, unknown>) => chat({ messages: [user("Describe a ball as JSON.")], max_tokens: 64, response_format: format, ...extra });

  it("top_k: 1 at temperature 1 gives the greedy JSON (top_k is served there, not dropped); without it, seeds differ", async () => {
    const greedy = (await ask({ temperature: 0 })).data.choices[0].message.content;
    const seeds = [1, 2, 3];
    const topK = await Promise.all(seeds.map(async (seed) => (await ask({ temperature: 1, top_k: 1, seed })).data.choices[0].message.content));
    expect(topK).toEqual(seeds.map(() => greedy));
    const free = await Promise.all(seeds.map(async (seed) => (await ask({ temperature: 1, seed })).data.choices[0].message.content));
    expect(free.some((text) => text !== greedy)).toBe(true);
  });

  it("repeat_penalty changes the constrained text (served there too)", async () => {
    const plain = (await ask({ temperature: 0, max_tokens: 96 })).data.choices[0].message.content;
    const penalized = (await ask({ temperature: 0, max_tokens: 96, repeat_penalty: 5, repeat_last_n: -1 })).data.choices[0].message.content;
    expect(penalized).not.toBe(plain);
    expect(new Ajv().compile(schema)(JSON.parse(penalized!))).toBe(true);
  });
});

describe("response_format", () => {
  it("json_schema: the reply parses as JSON and validates against the schema; served on the plain path", async () => {
    const reply = await chat({
      messages: [user("Describe a ball as JSON.")],
      max_tokens: 96,
      response_format: { type: "json_schema", json_schema: { name: "ball", schema, strict: true } },
    });
    const content = reply.data.choices[0].message.content!;
    expect(reply.data.choices[0].finish_reason).toBe("stop");
    const value: unknown = JSON.parse(content);
    const validate = new Ajv().compile(schema);
    expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    expect(reply.accelerated).toBe("false");
    expect((reply.data as unknown as { llma: { accelerated: boolean } }).llma.accelerated).toBe(false);
    // The same request without the format is free text from the same model (not this JSON).
    const free = await chat({ messages: [user("Describe a ball as JSON.")], max_tokens: 24 });
    expect(free.data.choices[0].message.content).not.toBe(content.slice(0, free.data.choices[0].message.content!.length));
  });

  it("json_schema with sampling (temperature, seed): valid every time, and the same seed gives the same JSON", async () => {
    const validate = new Ajv().compile(schema);
    const texts: string[] = [];
    for (const seed of [7, 7, 8, 9]) {
      const reply = await chat({
        messages: [user("Describe a ball as JSON.")],
        max_tokens: 96,
        temperature: 1.2,
        seed,
        response_format: { type: "json_schema", json_schema: { name: "ball", schema } },
      });
      const content = reply.data.choices[0].message.content!;
      expect(validate(JSON.parse(content)), content).toBe(true);
      expect((reply.data as unknown as { llma: { seed: number } }).llma.seed).toBe(seed);
      texts.push(content);
    }
    expect(texts[1]).toBe(texts[0]);
  });

  it("json_schema on /v1/completions, and anyOf/$ref/const schemas", async () => {
    const nested = {
      $defs: { flag: { type: "boolean" } },
      type: "object",
      properties: { kind: { const: "x" }, value: { anyOf: [{ type: "integer" }, { $ref: "#/$defs/flag" }] } },
      required: ["kind", "value"],
    };
    const { data } = await client.completions
      .create({ model: "tiny", prompt: "JSON:", max_tokens: 64, response_format: { type: "json_schema", json_schema: { name: "n", schema: nested } } } as unknown as CompletionCreateParamsNonStreaming)
      .withResponse();
    const text = (data as Completion).choices[0].text;
    const value = JSON.parse(text) as { kind: string; value: unknown };
    expect(new Ajv().compile(nested)(value)).toBe(true);
    expect(value.kind).toBe("x");
  });

  it("json_object: the reply is a JSON object (or cut by max_tokens with finish_reason length)", async () => {
    const reply = await chat({ messages: [user("Give me a JSON object.")], max_tokens: 48, response_format: { type: "json_object" } });
    const content = reply.data.choices[0].message.content!;
    expect(content.trimStart().startsWith("{")).toBe(true);
    if (reply.data.choices[0].finish_reason === "stop") expect(typeof JSON.parse(content)).toBe("object");
    else expect(reply.data.choices[0].finish_reason).toBe("length");
  });

  it("a schema the grammar cannot express is a 400 naming response_format.json_schema.schema, and the server keeps serving", async () => {
    const cases: [unknown, RegExp][] = [
      [{ type: "foo" }, /unknown type "foo"/],
      [{ type: "object", properties: { a: { type: "string", pattern: "^x+$" } } }, /properties\/a\/pattern.*not supported/],
      [{ type: "integer", minimum: 3 }, /minimum/],
      [{ type: "object", properties: { a: { type: "string" } }, required: ["b"] }, /"b" is not one of the properties/],
      [{ $ref: "#/$defs/missing" }, /names no schema/],
      [{ oneOf: 3 }, /oneOf: expected a non-empty array/],
      ["not a schema", /a schema must be an object/],
    ];
    for (const [bad, reason] of cases) {
      const error = await rejected({ messages: [user("hi")], max_tokens: 4, response_format: { type: "json_schema", json_schema: { name: "bad", schema: bad } } });
      expect(error.param).toBe("response_format.json_schema.schema");
      expect(error.message).toMatch(reason);
    }
    expect((await rejected({ messages: [user("hi")], response_format: { type: "yaml" } })).param).toBe("response_format.type");
    expect((await rejected({ messages: [user("hi")], response_format: { type: "json_schema" } })).param).toBe("response_format.json_schema");
    expect((await rejected({ messages: [user("hi")], response_format: { type: "json_schema", json_schema: { name: "x", schema: {}, extra: 1 } } })).param).toBe(
      "response_format.json_schema.extra",
    );
    const after = await chat({ messages: [user("hi")], max_tokens: 4 });
    expect(after.data.choices[0].message.content!.length).toBeGreaterThan(0);
  });
});

describe("logprobs", () => {
  it("chat: per token a logprob <= 0, the greedy choice is the most likely, top_logprobs sorted with N entries; the text is the one without logprobs", async () => {
    const question = [user("Where is the Eiffel Tower?")];
    const plain = await chat({ messages: question, max_tokens: 16 });
    const withLogprobs = await chat({ messages: question, max_tokens: 16, logprobs: true, top_logprobs: 3 });
    const choice = withLogprobs.data.choices[0];
    expect(choice.message.content).toBe(plain.data.choices[0].message.content);
    // Greedy and not streamed: decoded by LLMA, the logprobs from exact passes afterwards.
    expect(withLogprobs.accelerated).toBe("true");
    const content = choice.logprobs!.content!;
    expect(content.length).toBe(withLogprobs.data.usage!.completion_tokens);
    expect(content.map((c) => c.token).join("")).toBe(choice.message.content);
    for (const entry of content) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top_logprobs.length).toBe(3);
      const logprobs = entry.top_logprobs.map((t) => t.logprob);
      expect([...logprobs].sort((a, b) => b - a)).toEqual(logprobs);
      // Greedy: the chosen token is the argmax of the distribution.
      expect(entry.top_logprobs[0].token).toBe(entry.token);
      expect(entry.top_logprobs[0].logprob).toBeCloseTo(entry.logprob, 6);
      expect(Buffer.from(entry.bytes!).toString("utf8")).toBe(entry.token);
    }
    // logprobs: true alone gives the chosen tokens without alternatives.
    const bare = await chat({ messages: question, max_tokens: 4, logprobs: true });
    expect(bare.data.choices[0].logprobs!.content!.every((c) => c.top_logprobs.length === 0 && c.logprob <= 0)).toBe(true);
  });

  it("completions: logprobs N gives tokens, token_logprobs, top_logprobs and text offsets", async () => {
    const request = { model: "tiny", prompt: "The capital of France is", max_tokens: 8 };
    const plain = await client.completions.create(request);
    const { data } = await client.completions.create({ ...request, logprobs: 2 }).withResponse();
    const choice = data.choices[0];
    expect(choice.text).toBe(plain.choices[0].text);
    const logprobs = choice.logprobs!;
    expect(logprobs.tokens!.join("")).toBe(choice.text);
    expect(logprobs.token_logprobs!.every((l) => l <= 0)).toBe(true);
    expect(logprobs.top_logprobs!.every((top) => Object.keys(top).length === 2)).toBe(true);
    logprobs.tokens!.forEach((token, i) => {
      expect(Math.max(...Object.values(logprobs.top_logprobs![i]))).toBeCloseTo(logprobs.token_logprobs![i], 6);
      expect(logprobs.text_offset![i]).toBe(logprobs.tokens!.slice(0, i).join("").length);
      expect(token.length).toBeGreaterThanOrEqual(0);
    });
  });

  it("streamed (plain path): the chunks' logprobs are exactly the non-streamed ones (LLMA with drafts, then exact passes)", async () => {
    const body = { model: "tiny", messages: [user("Where is the Eiffel Tower?")], max_tokens: 12, logprobs: true, top_logprobs: 2 };
    const answer = (await client.chat.completions.create({ model: "tiny", messages: body.messages, max_tokens: 12 })).choices[0].message.content!;
    // The answer as the prediction: most tokens come from accepted drafts.
    const { data: whole, response } = await client.chat.completions.create({ ...body, prediction: { type: "content", content: answer } }).withResponse();
    expect(response.headers.get("x-llma-accelerated")).toBe("true");
    expect(whole.usage!.completion_tokens_details!.accepted_prediction_tokens).toBeGreaterThan(6);
    const stream = await client.chat.completions.create({ ...body, stream: true });
    const entries: { token: string; logprob: number; top_logprobs: unknown[] }[] = [];
    let text = "";
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      text += choice.delta.content ?? "";
      for (const entry of choice.logprobs?.content ?? []) entries.push(entry);
    }
    expect(text).toBe(whole.choices[0].message.content);
    expect(entries.map((e) => e.token)).toEqual(whole.choices[0].logprobs!.content!.map((e) => e.token));
    expect(entries.map((e) => e.logprob)).toEqual(whole.choices[0].logprobs!.content!.map((e) => e.logprob));
    expect(entries.map((e) => e.top_logprobs)).toEqual(whole.choices[0].logprobs!.content!.map((e) => e.top_logprobs));

    const completion = { model: "tiny", prompt: "The capital of France is", max_tokens: 8, logprobs: 1 };
    const plain = await client.completions.create(completion);
    const streamed = await client.completions.create({ ...completion, stream: true });
    const offsets: number[] = [];
    const tokens: string[] = [];
    for await (const chunk of streamed) {
      offsets.push(...(chunk.choices[0]?.logprobs?.text_offset ?? []));
      tokens.push(...(chunk.choices[0]?.logprobs?.tokens ?? []));
    }
    expect(tokens).toEqual(plain.choices[0].logprobs!.tokens);
    expect(offsets).toEqual(plain.choices[0].logprobs!.text_offset);
  });

  it("sampled (temperature > 0): served on the plain path, logprobs of the distribution the token was drawn from", async () => {
    const reply = await chat({ messages: [user("Where is the Eiffel Tower?")], max_tokens: 8, temperature: 0.9, seed: 3, logprobs: true, top_logprobs: 5 });
    expect(reply.accelerated).toBe("false");
    const content = reply.data.choices[0].logprobs!.content!;
    expect(content.map((c) => c.token).join("")).toBe(reply.data.choices[0].message.content);
    for (const entry of content) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      // The drawn token is one of the candidates, at most as likely as the first.
      expect(entry.logprob).toBeLessThanOrEqual(entry.top_logprobs[0].logprob + 1e-6);
    }
  });

  it("bad logprobs requests are 400s naming the field", async () => {
    expect((await rejected({ messages: [user("hi")], logprobs: true, top_logprobs: 21 })).param).toBe("top_logprobs");
    expect((await rejected({ messages: [user("hi")], top_logprobs: 2 })).param).toBe("top_logprobs");
    expect((await rejected({ prompt: "x", logprobs: -1 }, "completion")).param).toBe("logprobs");
  });
});
