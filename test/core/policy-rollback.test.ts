/**
 * The cost-aware policy on a model whose rollback re-evaluates (recurrent state): a draft rejected at its
 * j-th token costs one more pass over j tokens, and the policy's expected rate must include it.
 */
import { describe, expect, it } from "vitest";
import { CostCurve } from "../../src/core/cost-model.js";
import { AcceptanceModel, CostAwarePolicy } from "../../src/core/policy.js";
import { mulberry32 } from "../helpers/random.js";

const cpu = CostCurve.linear(27, 11.5);

/** Acceptance learnt from 16-token drafts whose tokens were each accepted with probability p (given the ones before). */
function trained(p: number, times = 400): AcceptanceModel {
  const model = new AcceptanceModel();
  const random = mulberry32(5);
  for (let i = 0; i < times; i++) {
    let accepted = 0;
    while (accepted < 16 && random() < p) accepted++;
    model.record(16, accepted, { matchLength: 3, available: 16 });
  }
  return model;
}

/** Tokens per ms of always drafting d tokens, by simulation: rejections pay a re-evaluation of the kept tokens. */
function simulatedRate(acceptance: AcceptanceModel, d: number, reevaluates: boolean): number {
  const random = mulberry32(11);
  let tokens = 0;
  let ms = 0;
  for (let trial = 0; trial < 100_000; trial++) {
    let accepted = 0;
    while (accepted < d && random() < acceptance.probability(undefined, 3 + accepted)) accepted++;
    tokens += 1 + accepted;
    ms += cpu.cost(1 + d) + (reevaluates && accepted < d ? cpu.cost(1 + accepted) : 0);
  }
  return tokens / ms;
}

describe("CostAwarePolicy with rollbackReevaluates", () => {
  const context = { matchLength: 3, available: 30 };

  it("its expected rate is the simulated rate of its chosen draft length, re-evaluations included", () => {
    const acceptance = trained(0.8);
    const plan = new CostAwarePolicy(cpu, { acceptance, rollbackReevaluates: true }).plan(context);
    expect(plan.length).toBeGreaterThan(0);
    const simulated = simulatedRate(acceptance, plan.length, true);
    expect(Math.abs(plan.rate - simulated) / simulated).toBeLessThan(0.01);
    // Not the rate it would expect without re-evaluations (the test would not notice the term missing).
    expect(Math.abs(simulatedRate(acceptance, plan.length, false) - simulated) / simulated).toBeGreaterThan(0.05);
  });

  it("picks the best length under re-evaluation costs (brute force over simulated rates)", () => {
    const acceptance = trained(0.8);
    const chosen = new CostAwarePolicy(cpu, { acceptance, rollbackReevaluates: true }).draftLength(context);
    const rates = Array.from({ length: 13 }, (_, d) => simulatedRate(acceptance, d, true));
    const best = rates.indexOf(Math.max(...rates));
    expect(rates[chosen]).toBeGreaterThanOrEqual(rates[best] * 0.99);
  });

  it("drafts less, or not at all, where a transformer would still draft", () => {
    const acceptance = trained(0.55);
    const transformer = new CostAwarePolicy(cpu, { acceptance }).draftLength(context);
    const recurrent = new CostAwarePolicy(cpu, { acceptance, rollbackReevaluates: true }).draftLength(context);
    expect(transformer).toBeGreaterThan(0);
    expect(recurrent).toBeLessThan(transformer);
  });
});
