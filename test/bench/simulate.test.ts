import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { loadTokenizer, type Tokenizer } from "../../src/backends/tokenizer.js";
import { parseDataset } from "../../src/bench/dataset.js";
import {
  bestPoints,
  NgramTable,
  PaperProposer,
  paperProfile,
  simulateProfile,
  simulateSamples,
  suffixProfile,
  tokenizeSample,
  validateGrid,
  type TokenizedSample,
} from "../../src/bench/simulate.js";
import { decode } from "../../src/core/decoder.js";
import type { TokenModel, TokenSequence } from "../../src/core/model.js";
import { FixedPolicy } from "../../src/core/policy.js";
import { ReferenceProposer, type DraftProposer } from "../../src/core/proposer.js";
import { ForcedSequence } from "../../src/core/target.js";
import { readFileSync } from "node:fs";
import { editedCopy } from "../helpers/edits.js";
import { mulberry32, randomInt } from "../helpers/random.js";

const EOS = 2;

/** A model that costs nothing: it only counts the KV cache length; ForcedSequence supplies predictions. */
class FreeModel implements TokenModel {
  readonly contextSize = 1 << 20;
  readonly batchSize = 4096;
  tokenize(): number[] {
    return [];
  }
  detokenize(tokens: readonly number[]): string {
    return tokens.map((t) => ` t${t}`).join("");
  }
  isEndOfGeneration(token: number): boolean {
    return token === EOS;
  }
  async createSequence(): Promise<TokenSequence> {
    const cache: number[] = [];
    return {
      get length() {
        return cache.length;
      },
      get tokens() {
        return cache;
      },
      async evaluate(tokens: readonly number[], predictFrom = 0) {
        cache.push(...tokens);
        return new Array<number>(tokens.length - predictFrom).fill(0);
      },
      async truncate(length: number) {
        cache.length = length;
      },
      dispose() {},
    };
  }
}

/** Word-level tokenizer for real dataset text (ids from 3: 0..2 are reserved, 2 is EOS). */
class WordTokenizer {
  private readonly ids = new Map<string, number>();
  private readonly words: string[] = ["<unk>", "<s>", "</s>"];
  tokenize(text: string, options: { bos?: boolean } = {}): number[] {
    const tokens = (text.match(/\w+|[^\w\s]/g) ?? []).map((word) => {
      let id = this.ids.get(word);
      if (id === undefined) {
        id = this.words.length;
        this.ids.set(word, id);
        this.words.push(word);
      }
      return id;
    });
    return options.bos ? [1, ...tokens] : tokens;
  }
  detokenize(tokens: readonly number[]): string {
    return tokens.map((t) => this.words[t]).join(" ");
  }
}

async function decodeForced(sample: TokenizedSample, proposer: DraftProposer) {
  const model = new FreeModel();
  const sequence = new ForcedSequence(await model.createSequence(), sample.prompt.length, sample.target, EOS);
  return decode(model, sequence, sample.prompt, { maxTokens: sample.target.length + 1000, proposer });
}

function syntheticSamples(): TokenizedSample[] {
  const samples: TokenizedSample[] = [];
  for (let seed = 1; seed <= 4; seed++) {
    const random = mulberry32(seed);
    const vocabulary = 30 + seed * 10;
    const token = () => 3 + randomInt(random, vocabulary);
    const target = Array.from({ length: 150 + randomInt(random, 100) }, token);
    const references = [0, 1, 2].map(() => editedCopy(random, target, vocabulary).map((t) => (t < 3 ? t + 3 : t)));
    const prompt = [1, ...Array.from({ length: 30 }, token), ...references[0].slice(0, 40)];
    samples.push({ id: seed, prompt, references, target });
  }
  return samples;
}

function realSamples(): TokenizedSample[] {
  const tokenizer = new WordTokenizer();
  const rag = parseDataset(readFileSync("bench/data/llma-rag.jsonl", "utf8")).samples.slice(0, 3);
  const cnndm = parseDataset(readFileSync("bench/data/llma-cnndm.jsonl", "utf8")).samples.slice(0, 2);
  return [...rag, ...cnndm].map((sample) => tokenizeSample(tokenizer, sample));
}

const POINTS: [number, number][] = [
  [1, 1],
  [1, 2],
  [1, 7],
  [2, 20],
  [3, 64],
  [1, 64],
  [5, 10],
];

