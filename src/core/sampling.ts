/**
 * Lossless sampling with references.
 *
 * A copied draft is deterministic (it does not depend on the model's probabilities), so speculative
 * sampling needs no rejection-sampling correction: at each drafted position the model's own sample is
 * drawn, the draft token is kept while it equals that sample, and at the first mismatch the sample is
 * kept and the rest of the draft dropped (see `verifyDraft`).
 *
 * **Position-indexed randomness** makes this exactly reproducible, not just equal in distribution. The
 * i-th generated token (i = 0 for the first one) is drawn with its own 32-bit seed
 *
 *     s_i = positionSeed(seed, i) = fmix32(fmix32(seed ^ 0x5851f42d) + i * 0x9e3779b9 mod 2^32)
 *
 * (murmur3's finalizer fmix32, a bijection; `0xffffffff`, which llama.cpp reads as "seed me randomly",
 * becomes `0xfffffffe`), turned into one uniform number u_i in [0, 1) and consumed by inverse-CDF
 * sampling over the processed distribution in a fixed candidate order: the first candidate whose
 * cumulative probability exceeds u_i. The token at position i is therefore a deterministic function of
 * (the model's distribution at i, seed, i), whether position i was reached by a one-token step or inside
 * a verified draft, so:
 *
 * - output WITH references is token-for-token identical to output WITHOUT them for the same seed (and
 *   the same model, options and prompt; batched logits must equal one-by-one logits, which llma's
 *   llama.cpp settings give: see README "Why lossless holds");
 * - each output is an exact sample of the sampling distribution (every u_i is a fresh uniform draw);
 * - the same seed replays the same output.
 *
 * s_i is distinct for distinct i (the map is a bijection of i mod 2^32), so two consecutive positions of
 * a batch never share a seed (llama.cpp keeps, rather than reseeds, a sampler given the seed it already
 * has); the one exception would need s_i = 0xffffffff next to s_{i±1} = 0xfffffffe (odds 2^-63).
 *
 * How u_i comes out of s_i is the backend's, fixed per backend:
 * - llama.cpp (src/backends/llama-cpp.ts): its `dist` sampler seeded with s_i, i.e.
 *   u_i = std::uniform_real_distribution<double>(mt19937(s_i)), over its candidate order (token-id
 *   order, or descending logit once a top-k/top-p filter has sorted them);
 * - JS backends (the toy model of the tests) use {@link sampleToken} here: u_i = s_i / 2^32, candidates
 *   in descending probability, ties by token id.
 *
 * **Processed distribution** (llama.cpp's sampler chain, identical at every position): top-k, then
 * top-p, then min-p on the model's distribution at temperature 1, then the temperature, then softmax.
 */

export interface DistributionOptions {
  /** > 0 (temperature 0 is greedy decoding, which draws nothing). */
  readonly temperature: number;
  /** Keep the k most likely tokens (0 or absent: no limit). */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probabilities sum to at least p (absent or 1: all). */
  readonly topP?: number;
  /** Drop tokens less likely than minP times the most likely one (absent or 0: none). */
  readonly minP?: number;
}

/** A sampled request: the processed distribution and the request's seed. */
export interface SamplingOptions extends DistributionOptions {
  /** Unsigned 32-bit request seed (see {@link normalizeSeed}). */
  readonly seed: number;
}

/** What a backend must draw after each predicted position of a forward pass. */
export interface SampleRequest {
  readonly options: DistributionOptions;
  /** One seed per predicted position, in order: `positionSeed(seed, i)` for the generated token's index i. */
  readonly seeds: readonly number[];
  /**
   * Optional, for analysis and tests: receives the processed distribution after each predicted position
   * (index into the predictions). Costly on a big vocabulary without top-k (every candidate is copied).
   */
  readonly onDistribution?: (position: number, distribution: TokenDistribution) => void;
}

/** The candidates of a processed distribution and their probabilities (llama.cpp: most likely first). */
export interface TokenDistribution {
  readonly tokens: readonly number[];
  readonly probabilities: readonly number[];
}

const TWO_32 = 4294967296;
/** llama.cpp's LLAMA_DEFAULT_SEED: a dist sampler given it seeds itself from the clock. */
const LLAMA_RANDOM_SEED = 0xffffffff;

