/**
 * The sampler fields llama-server / Ollama / vLLM clients send (top_k, min_p, repeat_penalty,
 * repeat_last_n, penalize_nl) change the text the way plain sampling or node-llama-cpp's own
 * LlamaCompletion does with the same settings; unknown fields are rejected with a 400 naming them.
 * Client: the official `openai` package (it passes extra body fields through).
 */
import { LlamaCompletion, TokenBias, type Token } from "node-llama-cpp";
import OpenAI, { BadRequestError } from "openai";
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming, Completion, CompletionCreateParamsNonStreaming } from "openai/resources";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel, type LlamaCppSequence } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { generate } from "../../src/core/generate.js";
import { buildApp, type LlmaServer } from "../../src/server/app.js";
import { PENALTY_WINDOW } from "../../src/server/engine.js";

/** Plain decoding: no reference source at all. */
const PLAIN = { llma: { conversation_references: false, output_references: false } } as const;
const PROMPT = "Once upon a time, in a small village by the sea, there lived";
const MAX_TOKENS = 24;

let model: LlamaCppModel;
let server: LlmaServer;
let client: OpenAI;
let url: string;

type Body = Record<string, unknown>;
interface Llma {
  accelerated: boolean;
  forward_passes: number;
  seed?: number;
}

async function complete(body: Body) {
  const { data, response } = await client.completions
    .create({ model: "tiny", prompt: PROMPT, max_tokens: MAX_TOKENS, ...body } as unknown as CompletionCreateParamsNonStreaming)
    .withResponse();
  const completion = data as Completion & { llma: Llma };
  return { text: completion.choices[0].text, llma: completion.llma, accelerated: response.headers.get("x-llma-accelerated") };
}

async function chat(body: Body) {
  const data = (await client.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content: "Tell me a story about the sea." }],
    max_tokens: MAX_TOKENS,
    ...body,
  } as unknown as ChatCompletionCreateParamsNonStreaming)) as ChatCompletion;
  return data.choices[0].message.content ?? "";
}

/** node-llama-cpp's own completion of PROMPT on a sequence of the same model (the server's slots are the others). */
async function llamaCompletion(options: Parameters<LlamaCompletion["generateCompletion"]>[1]): Promise<string> {
  const sequence = (await model.createSequence()) as LlamaCppSequence;
  try {
    const completion = new LlamaCompletion({ contextSequence: sequence.sequence });
    return await completion.generateCompletion(// LlamaCompletion prepends the BOS itself.
      model.tokenize(PROMPT, { bos: false }) as Token[], { maxTokens: MAX_TOKENS, ...options });
  } finally {
    sequence.dispose();
  }
}

beforeAll(async () => {
  const path = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  // Three sequences: two slots for the server, one for node-llama-cpp's LlamaCompletion.
  model = await LlamaCppModel.load({ model: path, threads: 1, sequences: 3 });
  server = buildApp({ model, modelName: "tiny", parallel: 2, policy: "paper" });
  url = await server.listen({ host: "127.0.0.1", port: 0 });
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0 });
});

afterAll(async () => {
  await server?.close(1000);
  await model?.dispose();
});

