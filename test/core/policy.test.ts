import { describe, expect, it } from "vitest";
import { CostCurve, PassCostModel } from "../../src/core/cost-model.js";
import { AcceptanceModel, CostAwarePolicy, EXPLORE_MIN_ACCEPTANCE, expectedAccepted, FixedPolicy, type Placement } from "../../src/core/policy.js";
import { mulberry32 } from "../helpers/random.js";

describe("FixedPolicy", () => {
  it("copies k tokens when n match, nothing otherwise", () => {
    const policy = new FixedPolicy(2, 5);
    expect(policy.draftLength({ matchLength: 1, available: 10 })).toBe(0);
    expect(policy.draftLength({ matchLength: 2, available: 10 })).toBe(5);
    expect(policy.draftLength({ matchLength: 3, available: 3 })).toBe(3);
  });
  it("rejects invalid knobs with a named error", () => {
    expect(() => new FixedPolicy(0, 5)).toThrow(/n must be an integer >= 1/);
    expect(() => new FixedPolicy(1, -1)).toThrow(/k must be an integer >= 0/);
  });
});

describe("CostCurve", () => {
  it("interpolates between measured points and extrapolates past the last", () => {
    const curve = new CostCurve([
      { tokens: 1, ms: 10 },
      { tokens: 5, ms: 30 },
    ]);
    expect(curve.cost(1)).toBe(10);
    expect(curve.cost(3)).toBe(20);
    expect(curve.cost(9)).toBe(50);
  });
  it("needs a 1-token point", () => {
    expect(() => new CostCurve([{ tokens: 2, ms: 3 }])).toThrow(/1 token/);
  });
});

describe("expectedAccepted", () => {
  it("matches a Monte Carlo estimate", () => {
    const random = mulberry32(7);
    const [first, rest, d] = [0.6, 0.8, 7];
    let total = 0;
    const trials = 200_000;
    for (let t = 0; t < trials; t++) {
      let accepted = 0;
      while (accepted < d && random() < (accepted === 0 ? first : rest)) accepted++;
      total += accepted;
    }
    expect(Math.abs(expectedAccepted(d, first, rest) - total / trials)).toBeLessThan(0.03); // ~5 standard errors
  });
});