describe("simulate: the paper's matcher", () => {
  // Two documents; [11, 12] occurs in both (the first occurrence, in doc 0, must be used).
  const documents = [
    [10, 11, 12, 13, 14],
    [20, 11, 12, 30, 31, 32],
  ];
  const sample: TokenizedSample = { id: 0, prompt: [1, 99, 98], references: documents, target: [11, 12, 13, 14, 40, 20, 11, 12, 30, 31] };

  it("n=1, k=3 (drafts of k-1 = 2 tokens) matches the hand count", () => {
    // i=1 [11]->doc0: draft 12 13, both accepted, +14 | i=4 [11 12 13 14] ends doc0: no draft, +40 |
    // i=5 40 nowhere, +20 | i=6 [20]->doc1: draft 11 12 accepted, +30 | i=9 [20 11 12 30]: draft 31 32,
    // 31 accepted, + end. Steps: prompt pass + 5.
    expect(simulateProfile(paperProfile(sample, 64), 1, 3)).toEqual({
      targetTokens: 10,
      greedySteps: 11,
      steps: 6,
      draftSteps: 3,
      draftedTokens: 6,
      acceptedTokens: 5,
    });
  });

  it("n=2, k=3 matches the hand count", () => {
    // i=1 only a 1-gram: none, +12 | i=2 [11 12]->doc0: 13 14 accepted, +40 | i=5 none, +20 | i=6 [20]
    // is a 1-gram: none, +11 | i=7 [20 11]->doc1: 12 30 accepted, +31 | i=10 [20 11 12 30 31]: draft 32
    // (doc end), rejected, + end.
    expect(simulateProfile(paperProfile(sample, 64), 2, 3)).toEqual({
      targetTokens: 10,
      greedySteps: 11,
      steps: 7,
      draftSteps: 3,
      draftedTokens: 5,
      acceptedTokens: 4,
    });
  });

  it("k=1 copies nothing: greedy step count", () => {
    expect(simulateProfile(paperProfile(sample, 64), 1, 1).steps).toBe(11);
  });

  it("ignores the prompt and never matches across documents", () => {
    const table = new NgramTable([
      [5, 6],
      [7, 8],
    ]);
    expect(table.firstOccurrence([6, 7], 2, 2)).toBe(-1);
    expect(table.firstOccurrence([6, 7], 2, 1)).toBe(2);
    // The prompt holds the whole target, but the paper only looks at the docs.
    const withPrompt: TokenizedSample = { ...sample, prompt: [1, ...sample.target, 50, ...sample.target] };
    expect(simulateProfile(paperProfile(withPrompt, 64), 1, 3)).toEqual(simulateProfile(paperProfile(sample, 64), 1, 3));
  });

  it("agrees with decode() + ForcedSequence + PaperProposer", async () => {
    for (const s of [sample, ...syntheticSamples(), ...realSamples()]) {
      const profile = paperProfile(s, 64);
      for (const [n, k] of POINTS) {
        const result = await decodeForced(s, new PaperProposer(s.references, n, k));
        expect(result.tokens).toEqual(s.target);
        expect(result.stopReason).toBe("eos");
        const simulated = simulateProfile(profile, n, k);
        expect({ n, k, ...simulated }).toEqual({
          n,
          k,
          targetTokens: result.stats.generatedTokens,
          greedySteps: s.target.length + 1,
          steps: result.stats.steps,
          draftSteps: result.stats.draftSteps,
          draftedTokens: result.stats.draftedTokens,
          acceptedTokens: result.stats.acceptedTokens,
        });
      }
    }
  });
});

describe("simulate: the suffix matcher", () => {
  it("agrees with decode() + ForcedSequence + ReferenceProposer(FixedPolicy)", async () => {
    const samples = [...syntheticSamples(), ...realSamples()];
    for (const s of samples) {
      const profile = suffixProfile(s, 64);
      for (const [n, k] of POINTS) {
        const proposer = new ReferenceProposer({ references: s.references, policy: new FixedPolicy(n, k) });
        const result = await decodeForced(s, proposer);
        expect(result.tokens).toEqual(s.target);
        const simulated = simulateProfile(profile, n, k);
        expect({ n, k, ...simulated }).toEqual({
          n,
          k,
          targetTokens: result.stats.generatedTokens,
          greedySteps: s.target.length + 1,
          steps: result.stats.steps,
          draftSteps: result.stats.draftSteps,
          draftedTokens: result.stats.draftedTokens,
          acceptedTokens: result.stats.acceptedTokens,
        });
      }
    }
  });

  it("plain greedy decoding takes len(T) + 1 steps", async () => {
    const [s] = syntheticSamples();
    const model = new FreeModel();
    const sequence = new ForcedSequence(await model.createSequence(), s.prompt.length, s.target, EOS);
    const result = await decode(model, sequence, s.prompt, { maxTokens: 10_000 });
    expect(result.stats.steps).toBe(s.target.length + 1);
  });

  it("copies from the output so far: a repeated target needs few steps", () => {
    const half = Array.from({ length: 50 }, (_, i) => 3 + i);
    const s: TokenizedSample = { id: 0, prompt: [1], references: [], target: [...half, ...half] };
    const counts = simulateProfile(suffixProfile(s, 64), 1, 64);
    expect(counts.steps).toBe(1 + 49 + 2); // 49 greedy steps, one step copying the second half, the end
  });
});

