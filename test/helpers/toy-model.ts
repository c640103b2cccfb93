import type { TokenModel, TokenSequence } from "../../src/core/model.js";

/**
 * A deterministic stand-in for a language model, for fast decoder tests: the "greedy" next token is a
 * hash of the last three tokens in the sequence's cache, so a wrong KV rollback changes the output.
 * Token t decodes to `words[t]`; token 0 is end-of-generation.
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
      get length() {
        return cache.length;
      },
      get tokens() {
        return cache;
      },
      async evaluate(tokens: readonly number[], predictFrom = 0) {
        if (cache.length + tokens.length > model.contextSize) throw new Error("toy context overflow");
        // The prompt may span several batches (the real backend splits it); a decoding pass must fit one.
        if (predictFrom === 0 && tokens.length > model.batchSize) throw new Error("toy batch overflow");
        model.passes++;
        model.evaluatedTokens += tokens.length;
        const predictions: number[] = [];
        tokens.forEach((token, i) => {
          cache.push(token);
          if (i >= predictFrom) predictions.push(model.nextAfter(cache));
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
