/**
 * Strict vs relaxed on a real configuration the probe calls not exact: an F16 KV cache (one thread:
 * passes of up to 32 tokens are exact, the 64-token pass takes llama.cpp's tiled flash-attention
 * kernel and is not). With a long prompt (> 256 tokens) and the true continuation as the reference,
 * drafts are accepted, so the kernels' difference can reach the output: relaxed mode (64-token passes)
 * is flagged not exact (on this dev machine seed 1 diverged from plain decoding; whether a logit
 * difference flips a greedy choice depends on the CPU's kernels, and on CI's machine it did not), strict
 * mode (passes capped at the probe's widest exact width) is identical and still drafts, on every seed.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exactnessFor } from "../../src/backends/exactness.js";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { generate } from "../../src/core/generate.js";
import { mulberry32 } from "../../src/core/random.js";

let dir: string;
let model: LlamaCppModel;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "llma-strict-"));
  model = await LlamaCppModel.load({ model: await ensureModel({ shape: "tiny", quant: "Q8_0" }), threads: 1, contextSize: 1024, kvCacheType: "F16", probeExactness: false });
  model.exactness = await exactnessFor(model, { cacheFile: join(dir, "exactness.json") });
}, 120_000);
afterAll(async () => {
  await model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("strict and relaxed exactness on an F16 KV cache", () => {
  it("the probe calls it not exact beyond 32-token passes", () => {
    expect(model.exactness!.exact).toBe(false);
    expect(model.exactness!.exactUpTo).toBe(32);
    expect(model.exactness!.widths.find((w) => w.width === 64)!.firstDiff!.cachedTokens).toBeGreaterThan(256);
  });

  it("relaxed runs 64-token passes and is flagged not exact; strict is identical and still drafts (3 prompts)", async () => {
    let diverged = 0;
    for (const seed of [1, 3, 4]) {
      const random = mulberry32(seed);
      const prompt = [1, ...Array.from({ length: 300 }, () => 300 + Math.floor(random() * 20000))];
      const plain = await generate(model, { prompt, method: "greedy", maxTokens: 128 });
      const request = { prompt, references: [plain.tokens], policy: "paper" as const, n: 1, k: 63, maxTokens: 128 };

      const relaxed = await generate(model, { ...request, exactness: "relaxed" });
      expect(relaxed.stats.widestPass).toBe(64);
      expect(relaxed.stats.acceptedTokens).toBeGreaterThan(0);
      expect(relaxed.stats.exact).toBe(false);
      if (relaxed.tokens.some((t, i) => t !== plain.tokens[i]) || relaxed.tokens.length !== plain.tokens.length) diverged++;

      const strict = await generate(model, request); // strict is the default
      expect(strict.stats.exactness).toBe("strict");
      expect(strict.stats.widestPass).toBeLessThanOrEqual(32);
      expect(strict.stats.acceptedTokens).toBeGreaterThan(plain.tokens.length / 2); // still drafting, at exact widths
      expect(strict.tokens, `seed ${seed}`).toEqual(plain.tokens);
      expect(strict.stats.exact).toBe(true);
    }
    // Not asserted: it is the machine's kernels that decide whether relaxed output differs.
    console.log(`strict.test: relaxed output diverged from plain decoding on ${diverged} of 3 prompts`);
  }, 240_000);

  it("never reuses cached prompt cells on this inexact model (another prompt pass width changes the first token)", async () => {
    const random = mulberry32(2);
    const prompt = [1, ...Array.from({ length: 300 }, () => 300 + Math.floor(random() * 20000))];
    const first = await generate(model, { prompt, method: "greedy", maxTokens: 8 });
    const again = await generate(model, { prompt: [...prompt, ...first.tokens], method: "greedy", maxTokens: 8 });
    expect(first.stats.reusedPromptTokens).toBe(0);
    expect(again.stats.reusedPromptTokens).toBe(0);
  }, 120_000);
});
