/**
 * The OpenAI-compatible server end to end on the tiny model, with the official `openai` client as the
 * client: Predicted Outputs and references give the same text as plain greedy decoding (and accepted
 * prediction tokens), streams reassemble to the same text, conversation references, concurrency with
 * a bounded queue (429), client aborts, validation errors, /metrics, /health, /v1/models.
 */
import OpenAI, { BadRequestError, RateLimitError } from "openai";
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
  Completion,
  CompletionCreateParamsNonStreaming,
  CompletionCreateParamsStreaming,
} from "openai/resources";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { buildApp, type LlmaServer } from "../../src/server/app.js";

/** llma's request extensions (the openai client passes unknown body fields through). */
interface Extensions {
  references?: string[];
  llma?: { conversation_references?: boolean; prediction?: boolean; references?: boolean; output_references?: boolean };
}
type ChatBody = Omit<ChatCompletionCreateParamsNonStreaming, "model"> & Extensions;
type CompletionBody = Omit<CompletionCreateParamsNonStreaming, "model"> & Extensions;
interface Usage {
  completion_tokens: number;
  completion_tokens_details?: { accepted_prediction_tokens?: number; rejected_prediction_tokens?: number };
}

/** Plain greedy decoding: no reference source at all. */
const PLAIN = { llma: { conversation_references: false, output_references: false } } as const;
const MAX_TOKENS = 32;

let model: LlamaCppModel;
let server: LlmaServer;
let url: string;
let client: OpenAI;

async function chat(body: ChatBody, on: OpenAI = client) {
  const { data, response } = await on.chat.completions
    .create({ model: "tiny", ...body } as unknown as ChatCompletionCreateParamsNonStreaming)
    .withResponse();
  return { data: data as ChatCompletion, accelerated: response.headers.get("x-llma-accelerated") };
}

async function completion(body: CompletionBody) {
  const { data, response } = await client.completions.create({ model: "tiny", ...body } as unknown as CompletionCreateParamsNonStreaming).withResponse();
  return { data: data as Completion, accelerated: response.headers.get("x-llma-accelerated") };
}

async function chatStream(body: ChatBody) {
  const stream = await client.chat.completions.create({ model: "tiny", ...body, stream: true } as unknown as ChatCompletionCreateParamsStreaming);
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
  return { chunks, text };
}

const accepted = (usage: Usage | undefined | null) => usage?.completion_tokens_details?.accepted_prediction_tokens ?? -1;
const user = (content: string): ChatCompletionMessageParam => ({ role: "user", content });

beforeAll(async () => {
  const path = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  // One thread: on a shared 2-core machine llama.cpp's spinning threads slow down many times over.
  model = await LlamaCppModel.load({ model: path, threads: 1, sequences: 3 });
  await model.calibrate();
  // The paper's fixed policy: these tests check the API's contract, not the cost-aware policy's choices.
  server = buildApp({ model, modelName: "tiny", parallel: 2, queue: 16, policy: "paper" });
  url = await server.listen({ host: "127.0.0.1", port: 0 });
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0 });
});

afterAll(async () => {
  await server?.close(1000);
  await model?.dispose();
});

