import { describe, expect, it } from "vitest";
import { decode } from "../../src/core/decoder.js";
import { CostCurve } from "../../src/core/cost-model.js";
import { CostAwarePolicy, FixedPolicy } from "../../src/core/policy.js";
import { ReferenceProposer } from "../../src/core/proposer.js";
import { editedCopy } from "../helpers/edits.js";
import { mulberry32, randomInt } from "../helpers/random.js";
import { ToyModel } from "../helpers/toy-model.js";

describe("decode (toy model)", () => {
  it("greedy decoding follows the model and stops at max tokens", async () => {
    const model = new ToyModel();
    const result = await decode(model, await model.createSequence(), [5, 6, 7], { maxTokens: 20 });
    const expected: number[] = [];
    const history = [5, 6, 7];
    for (let i = 0; i < 20; i++) {
      const next = model.nextAfter(history);
      expected.push(next);
      history.push(next);
    }
    expect(result.tokens).toEqual(expected);
    expect(result.stopReason).toBe("max-tokens");
    expect(result.stats.steps).toBe(20);
  });

  it("an exact-copy reference is accepted in long runs (few forward passes)", async () => {
    const model = new ToyModel();
    const greedy = await decode(model, await model.createSequence(), [5, 6, 7], { maxTokens: 100 });
    const proposer = new ReferenceProposer({ references: [[5, 6, 7, ...greedy.tokens]], policy: new FixedPolicy(1, 20) });
    const llma = await decode(model, await model.createSequence(), [5, 6, 7], { maxTokens: 100, proposer });
    expect(llma.tokens).toEqual(greedy.tokens);
    expect(llma.stats.steps).toBeLessThanOrEqual(Math.ceil(100 / 21) + 2);
    expect(llma.stats.tokensPerStep).toBeGreaterThan(15);
  });

  it("stop strings cut the text and end generation identically in both paths", async () => {
    const model = new ToyModel();
    const greedy = await decode(model, await model.createSequence(), [1, 2, 3], { maxTokens: 60 });
    const stop = model.words[greedy.tokens[30]] + model.words[greedy.tokens[31]];
    const streamed: string[] = [];
    const plain = await decode(model, await model.createSequence(), [1, 2, 3], { maxTokens: 60, stop: [stop], onText: (t) => streamed.push(t) });
    const proposer = new ReferenceProposer({ references: [greedy.tokens], policy: new FixedPolicy(1, 20) });
    const llma = await decode(model, await model.createSequence(), [1, 2, 3], { maxTokens: 60, stop: [stop], proposer });
    expect(plain.stopReason).toBe("stop");
    expect(plain.text.includes(stop)).toBe(false);
    expect(streamed.join("")).toBe(plain.text);
    expect(llma.tokens).toEqual(plain.tokens);
    expect(llma.text).toBe(plain.text);
  });

  it("an aborted signal stops generation", async () => {
    const model = new ToyModel();
    const controller = new AbortController();
    let count = 0;
    const result = await decode(model, await model.createSequence(), [1], {
      maxTokens: 100,
      signal: controller.signal,
      onTokens: (tokens) => {
        count += tokens.length;
        if (count >= 5) controller.abort();
      },
    });
    expect(result.stopReason).toBe("abort");
    expect(result.tokens.length).toBe(5);
  });

  it("rejects a prompt that does not fit the context", async () => {
    const model = new ToyModel(40, 8);
    await expect(decode(model, await model.createSequence(), Array(8).fill(1), { maxTokens: 4 })).rejects.toThrow(/prompt has 8 tokens/);
  });

  it("stops when the context is full, identically with and without drafts", async () => {
    const model = new ToyModel(40, 32);
    const greedy = await decode(model, await model.createSequence(), [1, 2, 3], { maxTokens: 100 });
    expect(greedy.stopReason).toBe("context-full");
    const proposer = new ReferenceProposer({ references: [greedy.tokens], policy: new FixedPolicy(1, 20) });
    const llma = await decode(model, await model.createSequence(), [1, 2, 3], { maxTokens: 100, proposer });
    expect(llma.tokens).toEqual(greedy.tokens);
    expect(llma.stopReason).toBe("context-full");
  });

  it("property: output equals greedy for random prompts, references, n, k, stops (2000 cases)", async () => {
    let accepted = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const random = mulberry32(seed);
      const model = new ToyModel(4 + randomInt(random, 60), 64 + randomInt(random, 400), 4 + randomInt(random, 40), random() < 0.3 ? 50 : 0);
      const prompt = Array.from({ length: 1 + randomInt(random, 20) }, () => 1 + randomInt(random, model.vocabularySize - 1));
      const maxTokens = randomInt(random, 120);
      const greedy = await decode(model, await model.createSequence(), prompt, { maxTokens });
      const references = Array.from({ length: randomInt(random, 4) }, () => editedCopy(random, greedy.tokens, model.vocabularySize));
      const stop = random() < 0.3 && greedy.tokens.length > 3 ? [model.words[greedy.tokens[randomInt(random, greedy.tokens.length)]]] : [];
      // One sequence for both runs: the second reuses the first's prompt prefix in the cache.
      const shared = await model.createSequence();
      const plain = await decode(model, shared, prompt, { maxTokens, stop });
      const policy =
        random() < 0.7
          ? new FixedPolicy(1 + randomInt(random, 4), randomInt(random, 40))
          : new CostAwarePolicy(random() < 0.5 ? CostCurve.linear(27, 11.5) : CostCurve.linear(20, 0.2));
      const proposer = new ReferenceProposer({ references, policy, indexPrompt: random() < 0.5, indexOutput: random() < 0.5 });
      const llma = await decode(model, random() < 0.5 ? shared : await model.createSequence(), prompt, { maxTokens, stop, proposer });
      const context = `seed ${seed}`;
      expect(llma.tokens, context).toEqual(plain.tokens);
      expect(llma.text, context).toBe(plain.text);
      expect(llma.stopReason, context).toBe(plain.stopReason);
      expect(llma.stats.steps, context).toBeLessThanOrEqual(plain.stats.steps);
      accepted += llma.stats.acceptedTokens;
    }
    // The cases must exercise acceptance, not just fall back to plain decoding.
    expect(accepted).toBeGreaterThan(20_000);
  });
});

