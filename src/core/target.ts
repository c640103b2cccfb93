import type { TokenModel, TokenSequence } from "./model.js";

/**
 * Target-oriented decoding (the paper's Algorithm 2): the output is forced to a known target, so
 * acceptance is decided against the target instead of the model's argmax. Every forward pass still
 * runs on the real model, so the time measured is the time LLMA would take if the model produced the
 * target: cost depends on shapes and token counts, not on the weights' values.
 */
export class ForcedSequence implements TokenSequence {
  /**
   * @param inner the real sequence (its forward passes are run and timed)
   * @param promptLength tokens before the target starts
   * @param target the output to force; after it, `endToken` is "predicted"
   */
  constructor(
    private readonly inner: TokenSequence,
    private readonly promptLength: number,
    private readonly target: readonly number[],
    private readonly endToken: number,
  ) {}

  get length(): number {
    return this.inner.length;
  }

  get tokens(): readonly number[] {
    return this.inner.tokens;
  }

  async evaluate(tokens: readonly number[], predictFrom = 0): Promise<number[]> {
    const start = this.inner.length;
    await this.inner.evaluate(tokens, predictFrom);
    const predictions: number[] = [];
    for (let i = predictFrom; i < tokens.length; i++) {
      // The token after absolute position p is target[p + 1 - promptLength].
      const targetIndex = start + i + 1 - this.promptLength;
      predictions.push(targetIndex >= 0 && targetIndex < this.target.length ? this.target[targetIndex] : this.endToken);
    }
    return predictions;
  }

  truncate(length: number): Promise<void> {
    return this.inner.truncate(length);
  }

  dispose(): void {
    this.inner.dispose();
  }
}

/**
 * An end-of-generation token of the model, for ending forced targets: its EOS when it says which
 * (Llama-3's 128001, Qwen's 151643), else the usual small ids of SentencePiece vocabularies.
 */
export function endOfGenerationToken(model: TokenModel, candidates: readonly number[] = [2, 0, 1]): number {
  if (model.eosToken !== undefined && model.isEndOfGeneration(model.eosToken)) return model.eosToken;
  for (const token of candidates) if (model.isEndOfGeneration(token)) return token;
  throw new Error("the model has no end-of-generation token among the usual ids; pass one explicitly");
}