describe("llma serve: OpenAI-compatible API", () => {
  const question = "Where is the Eiffel Tower? Answer in one sentence.";

  it("chat: prediction gives the plain greedy text with accepted prediction tokens, streamed or not", async () => {
    const plain = await chat({ messages: [user(question)], max_tokens: MAX_TOKENS, ...PLAIN });
    const answer = plain.data.choices[0].message.content!;
    expect(plain.accelerated).toBe("true");
    expect(plain.data.object).toBe("chat.completion");
    expect(plain.data.choices[0].finish_reason).toBe("length");
    expect(plain.data.usage?.completion_tokens).toBe(MAX_TOKENS);
    expect(answer.length).toBeGreaterThan(0);

    // Predicted Outputs: the answer itself as the prediction (string and text-part forms).
    const predicted = await chat({ messages: [user(question)], max_tokens: MAX_TOKENS, prediction: { type: "content", content: answer } });
    expect(predicted.data.choices[0].message.content).toBe(answer);
    expect(accepted(predicted.data.usage)).toBeGreaterThan(MAX_TOKENS / 2);
    const parts = await chat({ messages: [user(question)], max_tokens: MAX_TOKENS, prediction: { type: "content", content: [{ type: "text", text: answer }] }, ...PLAIN });
    expect(parts.data.choices[0].message.content).toBe(answer);
    expect(accepted(parts.data.usage)).toBeGreaterThan(0);
    // A wrong prediction costs rejected tokens, never a different text.
    const wrong = await chat({ messages: [user(question)], max_tokens: MAX_TOKENS, prediction: { type: "content", content: `${answer.slice(0, 20)} something else entirely, and more` } });
    expect(wrong.data.choices[0].message.content).toBe(answer);

    // Streamed: role first, deltas reassemble the text, a finish chunk, then the usage chunk.
    const streamed = await chatStream({ messages: [user(question)], max_tokens: MAX_TOKENS, prediction: { type: "content", content: answer }, stream_options: { include_usage: true } });
    expect(streamed.text).toBe(answer);
    expect(streamed.chunks[0].choices[0].delta.role).toBe("assistant");
    expect(streamed.chunks.every((c) => c.object === "chat.completion.chunk" && c.id === streamed.chunks[0].id)).toBe(true);
    const finish = streamed.chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finish.map((c) => c.choices[0].finish_reason)).toEqual(["length"]);
    const last = streamed.chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBe(MAX_TOKENS);
    expect(accepted(last.usage)).toBeGreaterThan(0);
    // Without include_usage there is no usage chunk.
    const noUsage = await chatStream({ messages: [user(question)], max_tokens: 8, ...PLAIN });
    expect(noUsage.chunks.some((c) => c.usage)).toBe(false);
    expect(answer.startsWith(noUsage.text)).toBe(true);
  });

  it("completions: prediction and references give the plain text, streamed or not; stop strings end it", async () => {
    const prompt = "docs:\nThe Eiffel Tower is in Paris. It was built in 1889.\nquery: where is the Eiffel Tower?\nanswer:";
    const plain = await completion({ prompt, max_tokens: MAX_TOKENS, ...PLAIN });
    const answer = plain.data.choices[0].text;
    expect(plain.data.object).toBe("text_completion");
    expect(plain.data.choices[0].finish_reason).toBe("length");

    const predicted = await completion({ prompt, max_tokens: MAX_TOKENS, prediction: { type: "content", content: answer } } as CompletionBody);
    expect(predicted.data.choices[0].text).toBe(answer);
    expect(accepted(predicted.data.usage)).toBeGreaterThan(MAX_TOKENS / 2);
    const referenced = await completion({ prompt, max_tokens: MAX_TOKENS, references: ["unrelated text", `prefix ${answer}`], ...PLAIN });
    expect(referenced.data.choices[0].text).toBe(answer);
    expect(accepted(referenced.data.usage)).toBeGreaterThan(0);
    // Switched off per request: same text, nothing drafted.
    const off = await completion({ prompt, max_tokens: MAX_TOKENS, references: [answer], llma: { references: false, conversation_references: false, output_references: false } });
    expect(off.data.choices[0].text).toBe(answer);
    expect(accepted(off.data.usage)).toBe(0);

    const stream = await client.completions.create({
      model: "tiny",
      prompt,
      max_tokens: MAX_TOKENS,
      stream: true,
      stream_options: { include_usage: true },
      prediction: { type: "content", content: answer },
    } as unknown as CompletionCreateParamsStreaming);
    const chunks: Completion[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.text ?? "").join("")).toBe(answer);
    expect(chunks.filter((c) => c.choices[0]?.finish_reason).map((c) => c.choices[0].finish_reason)).toEqual(["length"]);
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(accepted(chunks.at(-1)!.usage)).toBeGreaterThan(0);

    // A stop string taken from the middle of the answer: the text ends right before it.
    const stop = answer.slice(10, 14);
    const stopped = await completion({ prompt, max_tokens: MAX_TOKENS, stop: [stop] });
    expect(stopped.data.choices[0].finish_reason).toBe("stop");
    expect(stopped.data.choices[0].text).toBe(answer.slice(0, answer.indexOf(stop)));
  });

  it("multi-turn: the earlier answer is copied from the conversation, and not when conversation_references is off", async () => {
    const first = await chat({ messages: [user(question)], max_tokens: MAX_TOKENS, ...PLAIN });
    const messages: ChatCompletionMessageParam[] = [
      { role: "system", content: "You answer briefly." },
      user(question),
      { role: "assistant", content: first.data.choices[0].message.content! },
      user(question),
    ];
    const plain = await chat({ messages, max_tokens: MAX_TOKENS, ...PLAIN });
    const withConversation = await chat({ messages, max_tokens: MAX_TOKENS });
    const without = await chat({ messages, max_tokens: MAX_TOKENS, llma: { conversation_references: false } });
    expect(withConversation.data.choices[0].message.content).toBe(plain.data.choices[0].message.content);
    expect(without.data.choices[0].message.content).toBe(plain.data.choices[0].message.content);
    expect(accepted(withConversation.data.usage)).toBeGreaterThan(0);
    expect(accepted(without.data.usage)).toBe(0);
    // Content as an array of text parts renders like the string.
    const parts = await chat({ messages: [{ role: "user", content: [{ type: "text", text: question }] }], max_tokens: MAX_TOKENS, ...PLAIN });
    expect(parts.data.choices[0].message.content).toBe(first.data.choices[0].message.content);
  });

  it("8 concurrent streaming clients on 2 slots: every answer equals its sequential twin", async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => `Question ${i + 1}: name ${["a city", "a river", "a color", "a number", "a planet", "a tree", "a bird", "a song"][i]}.`);
    const twins: string[] = [];
    for (const prompt of prompts) twins.push((await chat({ messages: [user(prompt)], max_tokens: 16, ...PLAIN })).data.choices[0].message.content!);
    let maxActive = 0;
    let maxQueued = 0;
    const watch = setInterval(() => {
      maxActive = Math.max(maxActive, server.scheduler.active);
      maxQueued = Math.max(maxQueued, server.scheduler.queued);
    }, 2);
    try {
      // Half carry their twin as the prediction (accelerated), half nothing: references never cross requests.
      const results = await Promise.all(
        prompts.map((prompt, i) => chatStream({ messages: [user(prompt)], max_tokens: 16, ...(i % 2 === 0 ? { prediction: { type: "content", content: twins[i] } } : {}) })),
      );
      expect(results.map((r) => r.text)).toEqual(twins);
    } finally {
      clearInterval(watch);
    }
    expect(maxActive).toBeLessThanOrEqual(2);
    expect(maxQueued).toBeGreaterThan(0);
  });

  it("sampling (temperature > 0, top_p) is accelerated losslessly and reproducible with a seed; penalties are served plainly", async () => {
    const seedOf = (response: { data: unknown }) => (response.data as { llma: { seed?: number } }).llma.seed;
    const sampled = { messages: [user(question)], max_tokens: 24, temperature: 0.9, top_p: 0.95 };
    const a = await chat({ ...sampled, seed: 42, ...PLAIN });
    const text = a.data.choices[0].message.content!;
    expect(a.accelerated).toBe("true");
    expect(seedOf(a)).toBe(42);
    expect(a.data.usage?.completion_tokens).toBeGreaterThan(0);
    // The same seed with the answer as the prediction: the same text, in fewer passes.
    const b = await chat({ ...sampled, seed: 42, prediction: { type: "content", content: text } });
    expect(b.data.choices[0].message.content).toBe(text);
    expect(accepted(b.data.usage)).toBeGreaterThan(0);
    // No seed: a random one, reported, that replays the answer.
    const c = await chat({ ...sampled, ...PLAIN });
    expect(Number.isInteger(seedOf(c))).toBe(true);
    const replay = await chat({ ...sampled, seed: seedOf(c), ...PLAIN });
    expect(replay.data.choices[0].message.content).toBe(c.data.choices[0].message.content);
    // Penalties: node-llama-cpp's sampler, unaccelerated, still reproducible with a seed.
    const p1 = await chat({ ...sampled, seed: 42, presence_penalty: 0.5 });
    const p2 = await chat({ ...sampled, seed: 42, presence_penalty: 0.5 });
    expect(p1.accelerated).toBe("false");
    expect(accepted(p1.data.usage)).toBe(0);
    expect(p2.data.choices[0].message.content).toBe(p1.data.choices[0].message.content);
  });

  it("a full queue answers 429 with Retry-After; an aborted stream frees its slot", async () => {
    // A second server on the same model: 1 slot, 1 waiting place.
    const small = buildApp({ model, modelName: "tiny", parallel: 1, queue: 1, policy: "paper" });
    const smallUrl = await small.listen({ port: 0 });
    const smallClient = new OpenAI({ baseURL: `${smallUrl}/v1`, apiKey: "x", maxRetries: 0 });
    try {
      const long = await smallClient.completions.create({ model: "tiny", prompt: "Once upon a time", max_tokens: 2000, stream: true, ...PLAIN } as unknown as CompletionCreateParamsStreaming);
      const iterator = long[Symbol.asyncIterator]();
      await iterator.next(); // generating: the slot is taken
      expect(small.scheduler.active).toBe(1);
      const queued = chat({ messages: [user(question)], max_tokens: 8, ...PLAIN }, smallClient);
      queued.catch(() => {}); // awaited below; if an assertion fails first, closing the server cuts it: no unhandled rejection
      await until(() => small.scheduler.queued === 1);
      const refused = await chat({ messages: [user(question)], max_tokens: 8 }, smallClient).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(RateLimitError);
      const error = refused as RateLimitError;
      expect(Number(error.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(error.type).toBe("rate_limit_error");
      expect(error.message).toMatch(/queue of 1 waiting requests is full/);

      long.controller.abort(); // the client goes away mid-stream (the client's iterator just ends)
      const rest: Completion[] = [];
      for (let step = await iterator.next(); !step.done; step = await iterator.next()) rest.push(step.value);
      expect(rest.length).toBeLessThan(1999);
      expect(rest.some((c) => c.choices[0]?.finish_reason)).toBe(false);
      const next = await queued; // the freed slot serves the queued request
      expect(next.data.choices[0].finish_reason).toBe("length");
      await until(() => small.scheduler.active === 0);
      const after = await chat({ messages: [user(question)], max_tokens: 8 }, smallClient);
      expect(after.data.usage?.completion_tokens).toBe(8);
      const metrics = parsePrometheus(await (await fetch(`${smallUrl}/metrics`)).text());
      expect(metrics.get('llma_requests_total{endpoint="/v1/chat/completions",status="429"}')).toBe(1);
      expect(metrics.get('llma_requests_total{endpoint="/v1/completions",status="499"}')).toBe(1);
      expect(metrics.get("llma_generations_aborted_total")).toBe(1);
    } finally {
      await small.close(1000);
    }
  });

  it.each([
    ["malformed JSON", "/v1/chat/completions", "{not json", 400, null, /could not parse the JSON body/],
    ["missing messages", "/v1/chat/completions", { model: "tiny" }, 400, "messages", /Missing required parameter: 'messages'/],
    ["messages of the wrong type", "/v1/chat/completions", { messages: "hi" }, 400, "messages", /'messages'.*expected array/],
    ["no messages", "/v1/chat/completions", { messages: [] }, 400, "messages", /at least one message/],
    ["an unknown role", "/v1/chat/completions", { messages: [{ role: "function", content: "x" }] }, 400, "messages[0].role", /unknown role "function"/],
    ["content of the wrong type", "/v1/chat/completions", { messages: [{ role: "user", content: 5 }] }, 400, "messages[0].content", /expected a string or an array of text parts/],
    ["an image part", "/v1/chat/completions", { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }, 400, "messages[0].content[0].type", /only text content parts/],
    ["n > 1", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], n: 2 }, 400, "n", /only n = 1 is supported, got 2/],
    ["negative max_tokens", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], max_tokens: -1 }, 400, "max_tokens", /Invalid 'max_tokens'.*>=1/],
    ["max_tokens as a string", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], max_tokens: "10" }, 400, "max_tokens", /expected number, received string/],
    ["max_tokens beyond the context", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], max_tokens: 100_000 }, 400, "max_tokens", /maximum context length is \d+ tokens/],
    ["a prompt beyond the context", "/v1/completions", { prompt: "word ".repeat(3000), max_tokens: 4 }, 400, "prompt", /maximum context length/],
    ["temperature out of range", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], temperature: 3 }, 400, "temperature", /'temperature'/],
    ["an empty stop string", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], stop: [""] }, 400, "stop", /stop strings must not be empty/],
    ["a wrong prediction type", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], prediction: { type: "text", content: "x" } }, 400, "prediction.type", /only \{type: "content"\} predictions/],
    ["an unknown llma switch", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], llma: { bogus: true } }, 400, "llma", /bogus/],
    ["a non-function tool", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], tools: [{ type: "web_search" }] }, 400, "tools[0].type", /only function tools are supported/],
    ["a missing prompt", "/v1/completions", { max_tokens: 4 }, 400, "prompt", /Missing required parameter: 'prompt'/],
    ["an unknown route", "/v1/embeddings", { input: "x" }, 404, null, /Unknown request URL: POST \/v1\/embeddings/],
  ])("rejects %s with an OpenAI-style error naming it", async (_name, path, body, status, param, message) => {
    const response = await fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    expect(response.status).toBe(status);
    const json = (await response.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
    expect(json.error.type).toBe("invalid_request_error");
    expect(json.error.param).toBe(param);
    expect(json.error.message).toMatch(message);
    expect(Object.keys(json.error).sort()).toEqual(["code", "message", "param", "type"]);
  });

  it("the openai client surfaces a 400 as BadRequestError; fields that do not change the output are ignored", async () => {
    const error = await chat({ messages: [user("x")], n: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).param).toBe("n");
    const ignored = await chat({ messages: [user(question)], max_tokens: 4, user: "someone", metadata: { a: "b" }, store: false, logit_bias: {}, ...PLAIN });
    expect(ignored.data.usage?.completion_tokens).toBe(4);
    expect(ignored.accelerated).toBe("true");
  });

  it("/health, /v1/models and /metrics answer; /metrics is Prometheus text that counts the requests", async () => {
    const health = await (await fetch(`${url}/health`)).json();
    expect(health).toMatchObject({ status: "ok", model: "tiny", slots: { total: 2, active: 0 }, queue: { length: 0, limit: 16 } });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["tiny"]);
    expect((await client.models.retrieve("tiny")).id).toBe("tiny");

    const response = await fetch(`${url}/metrics`);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = parsePrometheus(await response.text());
    expect(metrics.get('llma_requests_total{endpoint="/v1/chat/completions",status="200"}')).toBeGreaterThanOrEqual(20);
    expect(metrics.get('llma_requests_total{endpoint="/v1/completions",status="200"}')).toBeGreaterThanOrEqual(5);
    expect(metrics.get('llma_requests_total{endpoint="/v1/chat/completions",status="400"}')).toBeGreaterThanOrEqual(10);
    expect(metrics.get('llma_requests_total{endpoint="unmatched",status="404"}')).toBe(1);
    const generated = metrics.get('llma_generated_tokens_total{mode="accelerated"}')!;
    const passes = metrics.get('llma_forward_passes_total{mode="accelerated"}')!;
    expect(generated / passes).toBeGreaterThan(1); // drafts were accepted: more than one token per pass
    expect(metrics.get('llma_draft_tokens_accepted_total{mode="accelerated"}')).toBeGreaterThan(0);
    expect(metrics.get("llma_queue_length")).toBe(0);
    expect(metrics.get("llma_active_requests")).toBe(0);
    expect(metrics.get("llma_slots")).toBe(2);
    const count = metrics.get('llma_request_duration_seconds_count{endpoint="/v1/chat/completions"}')!;
    expect(metrics.get('llma_request_duration_seconds_bucket{endpoint="/v1/chat/completions",le="+Inf"}')).toBe(count);
    const chatRequests = [...metrics].filter(([key]) => key.startsWith('llma_requests_total{endpoint="/v1/chat/completions"')).reduce((sum, [, v]) => sum + v, 0);
    expect(count).toBe(chatRequests);
  });
});

