/**
 * The exactness probe on the tiny model: llma's default settings (flash attention, Q8_0 KV cache) give
 * batched passes bit-identical to one-token passes; an F16 KV cache with two threads does not once the
 * cache holds more than 256 cells (llama.cpp's CPU flash attention splits a one-token pass's cache
 * across threads there and sums in another order). Verdicts are cached per model file and settings.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exactnessAdvice, exactnessFor, exactnessWarning, PROBE_ANCHORS, probePlan } from "../../src/backends/exactness.js";
import { LlamaCppModel, type KvCacheType } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";

let dir: string;
let path: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "llma-exactness-"));
  path = await ensureModel({ shape: "tiny", quant: "Q8_0" });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withModel<T>(kvCacheType: KvCacheType, threads: number, body: (model: LlamaCppModel) => Promise<T>): Promise<T> {
  const model = await LlamaCppModel.load({ model: path, threads, contextSize: 2048, kvCacheType, probeExactness: false });
  try {
    return await body(model);
  } finally {
    await model.dispose();
  }
}

describe("exactness probe", () => {
  it("calls the default settings (Q8_0 KV cache, flash attention) exact at every width, past 256 and 1,024 cached tokens", async () => {
    // One thread keeps this fast on a busy machine; lossless.test.ts runs the same settings with two.
    // The matrix's anchors (a load probes past 256 only: LOAD_PROBE_ANCHORS).
    const verdict = await withModel("Q8_0", 1, (model) => exactnessFor(model, { cacheFile: join(dir, "a.json"), anchors: PROBE_ANCHORS }));
    expect(verdict.anchors).toEqual([272, 1040]);
    expect(verdict.runTokens).toBe(64);
    expect(verdict.widths.map((w) => w.width)).toEqual([2, 3, 4, 8, 16, 32, 64]);
    for (const width of verdict.widths) expect(width, `width ${width.width}`).toMatchObject({ argmaxEqual: true, bitsEqual: true });
    expect(verdict.exact).toBe(true);
    expect(verdict.exactUpTo).toBe(64);
    expect(verdict.settings).toMatchObject({ kvCacheType: "Q8_0", flashAttention: true, threads: 1, backend: false });
    expect(exactnessWarning(verdict, "strict")).toBeUndefined();
  }, 120_000);

  it("calls an F16 KV cache with 2 threads not exact past 256 cached tokens (known bad), and says what to change", async () => {
    // Two threads: with one, llama.cpp never splits the cache across threads (only width 64 differs then).
    const [short, long] = await withModel("F16", 2, async (model) => [
      await exactnessFor(model, { cacheFile: join(dir, "b.json"), widths: [2, 4], anchors: [16] }),
      await exactnessFor(model, { cacheFile: join(dir, "b.json"), widths: [2, 4], anchors: [272] }),
    ]);
    expect(short.exact).toBe(true); // 16 + 4 cached cells: the one-token pass takes the batched passes' kernel
    const verdict = long;
    expect(verdict.exact).toBe(false);
    expect(verdict.exactUpTo).toBe(1); // width 2 already differs
    const first = verdict.widths[0];
    expect(first.width).toBe(2);
    expect(first.bitsEqual).toBe(false);
    expect(first.firstDiff!.cachedTokens).toBeGreaterThan(256);
    expect(exactnessAdvice(verdict).join(" ")).toMatch(/--kv-type Q8_0/);
    expect(exactnessWarning(verdict, "strict")).toMatch(/no speed-up/);
    expect(exactnessWarning(verdict, "relaxed")).toMatch(/NOT guaranteed identical/);
  }, 120_000);

  it("caches the verdict per model file and settings (hit, miss on other settings, refresh)", async () => {
    const cacheFile = join(dir, "cache.json");
    let probes = 0;
    const onProbe = () => probes++;
    await withModel("Q8_0", 1, async (model) => {
      const first = await exactnessFor(model, { cacheFile, onProbe, widths: [2, 4] });
      expect(first.cached).toBe(false);
      const second = await exactnessFor(model, { cacheFile, onProbe, widths: [2, 4] });
      expect(second.cached).toBe(true);
      expect({ ...second, cached: false }).toEqual(first);
      expect(probes).toBe(1);
      // What the probe checks is part of the key.
      expect((await exactnessFor(model, { cacheFile, onProbe, widths: [2] })).cached).toBe(false);
      expect((await exactnessFor(model, { cacheFile, onProbe, widths: [2, 4], refresh: true })).cached).toBe(false);
      expect(probes).toBe(3);
    });
    // Another KV type (and another thread count) is another key.
    await withModel("BF16", 1, async (model) => {
      expect((await exactnessFor(model, { cacheFile, onProbe, widths: [2, 4] })).cached).toBe(false);
    });
    await withModel("Q8_0", 2, async (model) => {
      expect((await exactnessFor(model, { cacheFile, onProbe, widths: [2, 4] })).cached).toBe(false);
    });
    expect(probes).toBe(5);
    const file = JSON.parse(await readFile(cacheFile, "utf8")) as Record<string, unknown>;
    expect(Object.keys(file)).toHaveLength(4); // refresh replaced its entry
  }, 120_000);

  it("LlamaCppModel.load probes by default and keeps the verdict on the model", async () => {
    const previous = process.env.LLMA_CACHE_DIR;
    process.env.LLMA_CACHE_DIR = dir; // the default cache file lives in llma's cache directory
    try {
      const model = await LlamaCppModel.load({ model: path, threads: 1, contextSize: 512 });
      try {
        expect(model.exactness).toBeDefined();
        expect(model.exactness!.exact).toBe(true);
        expect(model.exactness!.anchors).toEqual([272]); // a load probes past 256 cells only (LOAD_PROBE_ANCHORS)
      } finally {
        await model.dispose();
      }
      const cached = JSON.parse(await readFile(join(dir, "exactness.json"), "utf8")) as Record<string, unknown>;
      expect(Object.keys(cached)).toHaveLength(1);
    } finally {
      if (previous === undefined) delete process.env.LLMA_CACHE_DIR;
      else process.env.LLMA_CACHE_DIR = previous;
    }
  }, 120_000);

  it("fits its plan to small contexts and batches", () => {
    expect(probePlan({ batchSize: 512, contextSize: 4095 })).toEqual({ widths: [2, 3, 4, 8, 16, 32, 64], anchors: [272], runTokens: 64 });
    expect(probePlan({ batchSize: 512, contextSize: 4095 }, { anchors: PROBE_ANCHORS })).toEqual({ widths: [2, 3, 4, 8, 16, 32, 64], anchors: [272, 1040], runTokens: 64 });
    expect(probePlan({ batchSize: 8, contextSize: 4095 }, { anchors: PROBE_ANCHORS })).toEqual({ widths: [2, 3, 4, 8], anchors: [272, 1040], runTokens: 8 });
    const small = probePlan({ batchSize: 512, contextSize: 63 });
    expect(small.anchors[0] + small.runTokens).toBeLessThan(63);
    expect(Math.max(...small.widths)).toBeLessThanOrEqual(small.runTokens);
    expect(() => probePlan({ batchSize: 512, contextSize: 4095 }, { widths: [1] })).toThrow(/>= 2/);
  });

  it("advises by what was measured and what the weights are (F16 weights, Q4_K on the CPU, an exact verdict)", () => {
    const settings = { threads: 2, kvCacheType: "Q8_0", flashAttention: true, backend: false as const, contextSize: 2048, batchSize: 512 };
    const verdict = (exactUpTo: number, weights: string) => ({
      exact: exactUpTo === 64,
      exactUpTo,
      widths: [2, 3, 4, 8, 16, 32, 64].map((width) => ({ width, argmaxEqual: true, bitsEqual: width <= exactUpTo, ...(width > exactUpTo ? { firstDiff: { cachedTokens: 273, kind: "bits" as const } } : {}) })),
      ms: 1,
      anchors: [272],
      runTokens: 64,
      bitsPositions: 22,
      settings,
      weights,
    });
    expect(exactnessAdvice(verdict(1, "MOSTLY_F16")).join(" ")).toMatch(/use Q8_0 or Q4_0 weights: MOSTLY_F16 weights/);
    expect(exactnessWarning(verdict(1, "MOSTLY_F16"), "strict")).toMatch(/width 2 first differs after 273 cached tokens, logit bits.*no speed-up/);
    expect(exactnessAdvice(verdict(3, "MOSTLY_Q4_K_M")).join(" ")).toMatch(/use Q5_K_M, Q6_K, Q8_0 or Q4_0 weights/);
    expect(exactnessWarning(verdict(3, "MOSTLY_Q4_K_M"), "strict")).toMatch(/passes of at most 3 tokens/);
    expect(exactnessAdvice(verdict(64, "MOSTLY_F16"))).toEqual([]); // F16 weights measured exact (CI's CPU): nothing to change
    expect(exactnessWarning(verdict(64, "MOSTLY_F16"), "strict")).toBeUndefined();
  });
});
