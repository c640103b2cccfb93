/**
 * Lossless sampling on the toy model: position-indexed seeds, the JS reference sampler, the sampling
 * acceptance rule, and the decoder property "sampled output with references == without, token for token".
 */
import { describe, expect, it } from "vitest";
import { Accelerator } from "../../src/core/accelerator.js";
import { CostCurve, PassCostModel } from "../../src/core/cost-model.js";
import { decode } from "../../src/core/decoder.js";
import { generate } from "../../src/core/generate.js";
import { CostAwarePolicy, FixedPolicy } from "../../src/core/policy.js";
import { ReferenceProposer } from "../../src/core/proposer.js";
import {
  normalizeSeed,
  positionSeed,
  processDistribution,
  sampleIndex,
  sampleToken,
  uniformFromSeed,
  type SamplingOptions,
} from "../../src/core/sampling.js";
import { verifyDraft } from "../../src/core/verifier.js";
import { editedCopy } from "../helpers/edits.js";
import { mulberry32, randomInt } from "../helpers/random.js";
import {
  chiSquareGoodnessOfFit,
  chiSquareHomogeneity,
  chiSquarePValue,
  chiSquareUniform,
  describeChiSquare,
  exactOutcomeProbabilities,
  outcomeKey,
  PlausibleDraftSequence,
} from "../helpers/stats.js";
import { ToyModel } from "../helpers/toy-model.js";

describe("position seeds and the reference sampler", () => {
  it("positionSeed is deterministic, distinct across positions, never llama.cpp's random-seed value", () => {
    for (const seed of [0, 1, 42, 0xffffffff, 123456789]) {
      const seen = new Set<number>();
      for (let i = 0; i < 100_000; i++) seen.add(positionSeed(seed, i));
      expect(seen.size).toBe(100_000);
      expect(seen.has(0xffffffff)).toBe(false);
      expect(positionSeed(seed, 7)).toBe(positionSeed(seed, 7));
    }
    expect(positionSeed(1, 0)).not.toBe(positionSeed(2, 0));
    expect(normalizeSeed(-1)).toBe(0xffffffff);
    expect(normalizeSeed(2 ** 32 + 5)).toBe(5);
    expect(() => normalizeSeed(1.5)).toThrow(/integer/);
  });

  it("position uniforms are uniform (chi-square over 20 bins, 100k positions)", () => {
    const bins = Array.from({ length: 100_000 }, (_, i) => Math.floor(uniformFromSeed(positionSeed(7, i)) * 20));
    const fit = chiSquareUniform(bins, 20);
    expect(fit.df).toBe(19);
    expect(fit.pValue).toBeGreaterThan(0.001);
  });

  it("chiSquarePValue matches known quantiles", () => {
    expect(chiSquarePValue(3.841, 1)).toBeCloseTo(0.05, 3);
    expect(chiSquarePValue(18.307, 10)).toBeCloseTo(0.05, 3);
    expect(chiSquarePValue(29.588, 10)).toBeCloseTo(0.001, 4);
    expect(chiSquarePValue(124.342, 100)).toBeCloseTo(0.05, 3);
  });

  it("processDistribution applies top-k, top-p, min-p and temperature in llama.cpp's order", () => {
    const logits = [0, Math.log(4), Math.log(3), Math.log(2), Math.log(1) - 100, -Infinity];
    // temperature 1: p ∝ 1, 4, 3, 2, ~0 (sorted: 1, 2, 3, 0, 4)
    const full = processDistribution(logits, { temperature: 1 });
    expect(full.tokens).toEqual([1, 2, 3, 0, 4]);
    expect(full.probabilities[0]).toBeCloseTo(0.4, 6);
    expect(processDistribution(logits, { temperature: 1, topK: 2 }).tokens).toEqual([1, 2]);
    // top-p 0.7: 0.4 + 0.3 reaches 0.7
    expect(processDistribution(logits, { temperature: 1, topP: 0.7 }).tokens).toEqual([1, 2]);
    expect(processDistribution(logits, { temperature: 1, topP: 0.71 }).tokens).toEqual([1, 2, 3]);
    // min-p 0.5: keep p >= 0.5 * 0.4
    expect(processDistribution(logits, { temperature: 1, minP: 0.5 }).tokens).toEqual([1, 2, 3]);
    // temperature 0.5 squares the odds: 16 : 9
    const sharp = processDistribution(logits, { temperature: 0.5, topK: 2 });
    expect(sharp.probabilities[0]).toBeCloseTo(16 / 25, 6);
    // ties: by token id
    expect(processDistribution([1, 1, 2, 1], { temperature: 1 }).tokens).toEqual([2, 0, 1, 3]);
  });

  it("sampleIndex is the inverse CDF and skips zero-probability candidates", () => {
    expect(sampleIndex([0.5, 0.25, 0.25], 0)).toBe(0);
    expect(sampleIndex([0.5, 0.25, 0.25], 0.4999)).toBe(0);
    expect(sampleIndex([0.5, 0.25, 0.25], 0.5)).toBe(1);
    expect(sampleIndex([0.5, 0.25, 0.25], 0.9999)).toBe(2);
    expect(sampleIndex([0, 1, 0], 0)).toBe(1);
    expect(sampleIndex([0.3, 0.7, 0], 0.99999999)).toBe(1);
  });

  it("sampleToken draws the processed distribution exactly (chi-square, 50k positions)", () => {
    const logits = Array.from({ length: 30 }, (_, t) => Math.sin(t * 1.7) * 2);
    const options = { temperature: 0.8, topK: 12, topP: 0.95, minP: 0.02 };
    const { tokens, probabilities } = processDistribution(logits, options);
    const samples: string[] = [];
    for (let i = 0; i < 50_000; i++) samples.push(String(sampleToken(logits, options, positionSeed(99, i))));
    const result = chiSquareGoodnessOfFit(samples, new Map(tokens.map((t, i) => [String(t), probabilities[i]])));
    expect(result.pValue).toBeGreaterThan(0.001);
  });

  it("verifyDraft keeps the draft while it equals the samples, then the first differing sample", () => {
    expect(verifyDraft([5, 6, 7], [5, 6, 9, 1])).toEqual({ accepted: 2, next: 9 });
    expect(verifyDraft([5, 6], [5, 6, 8])).toEqual({ accepted: 2, next: 8 });
    expect(verifyDraft([5], [4, 5])).toEqual({ accepted: 0, next: 4 });
    expect(verifyDraft([], [3])).toEqual({ accepted: 0, next: 3 });
    expect(() => verifyDraft([1, 2], [1, 2])).toThrow(/predictions/);
  });
});