/** Waits (briefly) for a condition on the server's state. */
async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error("timed out waiting for the server");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Parses the Prometheus text format strictly enough to reject malformed output: series -> value. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.trimEnd().split("\n")) {
    if (line === "") continue; // prom-client separates families with a blank line (valid in the format)
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(meta[3]);
        expect(types.has(meta[2])).toBe(false);
        types.set(meta[2], meta[3]);
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (\S+)$/.exec(line);
    expect(sample, `not a Prometheus sample line: ${line}`).not.toBeNull();
    const [, name, labels = "", value] = sample!;
    const family = name.replace(/_(bucket|sum|count)$/, "");
    expect(types.has(name) || types.get(family) === "histogram", `sample ${name} without a TYPE`).toBe(true);
    const number = value === "+Inf" ? Infinity : Number(value);
    expect(Number.isNaN(number)).toBe(false);
    samples.set(`${name}${sortedLabels(labels)}`, number);
  }
  return samples;
}

/** `{b="1",a="2"}` -> `{a="2",b="1"}`: label order carries no meaning, so lookups name labels alphabetically. */
function sortedLabels(labels: string): string {
  if (labels === "") return "";
  const pairs = labels.slice(1, -1).match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"/g)!;
  return `{${[...pairs].sort().join(",")}}`;
}
