/**
 * The default policy on a virtual clock (src/bench/policy-sim.ts: the real decode loop, proposer and
 * policy; each pass charged at a fixed cost curve's price), on the bundled data tokenized with LLaMA-2's
 * vocabulary, against plain decoding, the best fixed k and the oracle bound. The curve is the steep one
 * measured on the TinyLlama-1.1B shape on this 2-core CPU, where a careless draft costs most: a 2-token
 * pass costs 1.9x a one-token pass, a 64-token pass 30x.
 *
 * Before the optimism cap and the time budget for exploration (src/core/policy.ts, cost-model.ts) the
 * policy ran CNN/DM at 0.85x plain decoding here and RAG at 1.00x.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { loadTokenizer } from "../../src/backends/tokenizer.js";
import { loadDataset, type Dataset } from "../../src/bench/dataset.js";
import { simulatePolicy } from "../../src/bench/policy-sim.js";
import { cacheHitSet } from "../../src/bench/sets.js";
import { tokenizeSample, type TokenizedSample } from "../../src/bench/simulate.js";
import { CostCurve, PassCostModel } from "../../src/core/cost-model.js";
import { AcceptanceModel, CostAwarePolicy, FixedPolicy } from "../../src/core/policy.js";

const STEEP = new CostCurve(
  [
    [1, 59],
    [2, 110],
    [4, 160],
    [8, 280],
    [16, 500],
    [32, 950],
    [64, 1800],
  ].map(([tokens, ms]) => ({ tokens, ms })),
);

let tokenizer: Awaited<ReturnType<typeof loadTokenizer>>;
const tokenized = (dataset: Dataset, n: number): TokenizedSample[] => dataset.samples.slice(0, n).map((s) => tokenizeSample(tokenizer, s));
let rag: Dataset;
let cnndm: Dataset;
beforeAll(async () => {
  tokenizer = await loadTokenizer(await ensureModel({ shape: "tiny", quant: "Q8_0" }));
  rag = await loadDataset("bench/data/llma-rag.jsonl");
  cnndm = await loadDataset("bench/data/llma-cnndm.jsonl");
});
afterAll(async () => tokenizer?.close());

/** The default policy as a model's requests share it: one cost model and one acceptance model. */
async function auto(samples: readonly TokenizedSample[], curve: CostCurve) {
  const costs = new PassCostModel(curve);
  const acceptance = new AcceptanceModel();
  return simulatePolicy(samples, curve, () => new CostAwarePolicy(costs, { acceptance: acceptance.forRequest() }), costs);
}

async function bestFixed(samples: readonly TokenizedSample[], curve: CostCurve): Promise<number> {
  let best = 0;
  for (const k of [1, 2, 4, 8, 16, 32]) best = Math.max(best, (await simulatePolicy(samples, curve, () => new FixedPolicy(1, k))).speedup);
  return best;
}

describe("the default policy on a steep CPU curve (virtual clock, 20 samples per set)", () => {
  it("CNN/DM (little to copy): no slower than plain decoding beyond 3%, ahead of every fixed k", async () => {
    const samples = tokenized(cnndm, 20);
    const result = await auto(samples, STEEP);
    expect(result.speedup).toBeGreaterThanOrEqual(0.97);
    expect(result.speedup).toBeGreaterThan(await bestFixed(samples, STEEP));
  });

  it("RAG: faster than plain decoding and than every fixed k", async () => {
    const samples = tokenized(rag, 20);
    const result = await auto(samples, STEEP);
    expect(result.speedup).toBeGreaterThan(1.05);
    expect(result.speedup).toBeGreaterThan(await bestFixed(samples, STEEP));
  });

  it("a cache hit (the answer as reference): >= 90% of the oracle bound and of the best fixed k", async () => {
    const samples = tokenized(cacheHitSet(rag), 20);
    const result = await auto(samples, STEEP);
    expect(result.fractionOfOracle).toBeGreaterThanOrEqual(0.9);
    expect(result.speedup / (await bestFixed(samples, STEEP))).toBeGreaterThanOrEqual(0.9);
  });
});