describe("decode: prompt prefix reuse and forced targets", () => {
  it("reuses the KV entries of a shared prompt prefix and still gives the same output", async () => {
    const model = new ToyModel();
    const sequence = await model.createSequence();
    const first = await decode(model, sequence, [1, 2, 3, 4, 5], { maxTokens: 10 });
    expect(first.stats.reusedPromptTokens).toBe(0);
    const again = await decode(model, sequence, [1, 2, 3, 4, 5], { maxTokens: 10 });
    expect(again.stats.reusedPromptTokens).toBe(4);
    expect(again.tokens).toEqual(first.tokens);
    const other = await decode(model, sequence, [1, 2, 9, 9], { maxTokens: 10 });
    expect(other.stats.reusedPromptTokens).toBe(2);
    const fresh = await decode(model, await model.createSequence(), [1, 2, 9, 9], { maxTokens: 10 });
    expect(other.tokens).toEqual(fresh.tokens);
  });

  it("forced decoding emits the target; an exact-copy reference needs few steps", async () => {
    const { ForcedSequence } = await import("../../src/core/target.js");
    const model = new ToyModel();
    const target = Array.from({ length: 50 }, (_, i) => 1 + ((i * 7) % 39));
    const forced = async (proposer?: ReferenceProposer) =>
      decode(model, new ForcedSequence(await model.createSequence(), 3, target, 0), [4, 5, 6], { maxTokens: 100, proposer });
    const greedy = await forced();
    expect(greedy.tokens).toEqual(target);
    expect(greedy.stopReason).toBe("eos");
    expect(greedy.stats.steps).toBe(51); // the prompt pass + one pass per further token + the pass that ends it
    const llma = await forced(new ReferenceProposer({ references: [target], policy: new FixedPolicy(1, 20) }));
    expect(llma.tokens).toEqual(target);
    expect(llma.stats.steps).toBeLessThan(6);
  });

  it("forced targets end with the model's own EOS when it names one (BPE vocabularies: 128001, 151643), else a usual small id", async () => {
    const { endOfGenerationToken } = await import("../../src/core/target.js");
    const model = new ToyModel();
    expect(endOfGenerationToken(model)).toBe(0); // the toy model's EOS is 0, no eosToken given
    const llama3 = Object.assign(Object.create(model), { eosToken: 128001, isEndOfGeneration: (t: number) => t === 128001 || t === 128009 });
    expect(endOfGenerationToken(llama3)).toBe(128001);
    const none = Object.assign(Object.create(model), { isEndOfGeneration: () => false });
    expect(() => endOfGenerationToken(none)).toThrow(/no end-of-generation token/);
  });
});
