import type { CostCurve } from "./cost-model.js";
import type { SampleRequest } from "./sampling.js";

/**
 * What the decoder needs from a model. The core depends on this interface only; backends
 * (src/backends/) implement it.
 */
export interface TokenSequence {
  /** Tokens currently held in this sequence's KV cache. */
  readonly length: number;
  /** The tokens in the KV cache, in order (lets a new request reuse a shared prompt prefix). */
  readonly tokens: readonly number[];
  /**
   * Appends `tokens` to the sequence in ONE forward pass and returns the model's next token after every
   * appended position from `predictFrom` on (so `tokens.length - predictFrom` tokens): its greedy
   * choice, or with `sample` (only where `canSample` is true) the token drawn from the processed
   * distribution with that position's seed (`sample.seeds[j]` for the j-th prediction; see sampling.ts).
   */
  evaluate(tokens: readonly number[], predictFrom?: number, sample?: SampleRequest): Promise<number[]>;
  /** Whether `evaluate` honours a SampleRequest (sequences without it can only decode greedily). */
  readonly canSample?: boolean;
  /** Drops KV cache entries from the tail so that `length` tokens remain. */
  truncate(length: number): Promise<void>;
  dispose(): void;
}

/**
 * Whether this backend's batched passes give exactly what one-token passes give (measured by the
 * backend, e.g. src/backends/exactness.ts). LLMA is lossless only for passes that do.
 */
export interface PassExactness {
  /** Every checked width gives bit-identical outputs. */
  readonly exact: boolean;
  /** Widest pass known to be exact (1: no batched pass is). */
  readonly exactUpTo: number;
}

export interface TokenModel {
  /** What a forward pass over T tokens costs on this backend (measured): the cost-aware policy's prior. */
  readonly costCurve?: CostCurve;
  /**
   * Measures (or loads) the cost curve when an Accelerator needs it and `costCurve` is absent (the
   * backend knows how; `onMeasure` before it measures); without it, policy "auto" on a model with no
   * curve is an error. What requests learn on top of the curve is their Accelerator's (accelerator.ts).
   */
  ensureCostCurve?(options?: { onMeasure?: () => void }): Promise<CostCurve>;
  /** The backend's measured exactness of batched passes; absent when unknown (not measured). */
  readonly exactness?: PassExactness;
  /** Tokens of `text`; with `bos`, the model's beginning-of-sequence token first (if it has one). */
  tokenize(text: string, options?: { bos?: boolean }): number[];
  /** Text of `tokens`; `context` (tokens that precede them) lets leading spaces decode correctly. */
  detokenize(tokens: readonly number[], context?: readonly number[]): string;
  /** Whether a token ends generation (EOS, EOT, ...). */
  isEndOfGeneration(token: number): boolean;
  /** The model's end-of-sequence token id, when it has one (forced targets end with it). */
  readonly eosToken?: number;
  /** Maximum tokens one sequence can hold. */
  readonly contextSize: number;
  /** Most tokens one evaluate() call may append. */
  readonly batchSize: number;
  /**
   * Whether truncating a sequence re-evaluates the tokens it keeps since the last pass (models with
   * recurrent state: their state cannot be cut back, the backend restores a snapshot and evaluates the
   * kept tokens again). Then a rejected draft costs one more pass, which the cost-aware policy weighs.
   */
  readonly rollbackReevaluates?: boolean;
  createSequence(): Promise<TokenSequence>;
}