describe("simulate: grid", () => {
  it("aggregates every point and picks the best k per matcher and n", () => {
    const samples = syntheticSamples();
    const points = simulateSamples(samples, { matchers: ["paper", "suffix"], n: [1, 2], k: [1, 4, 16] });
    expect(points).toHaveLength(12);
    const targetTokens = samples.reduce((sum, s) => sum + s.target.length, 0);
    for (const point of points) {
      expect(point.targetTokens).toBe(targetTokens);
      expect(point.greedySteps).toBe(targetTokens + samples.length);
      expect(point.tokensPerStep).toBeCloseTo(targetTokens / point.llmaSteps, 3);
      expect(point.stepReduction).toBeCloseTo(point.greedySteps / point.llmaSteps, 3);
    }
    const paperK1 = points.find((p) => p.matcher === "paper" && p.k === 1)!;
    expect(paperK1.llmaSteps).toBe(paperK1.greedySteps);
    expect(paperK1.acceptanceRate).toBeNull();
    const best = bestPoints(points);
    expect(best).toHaveLength(4);
    for (const b of best)
      for (const p of points) if (p.matcher === b.matcher && p.n === b.n) expect(p.stepReduction).toBeLessThanOrEqual(b.stepReduction);
  });

  it("rejects out-of-range grids with named errors", () => {
    expect(() => validateGrid({ matchers: ["paper"], n: [6], k: [1] })).toThrow(/n must be an integer between 1 and 5 for the paper matcher, got 6/);
    expect(() => validateGrid({ matchers: ["suffix"], n: [6], k: [1] })).not.toThrow();
    expect(() => validateGrid({ matchers: ["suffix"], n: [1], k: [0] })).toThrow(/k must be an integer between 1 and 256, got 0/);
    expect(() => validateGrid({ matchers: ["suffix"], n: [1], k: [257] })).toThrow(/k must be .* got 257/);
    expect(() => validateGrid({ matchers: ["bogus" as "paper"], n: [1], k: [1] })).toThrow(/unknown matcher "bogus"/);
  });
});

describe("simulate: with the LLaMA-2 tokenizer of a GGUF", () => {
  let tokenizer: Tokenizer;
  beforeAll(async () => {
    tokenizer = await loadTokenizer(await ensureModel({ shape: "tiny", quant: "Q8_0" }));
  });
  afterAll(async () => {
    await tokenizer?.close();
  });

  it("tokenizes (BOS first on request) and detokenizes", () => {
    const tokens = tokenizer.tokenize("Hello world", { bos: true });
    expect(tokens[0]).toBe(1);
    expect(tokenizer.tokenize("Hello world")).toEqual(tokens.slice(1));
    expect(tokenizer.detokenize(tokens.slice(1)).trim()).toBe("Hello world");
  });

  it("both matchers agree with decode() + ForcedSequence on real samples", async () => {
    const rag = parseDataset(readFileSync("bench/data/llma-rag.jsonl", "utf8")).samples.slice(0, 3);
    const cnndm = parseDataset(readFileSync("bench/data/llma-cnndm.jsonl", "utf8")).samples.slice(0, 2);
    for (const sample of [...rag, ...cnndm]) {
      const s = tokenizeSample(tokenizer, sample);
      expect(s.prompt[0]).toBe(1);
      for (const doc of s.references) expect(doc.length).toBeLessThanOrEqual(768 + 2);
      const suffix = suffixProfile(s, 64);
      const paper = paperProfile(s, 64);
      for (const [n, k] of [
        [1, 20],
        [2, 8],
        [1, 64],
      ]) {
        const llma = await decodeForced(s, new ReferenceProposer({ references: s.references, policy: new FixedPolicy(n, k) }));
        expect(simulateProfile(suffix, n, k).steps).toBe(llma.stats.steps);
        const ours = await decodeForced(s, new PaperProposer(s.references, n, k));
        expect(simulateProfile(paper, n, k)).toMatchObject({
          steps: ours.stats.steps,
          draftedTokens: ours.stats.draftedTokens,
          acceptedTokens: ours.stats.acceptedTokens,
        });
      }
    }
  });
});

describe("loadTokenizer", () => {
  it("names a missing or non-GGUF file", async () => {
    await expect(loadTokenizer("no/such.gguf")).rejects.toThrow(/tokenizer file not found: no\/such\.gguf/);
    await expect(loadTokenizer("bench/data/README.md")).rejects.toThrow(/bench\/data\/README\.md is not a GGUF file \(it starts with "# Be", not "GGUF"\)/);
  });
});
