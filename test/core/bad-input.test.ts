/**
 * Bad input at the library level, on the deterministic toy model: empty references, a 10 MB reference
 * (index build time and memory bounded and reported), prompts beyond the context (a named error) while
 * references, which are not in the context, do not count, and n / k out of range (named errors).
 */
import { describe, expect, it } from "vitest";
import { generate } from "../../src/core/generate.js";
import { FixedPolicy } from "../../src/core/policy.js";
import { ReferenceIndex } from "../../src/core/reference-index.js";
import { mulberry32, randomInt } from "../helpers/random.js";
import { ToyModel } from "../helpers/toy-model.js";

describe("bad input (library)", () => {
  it("empty references are ignored: the output and the index are what they are without them", async () => {
    const index = new ReferenceIndex();
    index.addReference([]);
    expect(index.length).toBe(0);
    index.addReference([5, 6, 7]);
    index.addReference([]);
    expect(index.length).toBe(3);

    const model = new ToyModel();
    const prompt = [1, 2, 3, 4];
    const greedy = await generate(model, { prompt, method: "greedy", maxTokens: 40 });
    for (const references of [[], [""], [[]], ["", [], ""]] as (string | number[])[][]) {
      const llma = await generate(model, { prompt, references, maxTokens: 40, n: 1, k: 8 });
      expect(llma.tokens).toEqual(greedy.tokens);
    }
  });

  it("a 10 MB reference (~2.5M tokens) is indexed in bounded time and memory", () => {
    const random = mulberry32(42);
    const tokens = 2_500_000; // ~4 bytes of text per LLaMA token: ~10 MB of text
    const reference = new Int32Array(tokens);
    // Text-like: words from a 32k vocabulary, with repeated phrases so the automaton has real structure.
    for (let i = 0; i < tokens; i++)
      reference[i] = i > 64 && random() < 0.3 ? reference[i - 1 - randomInt(random, 64)] : 3 + randomInt(random, 31_990);
    const referenceTokens = Array.from(reference);
    globalThis.gc?.();
    const before = process.memoryUsage();
    const t0 = performance.now();
    const index = new ReferenceIndex();
    index.addReference(referenceTokens);
    const ms = performance.now() - t0;
    const after = process.memoryUsage();
    const grownMiB = (after.rss - before.rss) / 2 ** 20;
    const heapMiB = (after.heapUsed - before.heapUsed) / 2 ** 20;
    // Reported on purpose: these are the numbers behind README's "Reliability" section.
    console.log(
      `ReferenceIndex over ${tokens} tokens: ${(ms / 1000).toFixed(1)} s, ${index.states} states, RSS +${grownMiB.toFixed(0)} MiB (heap +${heapMiB.toFixed(0)} MiB), RSS now ${(after.rss / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(index.length).toBe(tokens);
    // Generous bounds (a shared 2-core machine): minutes would mean a super-linear build.
    expect(ms).toBeLessThan(120_000);
    expect(grownMiB).toBeLessThan(3_000);
    // The index still answers: a span of the reference is found and continued.
    const cursor = index.cursor();
    const at = 1_234_567;
    for (let i = at; i < at + 12; i++) cursor.push(referenceTokens[i], false, "prompt");
    const match = cursor.match();
    expect(match?.length).toBeGreaterThanOrEqual(12);
    expect(index.continuation(match!.continuationStart, 4)).toHaveLength(4);
  }, 300_000);

  it("a prompt beyond the context is a clear error naming both sizes; references do not count against the context", async () => {
    const model = new ToyModel(40, 64);
    const long = Array.from({ length: 64 }, (_, i) => 1 + (i % 39));
    await expect(generate(model, { prompt: long, policy: "paper", maxTokens: 4 })).rejects.toThrow(/the prompt has 64 tokens but the context holds 64/);
    await expect(generate(model, { prompt: [...long, 5, 6], method: "greedy", maxTokens: 4 })).rejects.toThrow(/the prompt has 66 tokens but the context holds 64/);

    // References are indexed on the side, never evaluated: 100x the context in references is fine.
    const prompt = [1, 2, 3];
    const greedy = await generate(model, { prompt, method: "greedy", maxTokens: 200 });
    expect(greedy.stopReason).toBe("context-full"); // the context, not max tokens, ends it
    const big = Array.from({ length: 6400 }, (_, i) => greedy.tokens[i % greedy.tokens.length]);
    const llma = await generate(model, { prompt, references: [big, greedy.tokens], maxTokens: 200, n: 1, k: 16 });
    expect(llma.tokens).toEqual(greedy.tokens);
    expect(llma.stopReason).toBe("context-full");
    expect(llma.stats.acceptedTokens).toBeGreaterThan(0);
  });

  it("n and k out of range are named errors", async () => {
    const model = new ToyModel();
    expect(() => new FixedPolicy(0, 4)).toThrow(/n must be an integer >= 1, got 0/);
    expect(() => new FixedPolicy(1.5, 4)).toThrow(/n must be an integer >= 1, got 1.5/);
    expect(() => new FixedPolicy(1, -1)).toThrow(/k must be an integer >= 0, got -1/);
    expect(() => new FixedPolicy(1, Number.NaN)).toThrow(/k must be an integer >= 0, got NaN/);
    await expect(generate(model, { prompt: [1, 2], n: 0 })).rejects.toThrow(/n must be an integer >= 1, got 0/);
    await expect(generate(model, { prompt: [1, 2], k: -3 })).rejects.toThrow(/k must be an integer >= 0, got -3/);
    await expect(generate(model, { prompt: [1, 2], method: "greedy", maxTokens: -1 })).rejects.toThrow(/maxTokens must be an integer >= 0, got -1/);
    await expect(generate(model, { prompt: [1, 2], policy: "bogus" as "auto" })).rejects.toThrow(/unknown policy "bogus"/);
    // k beyond what one pass holds is capped by the decoder (batch size, room left), not an error.
    const greedy = await generate(model, { prompt: [1, 2, 3], method: "greedy", maxTokens: 30 });
    const huge = await generate(model, { prompt: [1, 2, 3], references: [greedy.tokens], n: 1, k: 1_000_000, maxTokens: 30 });
    expect(huge.tokens).toEqual(greedy.tokens);
  });
});
