/**
 * node-llama-cpp 3.21 leaves a vocabulary-sized native buffer per controlledEvaluate call to the
 * garbage collector (see src/backends/native-garbage.ts). Without llma's collection a server's
 * memory grew by gigabytes; this checks that many passes on parallel sequences keep RSS bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";

describe("native memory of forward passes", () => {
  let model: LlamaCppModel;
  beforeAll(async () => {
    model = await LlamaCppModel.load({ model: await ensureModel({ shape: "tiny", quant: "Q8_0" }), threads: 1, contextSize: 1024, sequences: 2 });
  }, 120_000);
  afterAll(async () => {
    await model?.dispose();
  });

  it("stays bounded over 3,000 passes on 2 parallel sequences (each pass used to leave 384 KB until a rare GC)", async () => {
    const rss = () => process.memoryUsage().rss / 2 ** 20;
    const passes = async (count: number) => {
      const sequence = await model.createSequence();
      try {
        await sequence.evaluate([1, 300, 301, 302]);
        for (let i = 0; i < count; i++) {
          await sequence.evaluate([400 + (i % 100)]);
          await sequence.truncate(4);
        }
      } finally {
        sequence.dispose();
      }
    };
    await Promise.all([passes(200), passes(200)]); // warm-up: allocator pools, first collection
    const before = rss();
    await Promise.all([passes(1500), passes(1500)]);
    const growth = rss() - before;
    // Uncollected, 3,000 passes x 384 KB = 1.1 GB; collected every 64 MB, growth stays near that.
    expect(growth, `RSS grew by ${growth.toFixed(0)} MiB`).toBeLessThan(200);
  }, 180_000);
});