describe("CostAwarePolicy", () => {
  const cpu = CostCurve.linear(27, 11.5); // 1.1B model, 2 CPU threads
  const gpu = CostCurve.linear(20, 0.1); // nearly flat

  function trained(model: AcceptanceModel, drafted: number, accepted: number, times: number, placement: Placement = "elsewhere") {
    for (let i = 0; i < times; i++) model.record(drafted, accepted, { matchLength: 3, available: drafted, placement });
    return model;
  }

  it("drafts nothing on a CPU when drafts are rarely accepted", () => {
    const acceptance = trained(new AcceptanceModel(), 4, 0, 50);
    const policy = new CostAwarePolicy(cpu, { acceptance });
    expect(policy.draftLength({ matchLength: 3, available: 20 })).toBe(0);
  });

  it("explores an uncertain cost only with a draft likely to be accepted", () => {
    // A prior that says drafting never pays (2 tokens cost 3x one), never checked: every width is uncertain.
    const steep = (acceptance: AcceptanceModel) => {
      const costs = new PassCostModel(CostCurve.linear(0.01, 30));
      for (let i = 0; i < 100; i++) costs.recordPass(1, 30);
      return new CostAwarePolicy(costs, { acceptance });
    };
    const weak = trained(new AcceptanceModel(), 2, 0, 6); // 1 in 4 or so
    const strong = trained(new AcceptanceModel(), 8, 8, 20);
    expect(weak.probability(undefined, 3)).toBeLessThan(EXPLORE_MIN_ACCEPTANCE);
    expect(strong.probability(undefined, 3)).toBeGreaterThan(EXPLORE_MIN_ACCEPTANCE);
    const context = { matchLength: 3, available: 20 };
    expect(steep(weak).plan(context).length).toBe(0);
    const plan = steep(strong).plan(context);
    expect(plan.exploratory).toBe(true);
    expect(plan.length).toBeGreaterThan(0);
  });

  it("a request's own rejections outweigh what an earlier workload taught the model", () => {
    // An earlier workload: matches of this kind were copied whole (RAG, documents in the prompt).
    const shared = trained(new AcceptanceModel(), 8, 8, 40);
    const request = shared.forRequest();
    expect(request.probability(undefined, 6)).toBeCloseTo(shared.probability(undefined, 6), 9);
    // This request shares nothing with its prompt: 10 drafts rejected at their first token.
    for (let i = 0; i < 10; i++) request.record(2, 0, { matchLength: 6, available: 2 });
    expect(request.probability(undefined, 6)).toBeLessThan(0.6);
    expect(shared.probability(undefined, 6)).toBeGreaterThan(request.probability(undefined, 6) + 0.25); // the model-wide estimate moves slowly
    expect(new CostAwarePolicy(cpu, { acceptance: request }).draftLength({ matchLength: 6, available: 20 })).toBe(0);
    // and the next request starts from the model-wide estimate again
    expect(shared.forRequest().probability(undefined, 6)).toBeCloseTo(shared.probability(undefined, 6), 9);
  });

  it("a request starts short matches from the lower of the model-wide estimate and the length prior", () => {
    const fresh = new AcceptanceModel();
    // An earlier workload accepted short matches whole: a new request does not inherit that for them...
    const optimistic = trained(new AcceptanceModel(), 8, 8, 40);
    expect(optimistic.probability(undefined, 3)).toBeGreaterThan(0.9);
    expect(optimistic.forRequest().probability(undefined, 3)).toBeCloseTo(fresh.probability(undefined, 3), 9);
    expect(optimistic.forRequest().probability(undefined, 1)).toBeCloseTo(fresh.probability(undefined, 1), 9);
    // ...but it does inherit a lower one (an earlier workload that rejected them),
    const pessimistic = trained(new AcceptanceModel(), 4, 0, 40);
    expect(pessimistic.forRequest().probability(undefined, 3)).toBeCloseTo(pessimistic.probability(undefined, 3), 9);
    expect(pessimistic.probability(undefined, 3)).toBeLessThan(fresh.probability(undefined, 3) - 0.2);
    // and a longer match inherits what was learned either way.
    expect(optimistic.forRequest().probability(undefined, 6)).toBeCloseTo(optimistic.probability(undefined, 6), 9);
    expect(optimistic.probability(undefined, 6)).toBeGreaterThan(fresh.probability(undefined, 6) + 0.1);
  });

  it("drafts long when drafts are accepted whole", () => {
    const acceptance = trained(new AcceptanceModel(), 16, 16, 50);
    expect(new CostAwarePolicy(cpu, { acceptance }).draftLength({ matchLength: 3, available: 40 })).toBeGreaterThanOrEqual(16);
  });

  it("drafts longer on a flat (GPU-like) cost curve than on a CPU one for the same acceptance", () => {
    const acceptance = trained(new AcceptanceModel(), 8, 3, 50);
    const onCpu = new CostAwarePolicy(cpu, { acceptance }).draftLength({ matchLength: 3, available: 64 });
    const onGpu = new CostAwarePolicy(gpu, { acceptance }).draftLength({ matchLength: 3, available: 64 });
    expect(onGpu).toBeGreaterThan(onCpu);
    expect(onGpu).toBeGreaterThanOrEqual(6);
  });

  it("learns per kind of draft: continuing copies vs fresh single-token matches", () => {
    const acceptance = new AcceptanceModel();
    trained(acceptance, 8, 8, 40, "continuing");
    for (let i = 0; i < 40; i++) acceptance.record(8, 0, { matchLength: 1, available: 8 });
    const policy = new CostAwarePolicy(cpu, { acceptance });
    expect(policy.draftLength({ matchLength: 5, available: 20, placement: "continuing" })).toBeGreaterThan(4);
    expect(policy.draftLength({ matchLength: 1, available: 20 })).toBe(0);
  });

  it("picks the length that maximises expected tokens per ms (brute-force check)", () => {
    const acceptance = trained(new AcceptanceModel(), 10, 4, 30);
    const policy = new CostAwarePolicy(cpu, { acceptance });
    const context = { matchLength: 3, available: 30 };
    // E[accepted(d)] = sum over j <= d of P(tokens 1..j accepted), each at its effective match length.
    const rate = (d: number) => {
      let reach = 1;
      let expected = 0;
      for (let j = 1; j <= d; j++) {
        reach *= acceptance.probability(undefined, 3 + j - 1);
        expected += reach;
      }
      return (1 + expected) / cpu.cost(1 + d);
    };
    let best = 0;
    for (let d = 1; d <= 30; d++) if (rate(d) > rate(best)) best = d;
    expect(policy.draftLength(context)).toBe(best);
    expect(best).toBeGreaterThan(0);
  });

  it("each verified token is one observation for its effective match length", () => {
    const model = new AcceptanceModel(2, 0.5, 1);
    const before = model.probability("reference", 6);
    // drafted 5 after a 3-token match, 2 accepted: tokens at lengths 3, 4 accepted, 5 rejected, 6-7 never checked
    for (let i = 0; i < 20; i++) model.record(5, 2, { matchLength: 3, available: 5, source: "reference" });
    expect(model.probability("reference", 3)).toBeGreaterThan(0.9); // bucket 3-4: 40 hits
    expect(model.probability("reference", 5)).toBeLessThan(0.1); // bucket 5-8: 20 misses
    expect(before).toBe(0.5);
  });
});