function sampling(random: () => number, seed: number): SamplingOptions {
  return {
    temperature: 0.2 + random() * 1.3,
    topK: random() < 0.5 ? 0 : 1 + randomInt(random, 8),
    topP: random() < 0.5 ? undefined : 0.5 + random() * 0.5,
    minP: random() < 0.7 ? undefined : random() * 0.2,
    seed,
  };
}

describe("decode with sampling (toy model)", () => {
  it("property: sampled output with references equals output without, for random cases (1500 cases)", async () => {
    let accepted = 0;
    let drafted = 0;
    for (let caseSeed = 1; caseSeed <= 1500; caseSeed++) {
      const random = mulberry32(caseSeed * 7919);
      const model = new ToyModel(4 + randomInt(random, 40), 64 + randomInt(random, 400), 4 + randomInt(random, 40), random() < 0.3 ? 50 : 0);
      const prompt = Array.from({ length: 1 + randomInt(random, 20) }, () => 1 + randomInt(random, model.vocabularySize - 1));
      const maxTokens = randomInt(random, 100);
      const options = sampling(random, randomInt(random, 2 ** 32));
      const first = await decode(model, await model.createSequence(), prompt, { maxTokens, sampling: options });
      // References that often match: the no-reference output itself, edited copies, and another seed's output.
      const other = await decode(model, await model.createSequence(), prompt, { maxTokens, sampling: { ...options, seed: options.seed + 1 } });
      const references = [first.tokens, other.tokens, ...Array.from({ length: randomInt(random, 3) }, () => editedCopy(random, first.tokens, model.vocabularySize))];
      const stop = random() < 0.3 && first.tokens.length > 3 ? [model.words[first.tokens[randomInt(random, first.tokens.length)]]] : [];
      const shared = await model.createSequence();
      const plain = await decode(model, shared, prompt, { maxTokens, stop, sampling: options });
      const policy =
        random() < 0.7
          ? new FixedPolicy(1 + randomInt(random, 3), randomInt(random, 30))
          : new CostAwarePolicy(random() < 0.5 ? CostCurve.linear(27, 11.5) : CostCurve.linear(20, 0.2));
      const proposer = new ReferenceProposer({ references, policy, indexPrompt: random() < 0.5, indexOutput: random() < 0.5 });
      const llma = await decode(model, random() < 0.5 ? shared : await model.createSequence(), prompt, { maxTokens, stop, proposer, sampling: options });
      const label = `case ${caseSeed}`;
      expect(llma.tokens, label).toEqual(plain.tokens);
      expect(llma.text, label).toBe(plain.text);
      expect(llma.stopReason, label).toBe(plain.stopReason);
      expect(llma.stats.steps, label).toBeLessThanOrEqual(plain.stats.steps);
      expect(llma.stats.seed, label).toBe(options.seed);
      accepted += llma.stats.acceptedTokens;
      drafted += llma.stats.draftedTokens;
    }
    // Drafts must be verified and often accepted, or the property would prove nothing; and rejected too.
    expect(accepted).toBeGreaterThan(20_000);
    expect(drafted - accepted).toBeGreaterThan(1_000);
  });

  it("the same seed replays the same output; other seeds give other outputs; temperature 0 is greedy", async () => {
    const model = new ToyModel(40);
    const run = async (seed: number, temperature = 1) => decode(model, await model.createSequence(), [3, 4, 5], { maxTokens: 40, sampling: { temperature, seed } });
    const a = await run(11);
    expect((await run(11)).tokens).toEqual(a.tokens);
    const outputs = new Set<string>();
    for (let seed = 0; seed < 20; seed++) outputs.add((await run(seed)).tokens.join(","));
    expect(outputs.size).toBe(20);
    const greedy = await decode(model, await model.createSequence(), [3, 4, 5], { maxTokens: 40 });
    const zero = await run(11, 0);
    expect(zero.tokens).toEqual(greedy.tokens);
    expect(zero.stats.seed).toBeUndefined();
    expect(a.tokens).not.toEqual(greedy.tokens);
  });

  it("generate(): picks and reports a seed when none is given; rejects bad options, targets, greedy-only sequences", async () => {
    const model = new ToyModel(40);
    const result = await generate(model, { prompt: [1, 2, 3], temperature: 0.9, maxTokens: 10, policy: "paper" });
    expect(Number.isInteger(result.stats.seed)).toBe(true);
    const replay = await generate(model, { prompt: [1, 2, 3], temperature: 0.9, seed: result.stats.seed, maxTokens: 10, policy: "paper" });
    expect(replay.tokens).toEqual(result.tokens);
    await expect(generate(model, { prompt: [1], temperature: -1 })).rejects.toThrow(/temperature/);
    await expect(generate(model, { prompt: [1], temperature: 1, topP: 0 })).rejects.toThrow(/topP/);
    await expect(generate(model, { prompt: [1], temperature: 1, topK: 1.5 })).rejects.toThrow(/topK/);
    await expect(generate(model, { prompt: [1], temperature: 1, minP: 1 })).rejects.toThrow(/minP/);
    await expect(generate(model, { prompt: [1], temperature: 1, target: [1, 2], policy: "paper" })).rejects.toThrow(/target/);
    const greedyOnly = await model.createSequence();
    const sequence = { ...greedyOnly, canSample: false, evaluate: greedyOnly.evaluate, truncate: greedyOnly.truncate, length: 0, tokens: [] };
    await expect(decode(model, sequence, [1], { maxTokens: 3, sampling: { temperature: 1, seed: 1 } })).rejects.toThrow(/cannot sample/);
  });
});

