/**
 * The server reports exactness: /v1/models says whether the model's batched passes were measured exact
 * and what the server does about it, and every response's `llma` block says whether its text is
 * guaranteed identical to plain decoding. An F16 KV cache with one thread is exact up to 32-token
 * passes (see test/backends/strict.test.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exactnessFor } from "../../src/backends/exactness.js";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { buildApp, type LlmaServer } from "../../src/server/app.js";

let dir: string;
let model: LlamaCppModel;
let strict: LlmaServer;
let relaxed: LlmaServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "llma-server-exactness-"));
  model = await LlamaCppModel.load({ model: await ensureModel({ shape: "tiny", quant: "Q8_0" }), threads: 1, contextSize: 1024, kvCacheType: "F16", sequences: 2, probeExactness: false });
  model.exactness = await exactnessFor(model, { cacheFile: join(dir, "exactness.json") });
  strict = buildApp({ model, modelName: "tiny", parallel: 1, policy: "paper" });
  relaxed = buildApp({ model, modelName: "tiny", parallel: 1, policy: "paper", exactness: "relaxed" });
}, 120_000);
afterAll(async () => {
  await strict?.close(0);
  await relaxed?.close(0);
  await model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("server exactness reporting", () => {
  it("/v1/models carries the verdict and the mode", async () => {
    const models = (await strict.app.inject({ method: "GET", url: "/v1/models" })).json();
    expect(models.data[0].llma).toEqual({ exactness: "strict", exact: false, exact_up_to: 32, kv_cache_type: "F16", threads: 1, backend: false });
    const one = (await relaxed.app.inject({ method: "GET", url: "/v1/models/tiny" })).json();
    expect(one.llma).toMatchObject({ exactness: "relaxed", exact: false, exact_up_to: 32 });
  });

  it("responses say whether the text is guaranteed identical", async () => {
    const body = { model: "tiny", prompt: "The Eiffel Tower is in", max_tokens: 24 };
    const plain = (await strict.app.inject({ method: "POST", url: "/v1/completions", payload: body })).json();
    const text = plain.choices[0].text as string;
    const predicted = (await strict.app.inject({ method: "POST", url: "/v1/completions", payload: { ...body, prediction: { type: "content", content: text } } })).json();
    expect(predicted.choices[0].text).toBe(text);
    expect(predicted.usage.completion_tokens_details.accepted_prediction_tokens).toBeGreaterThan(0);
    expect(predicted.llma.exact).toBe(true);
    // Relaxed: its 21-token passes (the paper's k = 20) are within the exact 32, and on an inexact model
    // no prompt cells are reused (another prompt pass width would change the output), so still guaranteed.
    const loose = (await relaxed.app.inject({ method: "POST", url: "/v1/completions", payload: { ...body, prediction: { type: "content", content: text } } })).json();
    expect(loose.choices[0].text).toBe(text);
    expect(loose.usage.prompt_tokens_details.cached_tokens).toBe(0);
    expect(loose.llma.exact).toBe(true);
  }, 60_000);
});
