/**
 * Chi-square tests for the sampling tests, and a deliberately wrong acceptance rule that they must catch.
 */
import type { TokenSequence } from "../../src/core/model.js";
import type { SampleRequest, TokenDistribution } from "../../src/core/sampling.js";

/** ln Γ(x) (Lanczos, g = 7, n = 9), x > 0. */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularized upper incomplete gamma Q(a, x) (Numerical Recipes: series below a + 1, continued fraction above). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const gln = logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - gln);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - gln) * h;
}

/** P(X >= statistic) for X ~ chi-square with df degrees of freedom. */
export function chiSquarePValue(statistic: number, df: number): number {
  return gammaQ(df / 2, statistic / 2);
}

export interface ChiSquareResult {
  readonly statistic: number;
  readonly df: number;
  readonly pValue: number;
  /** Categories after pooling the rare ones. */
  readonly cells: number;
}

function tally(samples: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  return counts;
}

/**
 * Goodness of fit of `samples` to exact probabilities (categories keyed by string). Categories with an
 * expected count below `minExpected` are pooled into one (with whatever mass `expected` leaves out).
 */
export function chiSquareGoodnessOfFit(samples: readonly string[], expected: ReadonlyMap<string, number>, minExpected = 5): ChiSquareResult {
  const n = samples.length;
  const counts = tally(samples);
  let pooledObserved = 0;
  let pooledExpected = 0;
  let statistic = 0;
  let cells = 0;
  let covered = 0;
  for (const [key, p] of expected) {
    covered += p;
    const e = n * p;
    const o = counts.get(key) ?? 0;
    if (e < minExpected) {
      pooledObserved += o;
      pooledExpected += e;
    } else {
      statistic += (o - e) ** 2 / e;
      cells++;
    }
  }
  for (const [key, o] of counts) if (!expected.has(key)) pooledObserved += o;
  // Probabilities that sum to 1 leave a float residue (1 - 0.05 * 20 is not 0): no cell for it.
  pooledExpected += n * Math.max(0, 1 - covered);
  if (pooledExpected > 1e-9 * n) {
    statistic += (pooledObserved - pooledExpected) ** 2 / pooledExpected;
    cells++;
  } else if (pooledObserved > 0) statistic = Infinity; // an outcome of probability 0
  const df = cells - 1;
  return { statistic, df, pValue: chiSquarePValue(statistic, df), cells };
}

/** Goodness of fit of `samples` (category indices 0 .. cells - 1) to the uniform distribution over `cells` categories. */
export function chiSquareUniform(samples: readonly number[], cells: number, minExpected = 5): ChiSquareResult {
  const expected = new Map(Array.from({ length: cells }, (_, i) => [String(i), 1 / cells] as const));
  return chiSquareGoodnessOfFit(samples.map(String), expected, minExpected);
}

/** A test's result in one line, for the tests' logs. */
export function describeChiSquare(result: Pick<ChiSquareResult, "statistic" | "df" | "pValue">): string {
  return `chi2 ${result.statistic.toFixed(1)} df ${result.df} p ${result.pValue.toExponential(2)}`;
}

/**
 * Two-sample chi-square test of homogeneity (2 x C table): do `a` and `b` come from one distribution?
 * Categories whose pooled count is below 2 * minExpected are merged (so every expected count is >= minExpected
 * for equal sample sizes).
 */
export function chiSquareHomogeneity(a: readonly string[], b: readonly string[], minExpected = 5): ChiSquareResult {
  const countsA = tally(a);
  const countsB = tally(b);
  const keys = new Set([...countsA.keys(), ...countsB.keys()]);
  const cellsA: number[] = [];
  const cellsB: number[] = [];
  let otherA = 0;
  let otherB = 0;
  const nA = a.length;
  const nB = b.length;
  for (const key of keys) {
    const ca = countsA.get(key) ?? 0;
    const cb = countsB.get(key) ?? 0;
    const total = ca + cb;
    if (Math.min(nA, nB) * (total / (nA + nB)) < minExpected) {
      otherA += ca;
      otherB += cb;
    } else {
      cellsA.push(ca);
      cellsB.push(cb);
    }
  }
  if (otherA + otherB > 0) {
    cellsA.push(otherA);
    cellsB.push(otherB);
  }
  let statistic = 0;
  for (let i = 0; i < cellsA.length; i++) {
    const total = cellsA[i] + cellsB[i];
    const eA = (nA * total) / (nA + nB);
    const eB = (nB * total) / (nA + nB);
    statistic += (cellsA[i] - eA) ** 2 / eA + (cellsB[i] - eB) ** 2 / eB;
  }
  const df = cellsA.length - 1;
  return { statistic, df, pValue: chiSquarePValue(statistic, df), cells: cellsA.length };
}

/**
 * A sequence that implements a deliberately WRONG acceptance rule under the decoder's correct one: at
 * every drafted position it reports the drafted token as the model's sample whenever the model gives
 * that token probability > `threshold`, so the decoder accepts it ("accept a draft token if it is
 * plausible"). That biases the output toward the references; the statistical tests must reject it.
 */
export class PlausibleDraftSequence implements TokenSequence {
  readonly canSample = true;
  constructor(
    private readonly inner: TokenSequence,
    private readonly threshold = 0.05,
  ) {}

  get length(): number {
    return this.inner.length;
  }

  get tokens(): readonly number[] {
    return this.inner.tokens;
  }

  async evaluate(tokens: readonly number[], predictFrom = 0, sample?: SampleRequest): Promise<number[]> {
    if (!sample) return this.inner.evaluate(tokens, predictFrom);
    const distributions: TokenDistribution[] = [];
    const predictions = await this.inner.evaluate(tokens, predictFrom, { ...sample, onDistribution: (j, d) => (distributions[j] = d) });
    // Prediction j is followed in this pass by the drafted token tokens[predictFrom + j + 1].
    for (let j = 0; predictFrom + j + 1 < tokens.length; j++) {
      const drafted = tokens[predictFrom + j + 1];
      const index = distributions[j].tokens.indexOf(drafted);
      if (index >= 0 && distributions[j].probabilities[index] > this.threshold) predictions[j] = drafted;
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
 * Exact probabilities of every outcome of the first `depth` generated tokens (outcome key: the tokens
 * joined by ",", ending early at an end-of-generation token, written "eos"), by walking the tree of
 * processed distributions. `distributionAfter(prefix)` gives the distribution after prompt + prefix.
 */
export async function exactOutcomeProbabilities(
  depth: number,
  distributionAfter: (prefix: readonly number[]) => Promise<TokenDistribution>,
  isEnd: (token: number) => boolean,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const walk = async (prefix: number[], probability: number): Promise<void> => {
    if (prefix.length === depth) {
      out.set(prefix.join(","), probability);
      return;
    }
    const distribution = await distributionAfter(prefix);
    for (let i = 0; i < distribution.tokens.length; i++) {
      const token = distribution.tokens[i];
      const p = probability * distribution.probabilities[i];
      if (p <= 0) continue;
      if (isEnd(token)) out.set([...prefix, "eos"].join(","), (out.get([...prefix, "eos"].join(",")) ?? 0) + p);
      else await walk([...prefix, token], p);
    }
  };
  await walk([], 1);
  return out;
}

/** The outcome key of a generation's first tokens (see exactOutcomeProbabilities). */
export function outcomeKey(tokens: readonly number[], stoppedAtEos: boolean, depth: number): string {
  const head = tokens.slice(0, depth).map(String);
  if (head.length < depth && stoppedAtEos) head.push("eos");
  return head.join(",");
}
