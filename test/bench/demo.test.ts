/**
 * The demo's scenarios on the tiny model: every row identical to node-llama-cpp's own generation (free
 * rows) or to the target (forced rows), and the cache-hit and edit rows drafting from their references.
 * Speed is the demo's to show on the machine it runs on, never a test's claim.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { loadDataset } from "../../src/bench/dataset.js";
import { demoEdits, runDemo, SCENARIOS } from "../../src/bench/demo.js";

describe("llma demo's scenarios", () => {
  let model: LlamaCppModel;
  beforeAll(async () => {
    model = await LlamaCppModel.load({ model: await ensureModel({ shape: "tiny", quant: "Q8_0" }), threads: 2, contextSize: 2048 });
  });
  afterAll(async () => model?.dispose());

  it("runs retrieval, cache hit and edit rows, identical everywhere, drafting where the output is in a reference", async () => {
    const rag = await loadDataset("bench/data/llma-rag.jsonl");
    const edits = demoEdits(await loadDataset("bench/data/llma-cnndm.jsonl"));
    const report = await runDemo({ model, rag, edits, samples: 1, maxTokens: 32 });
    expect(report.rows.map((r) => r.scenario)).toEqual([...SCENARIOS]);
    expect(report.identical).toBe(true);
    for (const row of report.rows) {
      expect(row.identical, row.scenario).toBe(true);
      expect(row.speedup).toBeGreaterThan(0);
    }
    // The cached answer is the model's own output and the edit keeps most of its prediction: both copy.
    expect(report.rows.find((r) => r.scenario === "cache-hit")!.llmaPasses).toBeLessThan(report.rows.find((r) => r.scenario === "cache-hit")!.nativePasses);
    expect(report.rows.find((r) => r.scenario === "edit")!.tokensPerPass).toBeGreaterThan(1.5);
    expect(report.oracleMedian).toBeGreaterThanOrEqual(1);
    expect(report.passCost[0].tokens).toBe(1);
  }, 300_000);
});
