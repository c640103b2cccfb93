/**
 * `llma: {trace: true}` on the tiny model, with the official `openai` client: streamed chunks carry
 * every forward pass (draft, verdict, source, texts) and agree with the text and the usage counts;
 * a response that is not streamed carries the whole trace; clients that do not ask see nothing new.
 * Also the playground's static files (GET /, --no-ui).
 */
import OpenAI, { BadRequestError } from "openai";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming } from "openai/resources";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { buildApp, type LlmaServer } from "../../src/server/app.js";
import type { TraceEntry } from "../../src/server/trace.js";

type Body = Record<string, unknown> & { messages: { role: "user" | "system"; content: string }[] };
type TracedChunk = ChatCompletionChunk & { llma?: { trace?: TraceEntry[] } };

const PLAIN = { conversation_references: false, output_references: false } as const;
const MAX_TOKENS = 40;
const question = { role: "user" as const, content: "Where is the Eiffel Tower? Answer in one sentence." };

let model: LlamaCppModel;
let server: LlmaServer;
let url: string;
let client: OpenAI;

async function stream(body: Body) {
  const chunks: TracedChunk[] = [];
  const response = await client.chat.completions.create({ model: "tiny", ...body, stream: true, stream_options: { include_usage: true } } as unknown as ChatCompletionCreateParamsStreaming);
  for await (const chunk of response) chunks.push(chunk as TracedChunk);
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
  const trace = chunks.flatMap((c) => c.llma?.trace ?? []);
  const usage = chunks.at(-1)!.usage!;
  return { chunks, text, trace, usage };
}

async function complete(body: Body) {
  return (await client.chat.completions.create({ model: "tiny", ...body } as unknown as ChatCompletionCreateParamsNonStreaming)) as ChatCompletion & {
    llma: { trace?: TraceEntry[]; accepted_tokens: number; drafted_tokens: number; forward_passes: number };
  };
}

/** The output as the trace tells it: each pass's accepted draft, then the model's own token. */
const tracedText = (trace: readonly TraceEntry[]) => trace.map((e) => e.accepted_text + e.generated_text).join("");
const sum = (trace: readonly TraceEntry[], f: (e: TraceEntry) => number) => trace.reduce((n, e) => n + f(e), 0);

beforeAll(async () => {
  const path = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  model = await LlamaCppModel.load({ model: path, threads: 2, sequences: 1 });
  server = buildApp({ model, modelName: "tiny", policy: "paper" });
  url = await server.listen({ host: "127.0.0.1", port: 0 });
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0 });
});

afterAll(async () => {
  await server?.close(1000);
  await model?.dispose();
});