/** murmur3's 32-bit finalizer: a bijection of uint32 with full avalanche. */
export function fmix32(h: number): number {
  h >>>= 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The seed of the `index`-th generated token (0-based) of a request with seed `seed`. */
export function positionSeed(seed: number, index: number): number {
  const base = fmix32((seed ^ 0x5851f42d) >>> 0);
  const s = fmix32((base + Math.imul(index >>> 0, 0x9e3779b9)) >>> 0);
  return s === LLAMA_RANDOM_SEED ? LLAMA_RANDOM_SEED - 1 : s;
}

/** The uniform number in [0, 1) a JS backend draws from a position seed. */
export function uniformFromSeed(positionSeedValue: number): number {
  return (positionSeedValue >>> 0) / TWO_32;
}

/** Any integer seed as an unsigned 32-bit one (taken modulo 2^32). */
export function normalizeSeed(seed: number): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  return ((seed % TWO_32) + TWO_32) % TWO_32;
}

/** A fresh random request seed (for requests that give none; report it so the output can be replayed). */
export function randomSeed(): number {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0];
}

/** Whether these options sample (temperature > 0) rather than decode greedily. */
export function isSampling(options: { readonly temperature?: number } | undefined): boolean {
  return options?.temperature !== undefined && options.temperature > 0;
}

/** Throws a RangeError naming the first invalid option. */
export function validateDistributionOptions(options: Partial<DistributionOptions>): void {
  const { temperature, topK, topP, minP } = options;
  if (temperature !== undefined && !(Number.isFinite(temperature) && temperature >= 0))
    throw new RangeError(`temperature must be a number >= 0, got ${temperature}`);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) throw new RangeError(`topK must be an integer >= 0 (0: no limit), got ${topK}`);
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${topP}`);
  if (minP !== undefined && !(minP >= 0 && minP < 1)) throw new RangeError(`minP must be in [0, 1), got ${minP}`);
}

/**
 * The processed distribution of `logits` (one per token id), JS reference implementation of the chain
 * above: candidates in descending probability, ties by token id; tokens with logit -Infinity never
 * survive.
 */
export function processDistribution(logits: ArrayLike<number>, options: DistributionOptions): TokenDistribution {
  if (!(options.temperature > 0)) throw new RangeError(`processDistribution needs temperature > 0, got ${options.temperature}`);
  let ids: number[] = [];
  for (let t = 0; t < logits.length; t++) if (logits[t] > -Infinity) ids.push(t);
  if (ids.length === 0) throw new Error("every token has probability 0");
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  const { topK = 0, topP = 1, minP = 0 } = options;
  if (topK > 0 && topK < ids.length) ids = ids.slice(0, topK);
  if (topP < 1) {
    const p = softmax(ids.map((t) => logits[t]));
    let cumulative = 0;
    let keep = ids.length;
    for (let i = 0; i < p.length; i++) {
      cumulative += p[i];
      if (cumulative >= topP) {
        keep = i + 1;
        break;
      }
    }
    ids = ids.slice(0, keep);
  }
  if (minP > 0) {
    const threshold = logits[ids[0]] + Math.log(minP);
    ids = ids.filter((t, i) => i === 0 || logits[t] >= threshold);
  }
  return { tokens: ids, probabilities: softmax(ids.map((t) => logits[t] / options.temperature)) };
}

function softmax(values: readonly number[]): number[] {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  const exp = values.map((v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((e) => e / sum);
}

/** Inverse-CDF sampling: the first index whose cumulative probability exceeds `u` (in [0, 1)). */
export function sampleIndex(probabilities: readonly number[], u: number): number {
  let total = 0;
  for (const p of probabilities) total += p;
  const target = u * total;
  let cumulative = 0;
  let last = -1;
  for (let i = 0; i < probabilities.length; i++) {
    if (probabilities[i] <= 0) continue;
    cumulative += probabilities[i];
    last = i;
    if (cumulative > target) return i;
  }
  if (last < 0) throw new Error("cannot sample from a distribution without mass");
  return last; // rounding: u just below 1
}

/** A JS backend's token at a position: the processed distribution of `logits`, sampled with the position's seed. */
export function sampleToken(logits: ArrayLike<number>, options: DistributionOptions, positionSeedValue: number): number {
  const distribution = processDistribution(logits, options);
  return distribution.tokens[sampleIndex(distribution.probabilities, uniformFromSeed(positionSeedValue))];
}