describe("policy for sampled requests", () => {
  it("auto keeps its own acceptance statistics and cost-curve copy, shared by the sampled requests of a model", () => {
    const model = Object.assign(new ToyModel(), { costCurve: CostCurve.linear(10, 1) });
    const llma = Accelerator.of(model);
    const greedy = llma.policyFor({}, "greedy") as CostAwarePolicy;
    const sampled = llma.policyFor({}, "sampled") as CostAwarePolicy;
    const again = llma.policyFor({}, "sampled") as CostAwarePolicy;
    expect((greedy.costs as PassCostModel).prior).toBe(model.costCurve);
    expect(sampled.costs).not.toBe(greedy.costs);
    expect(sampled.costs.cost(8)).toBeCloseTo(model.costCurve.cost(8), 9);
    expect(llma.state?.sampled.costs).toBe(sampled.costs);
    expect(again.costs).toBe(sampled.costs);
    // Each request has its own acceptance model, leaning on (and recording into) the mode's shared one.
    expect(sampled.acceptance.parent).toBe(llma.state?.sampled.acceptance);
    expect(greedy.acceptance.parent).toBe(llma.state?.greedy.acceptance);
    expect(sampled.acceptance.parent).not.toBe(greedy.acceptance.parent);
    expect(again.acceptance).not.toBe(sampled.acceptance);
    expect(again.acceptance.parent).toBe(sampled.acceptance.parent);
  });
});