describe("sampler fields", () => {
  it("top_k: 1 at temperature 1 is greedy decoding (accelerated; also on node-llama-cpp's sampler path); top_k 0 and -1 mean no limit", async () => {
    const greedy = await complete({ temperature: 0, ...PLAIN });
    const sampled = await complete({ temperature: 1, seed: 7, ...PLAIN });
    // Without top_k, temperature 1 samples away from the greedy text: the field is what makes them equal.
    expect(sampled.text).not.toBe(greedy.text);
    for (const seed of [7, 8]) {
      const topOne = await complete({ temperature: 1, top_k: 1, seed, ...PLAIN });
      expect(topOne.text).toBe(greedy.text);
      expect(topOne.accelerated).toBe("true");
    }
    expect((await complete({ temperature: 1, top_k: 0, seed: 7, ...PLAIN })).text).toBe(sampled.text);
    expect((await complete({ temperature: 1, top_k: -1, seed: 7, ...PLAIN })).text).toBe(sampled.text);

    // With a penalty the request runs on node-llama-cpp's sampler: top_k 1 there is its greedy choice too.
    const penalizedGreedy = await complete({ temperature: 0, presence_penalty: 0.8 });
    const penalizedTopOne = await complete({ temperature: 1, top_k: 1, seed: 3, presence_penalty: 0.8 });
    expect(penalizedTopOne.accelerated).toBe("false");
    expect(penalizedTopOne.text).toBe(penalizedGreedy.text);
    expect(await chat({ temperature: 1, top_k: 1, seed: 11, ...PLAIN })).toBe(await chat({ temperature: 0, ...PLAIN }));
  });

  it("min_p: the text is plain sampling's with the same min_p and seed (llma's generate, no references), losslessly accelerated; a no-op when greedy", async () => {
    const prompt = model.tokenize(PROMPT, { bos: true });
    let changed = false;
    for (const seed of [1, 2, 3]) {
      const served = await complete({ temperature: 1.5, min_p: 0.3, seed, ...PLAIN });
      expect(served.accelerated).toBe("true");
      const plain = await generate(model, { prompt, method: "greedy", temperature: 1.5, minP: 0.3, seed, maxTokens: MAX_TOKENS });
      expect(served.text).toBe(plain.text);
      if ((await complete({ temperature: 1.5, seed, ...PLAIN })).text !== served.text) changed = true;
      // The answer as the prediction: the same text, in fewer forward passes.
      const predicted = await complete({ temperature: 1.5, min_p: 0.3, seed, prediction: { type: "content", content: served.text } });
      expect(predicted.text).toBe(served.text);
      expect(predicted.llma.forward_passes).toBeLessThan(served.llma.forward_passes);
    }
    // min_p 0.3 removes unlikely tokens: with at least one of three seeds the text differs from unfiltered sampling.
    expect(changed).toBe(true);
    expect((await complete({ temperature: 0, min_p: 0.5, ...PLAIN })).text).toBe((await complete({ temperature: 0, ...PLAIN })).text);
  });

  // The tiny model's random weights rarely repeat a token, so these tests make one likely with logit_bias
  // (+20 on " hello": without penalties greedy decoding says it at (almost) every position).
  const hello = () => model.tokenize("hello", { bos: false }).at(-1)!;
  const helloBias = () => new TokenBias(model.model.tokenizer).set(hello() as Token, { logit: 20 });
  const count = (text: string) => text.split(" hello").length - 1;

  it("repeat_penalty: the text is node-llama-cpp's LlamaCompletion's with the same settings (greedy or seeded), and repeats less", async () => {
    const unpenalized = await complete({ temperature: 0, logit_bias: { [hello()]: 20 } });
    expect(count(unpenalized.text)).toBeGreaterThanOrEqual(MAX_TOKENS - 1); // every token but perhaps the first
    expect(unpenalized.text).toBe(await llamaCompletion({ temperature: 0, tokenBias: helloBias, repeatPenalty: false }));

    const penalized = await complete({ temperature: 0, logit_bias: { [hello()]: 20 }, repeat_penalty: 1.5 });
    expect(penalized.accelerated).toBe("false");
    expect(penalized.text).toBe(await llamaCompletion({ temperature: 0, tokenBias: helloBias, repeatPenalty: { penalty: 1.5, lastTokens: PENALTY_WINDOW, penalizeNewLine: true } }));
    expect(count(penalized.text)).toBeGreaterThan(0);
    expect(count(penalized.text)).toBeLessThan(MAX_TOKENS / 2);

    // Seeded, with top_k and min_p on the same path.
    const sampled = await complete({ temperature: 0.8, seed: 9, repeat_penalty: 1.3, min_p: 0.05, top_k: 40 });
    expect(sampled.text).toBe(
      await llamaCompletion({ temperature: 0.8, seed: 9, topK: 40, topP: 1, minP: 0.05, repeatPenalty: { penalty: 1.3, lastTokens: PENALTY_WINDOW, penalizeNewLine: true } }),
    );
    expect((await complete({ temperature: 0.8, seed: 9, repeat_penalty: 1.3, min_p: 0.05, top_k: 40 })).text).toBe(sampled.text);
  });

  it("repeat_last_n sets the penalties' window (-1: the whole output; 0: off, accelerated); penalize_nl: false is LlamaCompletion's penalizeNewLine: false", async () => {
    const bias = { [hello()]: 20 };
    const punishing = (lastTokens: number, penalizeNewLine = true) => ({ temperature: 0, tokenBias: helloBias, repeatPenalty: { penalty: 1.5, lastTokens, penalizeNewLine } });
    const windowed = await complete({ temperature: 0, logit_bias: bias, repeat_penalty: 1.5, repeat_last_n: 2 });
    expect(windowed.text).toBe(await llamaCompletion(punishing(2)));
    // A window of 2 forgets " hello" two tokens later: it comes back more often than with the default window.
    expect(count(windowed.text)).toBeGreaterThan(count((await complete({ temperature: 0, logit_bias: bias, repeat_penalty: 1.5 })).text));
    const whole = await complete({ temperature: 0, logit_bias: bias, repeat_penalty: 1.5, repeat_last_n: -1 });
    expect(whole.text).toBe(await llamaCompletion(punishing(MAX_TOKENS)));

    const off = await complete({ temperature: 0, repeat_penalty: 1.5, repeat_last_n: 0, ...PLAIN });
    expect(off.accelerated).toBe("true");
    expect(off.text).toBe((await complete({ temperature: 0, ...PLAIN })).text);

    const noNewline = await complete({ temperature: 0, logit_bias: bias, repeat_penalty: 1.5, penalize_nl: false });
    expect(noNewline.text).toBe(await llamaCompletion(punishing(PENALTY_WINDOW, false)));
  });
});

