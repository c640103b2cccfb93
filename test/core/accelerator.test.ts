/**
 * The Accelerator (src/core/accelerator.ts): one object per model that gets the cost curve for policy
 * "auto" once, owns what the model's requests learn, and runs them; generate(model, request) is a
 * request on the model's own accelerator.
 */
import { describe, expect, it } from "vitest";
import { Accelerator, type AcceleratedModel } from "../../src/core/accelerator.js";
import { CostCurve } from "../../src/core/cost-model.js";
import { generate } from "../../src/core/generate.js";
import { ToyModel } from "../helpers/toy-model.js";

/** A toy model whose backend "measures" a cost curve on request, counting the measurements. */
class CalibratingModel extends ToyModel {
  costCurve?: CostCurve;
  measurements = 0;
  async ensureCostCurve(options: { onMeasure?: () => void } = {}): Promise<CostCurve> {
    if (this.costCurve) return this.costCurve;
    this.measurements++;
    options.onMeasure?.();
    this.costCurve = CostCurve.linear(20, 3);
    return this.costCurve;
  }
}

const PROMPT = [1, 2, 3];

async function plainTokens(model: ToyModel): Promise<number[]> {
  return (await generate(model, { prompt: PROMPT, method: "greedy", maxTokens: 40 })).tokens;
}

describe("Accelerator", () => {
  it('create() with policy "auto" gets the cost curve once, up front; its requests reuse it and decode losslessly', async () => {
    const model = new CalibratingModel();
    const plain = await plainTokens(model);
    let notices = 0;
    const llma = await Accelerator.create(model, { policy: "auto", onMeasure: () => notices++ });
    expect(model.measurements).toBe(1);
    expect(notices).toBe(1);
    for (let i = 0; i < 3; i++) {
      // Passes timed on a virtual clock that charges the curve's own 20 + 3 * width: whether "auto" drafts
      // must not hang on how long a microsecond pass took on a loaded machine.
      const clock = () => 20 * model.passes + 3 * model.evaluatedTokens;
      const result = await llma.generate({ prompt: PROMPT, references: [plain], maxTokens: 40, clock });
      expect(result.tokens).toEqual(plain);
      expect(result.stats.acceptedTokens).toBeGreaterThan(0);
    }
    expect(model.measurements).toBe(1);
  });

  it('with policy "paper" nothing is measured, for its requests either', async () => {
    const model = new CalibratingModel();
    const plain = await plainTokens(model);
    const llma = await Accelerator.create(model, { policy: "paper" });
    const result = await llma.generate({ prompt: PROMPT, references: [plain], maxTokens: 40 });
    expect(result.tokens).toEqual(plain);
    expect(result.stats.acceptedTokens).toBeGreaterThan(0);
    expect(model.measurements).toBe(0);
    expect(llma.state).toBeUndefined();
    // A request that asks for "auto" gets the curve on first need, through the same rule.
    await llma.generate({ prompt: PROMPT, references: [plain], maxTokens: 40, policy: "auto" });
    expect(model.measurements).toBe(1);
    expect(llma.state).toBeDefined();
  });

  it("owns what its requests learn: each pass is recorded in its cost model, and another accelerator starts from nothing", async () => {
    const model = new CalibratingModel();
    const plain = await plainTokens(model);
    const llma = await Accelerator.create(model);
    const first = await llma.generate({ prompt: PROMPT, references: [plain], maxTokens: 40 });
    const learned = llma.state!.greedy.costs.recorded.passes;
    expect(learned).toBe(first.stats.steps - 1); // every pass after the prompt's
    await llma.generate({ prompt: PROMPT, references: [plain], maxTokens: 40 });
    expect(llma.state!.greedy.costs.recorded.passes).toBeGreaterThan(learned);
    expect(llma.state!.sampled.costs.recorded.passes).toBe(0);
    expect(new Accelerator(model).state).toBeUndefined();
  });

  it("generate(model, request) runs on the model's own accelerator, held on the model", async () => {
    const model = new CalibratingModel();
    const plain = await plainTokens(model);
    const own = Accelerator.of(model);
    expect((model as AcceleratedModel).accelerator).toBe(own);
    expect(Accelerator.of(model)).toBe(own);
    const result = await generate(model, { prompt: PROMPT, references: [plain], maxTokens: 40 });
    expect(result.tokens).toEqual(plain);
    expect(own.state!.greedy.costs.recorded.passes).toBe(result.stats.steps - 1);
  });

  it("the first accelerator created for a model is the model's own: generate(model, request) learns into it; a second one is independent", async () => {
    const model = new CalibratingModel();
    const llma = await Accelerator.create(model);
    expect(Accelerator.of(model)).toBe(llma);
    const plain = (await llma.generate({ prompt: PROMPT, method: "greedy", maxTokens: 40 })).tokens;
    const before = llma.state?.greedy.costs.recorded.passes ?? 0;
    const result = await generate(model, { prompt: PROMPT, references: [plain], maxTokens: 40 });
    expect(result.tokens).toEqual(plain);
    expect(llma.state!.greedy.costs.recorded.passes).toBe(before + result.stats.steps - 1);
    const second = await Accelerator.create(model, { policy: "paper" });
    expect(second).not.toBe(llma);
    expect(Accelerator.of(model)).toBe(llma);
    expect(second.state).toBeUndefined();
  });

  it('"auto" on a model with no cost curve and no way to measure one is an error that names the ways out', async () => {
    await expect(new Accelerator(new ToyModel()).generate({ prompt: PROMPT, references: [[4, 5]] })).rejects.toThrow(/cost curve.*"paper"/);
    expect(() => new Accelerator(new ToyModel(), { policy: "fast" as "auto" })).toThrow(/unknown policy "fast"/);
  });
});