describe("sampling distribution (toy model): chi-square on the first 3 tokens", () => {
  // Settings: vocabulary 20, temperature 1, top-k 3 -> at most 27 outcomes of 3 tokens.
  const model = new ToyModel(20);
  const prompt = [7, 3, 9];
  const options = { temperature: 1, topK: 3 } as const;
  const N = 4000;
  const DEPTH = 3;

  async function outcomes(seeds: readonly number[], references?: number[][], wrong = false): Promise<string[]> {
    const out: string[] = [];
    for (const seed of seeds) {
      const inner = await model.createSequence();
      const sequence = wrong ? new PlausibleDraftSequence(inner) : inner;
      const proposer = references ? new ReferenceProposer({ references, policy: new FixedPolicy(1, 4) }) : undefined;
      const result = await decode(model, sequence, prompt, { maxTokens: DEPTH, proposer, sampling: { ...options, seed } });
      out.push(outcomeKey(result.tokens, result.stopReason === "eos", DEPTH));
    }
    return out;
  }

  it(`with and without references both match the exact distribution; "accept if p > 0.05" is rejected (N = ${N} per arm)`, async () => {
    const exact = await exactOutcomeProbabilities(
      DEPTH,
      async (prefix) => processDistribution(model.logitsAfter([...prompt, ...prefix]), options),
      (t) => model.isEndOfGeneration(t),
    );
    // References that often match: earlier sampled answers (seeds outside the arms' ranges).
    const references: number[][] = [];
    for (let seed = 1_000_000; seed < 1_000_008; seed++)
      references.push((await decode(model, await model.createSequence(), prompt, { maxTokens: 8, sampling: { ...options, seed } })).tokens);
    const seedsA = Array.from({ length: N }, (_, i) => i);
    const seedsB = Array.from({ length: N }, (_, i) => N + i);
    const plain = await outcomes(seedsA);
    const withReferences = await outcomes(seedsB, references);
    const wrong = await outcomes(seedsB, references, true);

    const alpha = 0.001;
    const fitPlain = chiSquareGoodnessOfFit(plain, exact);
    const fitReferences = chiSquareGoodnessOfFit(withReferences, exact);
    const fitWrong = chiSquareGoodnessOfFit(wrong, exact);
    const same = chiSquareHomogeneity(plain, withReferences);
    const differs = chiSquareHomogeneity(plain, wrong);
    console.log(
      `toy, N=${N}/arm: fit plain ${describeChiSquare(fitPlain)}; fit refs ${describeChiSquare(fitReferences)}; plain vs refs ${describeChiSquare(same)}; ` +
        `fit wrong ${describeChiSquare(fitWrong)}; plain vs wrong ${describeChiSquare(differs)}`,
    );
    expect(fitPlain.pValue).toBeGreaterThan(alpha);
    expect(fitReferences.pValue).toBeGreaterThan(alpha);
    expect(same.pValue).toBeGreaterThan(alpha);
    expect(fitWrong.pValue).toBeLessThan(1e-6);
    expect(differs.pValue).toBeLessThan(1e-6);
    // And with the same seeds, references change nothing at all.
    expect(await outcomes(seedsA.slice(0, 500), references)).toEqual(plain.slice(0, 500));
  });
});