describe("unknown and bad fields", () => {
  async function rejection(path: "/v1/chat/completions" | "/v1/completions", body: Body) {
    const base = path === "/v1/completions" ? { prompt: PROMPT, max_tokens: 4 } : { messages: [{ role: "user", content: "x" }], max_tokens: 4 };
    const error = await (path === "/v1/completions"
      ? client.completions.create({ model: "tiny", ...base, ...body } as unknown as CompletionCreateParamsNonStreaming)
      : client.chat.completions.create({ model: "tiny", ...base, ...body } as unknown as ChatCompletionCreateParamsNonStreaming)
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    const bad = error as BadRequestError;
    expect(bad.status).toBe(400);
    expect(bad.type).toBe("invalid_request_error");
    return bad;
  }

  it.each([
    ["/v1/chat/completions", { frobnicate: true }, "frobnicate", "unknown_parameter", /Unrecognized request argument supplied: 'frobnicate'/],
    ["/v1/completions", { num_predict: 8 }, "num_predict", "unknown_parameter", /Unrecognized request argument supplied: 'num_predict'/],
    ["/v1/chat/completions", { typical_p: 0.9 }, "typical_p", "unsupported_parameter", /Unsupported 'typical_p': locally typical sampling/],
    ["/v1/completions", { mirostat: 2 }, "mirostat", "unsupported_parameter", /Unsupported 'mirostat'/],
    ["/v1/chat/completions", { top_k: 1.5 }, "top_k", "invalid_value", /Invalid 'top_k'/],
    ["/v1/chat/completions", { top_k: -2 }, "top_k", "invalid_value", /Invalid 'top_k'/],
    ["/v1/completions", { min_p: 1 }, "min_p", "invalid_value", /Invalid 'min_p'/],
    ["/v1/completions", { repeat_penalty: 0 }, "repeat_penalty", "invalid_value", /Invalid 'repeat_penalty'/],
    ["/v1/completions", { repeat_last_n: -2 }, "repeat_last_n", "invalid_value", /Invalid 'repeat_last_n'/],
    ["/v1/chat/completions", { penalize_nl: "yes" }, "penalize_nl", "invalid_value", /Invalid 'penalize_nl'/],
    // Known and not served: its own clear 400, not the unknown-field one.
    ["/v1/chat/completions", { functions: [{ name: "f", parameters: {} }] }, "functions", "unsupported_parameter", /Unsupported 'functions'/],
  ] as const)("%s %j: 400 naming the field", async (path, body, param, code, message) => {
    const error = await rejection(path, body);
    expect(error.param).toBe(param);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it("the error is OpenAI's shape; text-neutral fields are accepted and change nothing", async () => {
    const response = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: PROMPT, max_tokens: 4, bogus: 1 }),
    });
    expect(response.status).toBe(400);
    const json = (await response.json()) as { error: Record<string, unknown> };
    expect(Object.keys(json.error).sort()).toEqual(["code", "message", "param", "type"]);
    expect(json.error).toMatchObject({ type: "invalid_request_error", param: "bogus", code: "unknown_parameter" });

    const plain = await complete({ temperature: 0, ...PLAIN });
    const neutral = await complete({
      temperature: 0,
      ...PLAIN,
      user: "someone",
      metadata: { a: "b" },
      store: false,
      service_tier: "auto",
      prompt_cache_key: "k",
      safety_identifier: "s",
    });
    expect(neutral.text).toBe(plain.text);
  });
});
