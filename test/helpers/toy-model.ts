import type { TokenModel, TokenSequence } from "../../src/core/model.js";
import { fmix32, processDistribution, sampleToken, type SampleRequest } from "../../src/core/sampling.js";

/**
 * A deterministic stand-in for a language model, for fast decoder tests: the "greedy" next token is a
 * hash of the last three tokens in the sequence's cache, so a wrong KV rollback changes the output.
 * Token t decodes to `words[t]`; token 0 is end-of-generation. For sampling it has a full distribution
 * per position ({@link logitsAfter}: the greedy token well ahead, the others spread by a hash of the same
 * history), sampled by sampling.ts's JS reference sampler with each position's seed.
 */
export class ToyModel implements TokenModel {
  readonly words: string[];
  passes = 0;
  evaluatedTokens = 0;

  constructor(
    readonly vocabularySize = 40,
    readonly contextSize = 4096,
    readonly batchSize = 512,
    readonly eosEvery = 0, // 0: never predicts EOS
  ) {
    this.words = Array.from({ length: vocabularySize }, (_, t) => (t === 0 ? "" : ` w${t}`));
  }

  nextAfter(history: readonly number[]): number {
    let h = 2166136261;
    for (const token of history.slice(-3)) h = Math.imul(h ^ token, 16777619) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
    if (this.eosEvery > 0 && h % this.eosEvery === 0) return 0;
    return 1 + (h % (this.vocabularySize - 1));
  }

  /** Logits after `history`: argmax = nextAfter(history); EOS (token 0) only possible when eosEvery > 0. */
  logitsAfter(history: readonly number[]): Float64Array {
    const greedy = this.nextAfter(history);
    let h = 0x811c9dc5;
    for (const token of history.slice(-3)) h = fmix32(h ^ token);
    const logits = new Float64Array(this.vocabularySize);
    for (let t = 0; t < this.vocabularySize; t++) logits[t] = (3 * fmix32(h ^ Math.imul(t + 1, 0x9e3779b9))) / 4294967296;
    if (this.eosEvery === 0) logits[0] = -Infinity;
    else if (greedy !== 0) logits[0] -= 2;
    logits[greedy] = 5;
    return logits;
  }

  tokenize(text: string): number[] {
    return text
      .split(" ")
      .filter((word) => word.length > 0)
      .map((word) => Number(word.slice(1)));
  }

  detokenize(tokens: readonly number[]): string {
    return tokens.map((t) => this.words[t]).join("");
  }

  isEndOfGeneration(token: number): boolean {
    return token === 0;
  }

  async createSequence(): Promise<TokenSequence> {
    const model = this;
    const cache: number[] = [];
    return {
      canSample: true,
      get length() {
        return cache.length;
      },
      get tokens() {
        return cache;
      },
      async evaluate(tokens: readonly number[], predictFrom = 0, sample?: SampleRequest) {
        if (cache.length + tokens.length > model.contextSize) throw new Error("toy context overflow");
        // The prompt may span several batches (the real backend splits it); a decoding pass must fit one.
        if (predictFrom === 0 && tokens.length > model.batchSize) throw new Error("toy batch overflow");
        model.passes++;
        model.evaluatedTokens += tokens.length;
        const predictions: number[] = [];
        if (sample && sample.seeds.length !== tokens.length - predictFrom) throw new Error("toy: one seed per predicted position");
        tokens.forEach((token, i) => {
          cache.push(token);
          if (i < predictFrom) return;
          if (!sample) {
            predictions.push(model.nextAfter(cache));
            return;
          }
          const logits = model.logitsAfter(cache);
          predictions.push(sampleToken(logits, sample.options, sample.seeds[i - predictFrom]));
          sample.onDistribution?.(i - predictFrom, processDistribution(logits, sample.options));
        });
        return predictions;
      },
      async truncate(length: number) {
        if (length < 0 || length > cache.length) throw new Error("bad truncate");
        cache.length = length;
      },
      dispose() {},
    };
  }
}