describe("llma.trace", () => {
  it("clients that do not ask for a trace see no llma field in any chunk, nor a trace in a response", async () => {
    const plain = await stream({ messages: [question], max_tokens: 12, llma: PLAIN });
    expect(plain.chunks.length).toBeGreaterThan(3);
    for (const chunk of plain.chunks) expect(Object.keys(chunk)).not.toContain("llma");
    const response = await complete({ messages: [question], max_tokens: 12, prediction: { type: "content", content: plain.text } });
    expect(response.llma.accepted_tokens).toBeGreaterThan(0);
    expect(Object.keys(response.llma)).not.toContain("trace");
  });

  it("a predicted output: every pass in order, copied spans named 'prediction', texts and counts that agree with the stream and usage", async () => {
    const plain = await complete({ messages: [question], max_tokens: MAX_TOKENS, llma: PLAIN });
    const answer = plain.choices[0].message.content!;
    const traced = await stream({ messages: [question], max_tokens: MAX_TOKENS, prediction: { type: "content", content: answer }, llma: { ...PLAIN, trace: true } });
    expect(traced.text).toBe(answer);
    const { trace, usage } = traced;
    expect(trace.map((e) => e.pass)).toEqual(trace.map((_, i) => i));
    expect(trace[0]).toMatchObject({ pass: 0, drafted: 0, accepted: 0, source: null, rejected_text: "" });
    expect(sum(trace, (e) => e.emitted)).toBe(usage.completion_tokens);
    expect(sum(trace, (e) => e.accepted)).toBe(usage.completion_tokens_details!.accepted_prediction_tokens);
    expect(sum(trace, (e) => e.drafted - e.accepted)).toBe(usage.completion_tokens_details!.rejected_prediction_tokens);
    expect(tracedText(trace)).toBe(answer);
    const copied = trace.filter((e) => e.accepted > 0);
    expect(copied.length).toBeGreaterThan(0);
    expect(copied.every((e) => e.source === "prediction" && e.accepted_text.length > 0)).toBe(true);
    expect(sum(copied, (e) => e.accepted)).toBeGreaterThan(MAX_TOKENS / 2);
    expect(trace.every((e) => e.ms >= 0 && e.emitted <= e.accepted + 1)).toBe(true);
    // Entries ride on the chunks: the role chunk has none, and no chunk carries an empty list.
    expect(traced.chunks[0].llma).toBeUndefined();
    expect(traced.chunks.every((c) => c.llma === undefined || c.llma.trace!.length > 0)).toBe(true);
  });

  it("a wrong reference is drafted, rejected and shown as rejected text; the answer is still plain decoding's; a response that is not streamed carries the whole trace", async () => {
    const plain = await complete({ messages: [question], max_tokens: MAX_TOKENS, llma: PLAIN });
    const answer = plain.choices[0].message.content!;
    // The answer's first half, then something else: drafts from it fail where the answer goes on.
    const cut = Math.floor(answer.length / 2);
    const wrong = `${answer.slice(0, cut)} zebra quartz violin marmalade ${answer.slice(0, cut)} lantern`;
    const traced = await complete({ messages: [question], max_tokens: MAX_TOKENS, references: [wrong], llma: { ...PLAIN, trace: true } });
    expect(traced.choices[0].message.content).toBe(answer);
    const trace = traced.llma.trace!;
    expect(trace.length).toBe(traced.llma.forward_passes);
    expect(tracedText(trace)).toBe(answer);
    expect(sum(trace, (e) => e.drafted)).toBe(traced.llma.drafted_tokens);
    const drafted = trace.filter((e) => e.drafted > 0);
    expect(drafted.length).toBeGreaterThan(0);
    expect(drafted.every((e) => e.source === "reference")).toBe(true);
    const rejected = drafted.filter((e) => e.accepted < e.drafted);
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected.every((e) => e.rejected_text.length > 0)).toBe(true);
  });

  it("the conversation as a source, and the plain sampler's path (penalties): one token a pass, nothing drafted", async () => {
    const plain = await complete({ messages: [question], max_tokens: MAX_TOKENS, llma: PLAIN });
    const answer = plain.choices[0].message.content!;
    // The answer quoted in the conversation: copies come from it.
    const quoted = await complete({ messages: [{ role: "system", content: `Say this: ${answer}` }, question], max_tokens: MAX_TOKENS, llma: { output_references: false, trace: true } });
    const fromConversation = quoted.llma.trace!.filter((e) => e.drafted > 0);
    expect(fromConversation.length).toBeGreaterThan(0);
    expect(fromConversation.every((e) => e.source === "conversation")).toBe(true);

    const penalized = await stream({ messages: [question], max_tokens: 10, frequency_penalty: 0.5, llma: { trace: true } });
    expect(penalized.trace.length).toBeGreaterThanOrEqual(penalized.usage.completion_tokens);
    expect(penalized.trace.every((e) => e.drafted === 0 && e.source === null && e.emitted <= 1)).toBe(true);
    expect(sum(penalized.trace, (e) => e.emitted)).toBe(penalized.usage.completion_tokens);
    expect(tracedText(penalized.trace)).toBe(penalized.text);
  });

  it("completions streams carry the trace the same way", async () => {
    const prompt = "The Eiffel Tower is in Paris. The Eiffel Tower is in";
    const chunks: { choices: { text?: string }[]; llma?: { trace?: TraceEntry[] }; usage?: { completion_tokens: number } | null }[] = [];
    const response = await client.completions.create({ model: "tiny", prompt, max_tokens: 16, stream: true, stream_options: { include_usage: true }, llma: { trace: true } } as never);
    for await (const chunk of response as unknown as AsyncIterable<(typeof chunks)[number]>) chunks.push(chunk);
    const text = chunks.map((c) => c.choices[0]?.text ?? "").join("");
    const trace = chunks.flatMap((c) => c.llma?.trace ?? []);
    expect(trace.map((e) => e.pass)).toEqual(trace.map((_, i) => i));
    expect(tracedText(trace)).toBe(text);
    expect(sum(trace, (e) => e.emitted)).toBe(chunks.at(-1)!.usage!.completion_tokens);
  });

  it("a trace switch that is not a boolean is a 400 naming llma.trace", async () => {
    const error = await complete({ messages: [question], max_tokens: 4, llma: { trace: "yes" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).param).toBe("llma.trace");
    expect((error as BadRequestError).message).toMatch(/llma\.trace/);
  });
});

describe("the playground's files", () => {
  it("GET / serves the page, its script and style from this origin only (CSP), nothing from elsewhere", async () => {
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/ui/app.js">');
    for (const [path, type] of [["/ui/app.js", /^text\/javascript/], ["/ui/style.css", /^text\/css/]] as const) {
      const file = await fetch(`${url}${path}`);
      expect(file.status).toBe(200);
      expect(file.headers.get("content-type")).toMatch(type);
      expect(await file.text()).not.toMatch(/https?:\/\//);
    }
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it("ui: false (llma serve --no-ui) serves no page: GET / is the API's 404", async () => {
    const bare = buildApp({ model, modelName: "tiny", policy: "paper", ui: false });
    try {
      const response = await bare.app.inject({ method: "GET", url: "/" });
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe("unknown_url");
      expect((await bare.app.inject({ method: "GET", url: "/ui/app.js" })).statusCode).toBe(404);
    } finally {
      await bare.close(0);
    }
  });
});
