/**
 * Strict and relaxed exactness in the core: generate() reads the model's verdict (TokenModel.exactness)
 * and, in strict mode, never runs a pass wider than the widest exact one; stats.exact says whether the
 * output is guaranteed identical to plain decoding. (The toy model's passes are always exact; the
 * verdicts here are what a backend would report, and the point is what the decoder does with them.)
 */
import { describe, expect, it } from "vitest";
import { decode } from "../../src/core/decoder.js";
import { outputIsExact, passWidthLimit, resolveExactnessMode } from "../../src/core/exactness.js";
import { generate } from "../../src/core/generate.js";
import type { PassExactness } from "../../src/core/model.js";
import { ToyModel } from "../helpers/toy-model.js";

function toyWith(exactness: PassExactness | undefined): ToyModel & { exactness?: PassExactness } {
  return Object.assign(new ToyModel(), { exactness });
}

async function run(exactness: PassExactness | undefined, mode: "strict" | "relaxed" | undefined) {
  const model = toyWith(exactness);
  const plain = await generate(model, { prompt: [5, 6, 7], method: "greedy", maxTokens: 120 });
  const llma = await generate(model, { prompt: [5, 6, 7], references: [[5, 6, 7, ...plain.tokens]], policy: "paper", n: 1, k: 20, maxTokens: 120, exactness: mode });
  expect(llma.tokens).toEqual(plain.tokens); // the toy model is exact at any width
  return { plain, llma };
}

describe("strict / relaxed exactness", () => {
  it("strict (the default) drafts nothing when no batched pass is exact", async () => {
    const { llma } = await run({ exact: false, exactUpTo: 1 }, undefined);
    expect(llma.stats.exactness).toBe("strict");
    expect(llma.stats.maxPassWidth).toBe(1);
    expect(llma.stats.draftSteps).toBe(0);
    expect(llma.stats.widestPass).toBe(1);
    expect(llma.stats.exact).toBe(true);
  });

  it("strict caps passes at the widest exact width, relaxed does not and says the output is not guaranteed", async () => {
    const strict = (await run({ exact: false, exactUpTo: 8 }, "strict")).llma;
    expect(strict.stats.widestPass).toBe(8);
    expect(strict.stats.acceptedTokens).toBeGreaterThan(50);
    expect(strict.stats.exact).toBe(true);
    const relaxed = (await run({ exact: false, exactUpTo: 8 }, "relaxed")).llma;
    expect(relaxed.stats.exactness).toBe("relaxed");
    expect(relaxed.stats.widestPass).toBe(21);
    expect(relaxed.stats.maxPassWidth).toBeUndefined();
    expect(relaxed.stats.exact).toBe(false);
    expect(relaxed.stats.steps).toBeLessThan(strict.stats.steps);
  });

  it("an exact model is guaranteed in both modes; an unknown one is reported as unknown", async () => {
    expect((await run({ exact: true, exactUpTo: 64 }, "strict")).llma.stats.exact).toBe(true);
    expect((await run({ exact: true, exactUpTo: 64 }, "relaxed")).llma.stats.exact).toBe(true);
    const unknown = (await run(undefined, "strict")).llma;
    expect(unknown.stats.exact).toBeUndefined();
    expect(unknown.stats.widestPass).toBe(21); // no verdict, no cap
  });

  it("relaxed plain decoding (no drafts) is still guaranteed; a reused prefix is trusted only under strict limits", () => {
    const inexact = { exact: false, exactUpTo: 1 };
    expect(outputIsExact(inexact, 1, 0, undefined)).toBe(true);
    expect(outputIsExact(inexact, 2, 0, undefined)).toBe(false);
    expect(outputIsExact(inexact, 1, 10, undefined)).toBe(false); // cells an earlier relaxed request may have written
    expect(outputIsExact(inexact, 1, 10, 1)).toBe(true);
    expect(outputIsExact({ exact: true, exactUpTo: 64 }, 64, 10, undefined)).toBe(true);
    expect(outputIsExact(undefined, 1, 0, undefined)).toBeUndefined();
  });

  it("combines a request's own width limit with the strict cap, and names bad modes and widths", async () => {
    expect(passWidthLimit({ exact: false, exactUpTo: 8 }, "strict", 4)).toBe(4);
    expect(passWidthLimit({ exact: false, exactUpTo: 8 }, "strict", 16)).toBe(8);
    expect(passWidthLimit({ exact: false, exactUpTo: 8 }, "relaxed", 16)).toBe(16);
    expect(passWidthLimit(undefined, "strict")).toBeUndefined();
    expect(() => resolveExactnessMode("loose")).toThrow(/unknown exactness "loose": use one of strict, relaxed/);
    const model = new ToyModel();
    await expect(decode(model, await model.createSequence(), [1], { maxTokens: 4, maxPassWidth: 0 })).rejects.toThrow(/maxPassWidth must be an integer >= 1/);
  });
});
