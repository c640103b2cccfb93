/**
 * What a forward pass costs as a function of the tokens it carries (its width). On a GPU the curve is
 * nearly flat (long drafts are almost free); on a CPU it rises steeply (a 16-token pass costs ~5-12x a
 * 1-token one). The policy only needs ratios, so any unit works; the backend measures milliseconds.
 *
 * Two objects:
 * - {@link CostCurve}: a fixed, measured curve (a calibration, or a known machine in a simulation);
 * - {@link PassCostModel}: what the policy prices drafts with: learned from the passes llma actually
 *   runs, with a calibration only as its prior. On a shared machine one pass's time varies 2-7x between
 *   repeats and the curve's shape changes from day to day, so a calibration alone cannot be trusted.
 */
export interface CostPoint {
  readonly tokens: number;
  readonly ms: number;
}

/** A price list for passes: what the policy needs. */
export interface PassCosts {
  /** Expected milliseconds of one pass over `width` tokens. */
  cost(width: number): number;
}

export class CostCurve implements PassCosts {
  private readonly points: CostPoint[];

  constructor(points: readonly CostPoint[]) {
    const sorted = [...points].filter((p) => p.tokens >= 1 && p.ms > 0).sort((a, b) => a.tokens - b.tokens);
    if (sorted.length === 0 || sorted[0].tokens !== 1) throw new Error("a cost curve needs a measured point at 1 token");
    this.points = sorted;
  }

  /** A linear curve a + b*T (e.g. from a known machine), for tests and simulations. */
  static linear(fixedMs: number, perTokenMs: number, maxTokens = 64): CostCurve {
    const points: CostPoint[] = [];
    for (let t = 1; t <= maxTokens; t *= 2) points.push({ tokens: t, ms: fixedMs + perTokenMs * t });
    return new CostCurve(points);
  }

  get measured(): readonly CostPoint[] {
    return this.points.map((p) => ({ tokens: p.tokens, ms: p.ms }));
  }

  /** Cost of one pass over `tokens` tokens: piecewise linear between points, extrapolated past the last. */
  cost(tokens: number): number {
    const pts = this.points;
    if (pts.length === 1) return pts[0].ms * tokens;
    let i = 0;
    while (i < pts.length - 2 && pts[i + 1].tokens < tokens) i++;
    const a = pts[i];
    const b = pts[i + 1];
    const y = a.ms + ((b.ms - a.ms) * (tokens - a.tokens)) / (b.tokens - a.tokens);
    return Math.max(a.ms * 0.5, y);
  }
}

/**
 * Width buckets: passes of similar width cost alike, and a bucket collects observations faster than a
 * single width would. Upper edges (inclusive); the last bucket takes everything wider.
 */
const BUCKET_TOPS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, Infinity];
export function bucketOf(width: number): number {
  let b = 0;
  while (width > BUCKET_TOPS[b]) b++;
  return b;
}

/** Recent observations kept per bucket: a window, so the estimate follows the machine's load. */
const WINDOW = 16;
/** A bucket with fewer observations than this is "uncertain". */
const CONFIDENT_AFTER = 3;
/** A bucket not observed for this many passes is "stale": the machine may have changed since. */
const STALE_AFTER_PASSES = 400;
/**
 * At most EXPLORATION_SHARE of passes may be exploratory drafts (priced with the optimistic estimate),
 * and they may cost at most EXPLORATION_TIME_SHARE of the decoding time beyond what plain steps would
 * have cost: on a steep CPU curve one 64-token pass costs 20-30 plain steps, so a budget in passes alone
 * let exploration eat several percent of the time. On the virtual clock with the 1.1B shape's curve
 * (test/bench/policy-sim.test.ts) exploration was most of what CNN/DM lost against plain decoding: 2%
 * of the time at a 2% share, 1% at 1%; a wrong prior is then corrected within ~600 passes instead of 300.
 */
export const EXPLORATION_SHARE = 0.02;
export const EXPLORATION_TIME_SHARE = 0.01;

class Bucket {
  /** log(observed / expected) of the last WINDOW passes, oldest first. */
  readonly logs: number[] = [];
  count = 0;
  lastPass = -Infinity;

  add(logRatio: number, pass: number): void {
    this.logs.push(logRatio);
    if (this.logs.length > WINDOW) this.logs.shift();
    this.count++;
    this.lastPass = pass;
  }

  /**
   * Robust center of the window, blended with a prior value (weight 1): noise on a shared machine only
   * ever adds time and comes in bursts, so with one or two observations the fastest is the best guess,
   * and from three on the median ignores a burst.
   */
  estimate(prior: number): number {
    const n = this.logs.length;
    if (n === 0) return prior;
    let center: number;
    if (n < CONFIDENT_AFTER) center = Math.min(...this.logs);
    else {
      const sorted = [...this.logs].sort((a, b) => a - b);
      center = n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
    return (n * center + prior) / (n + 1);
  }
}

/**
 * Pass costs learned online. The estimate for width w is
 *
 *   prior(w) x base x relative(bucket of w)
 *
 * - `prior` is the calibration's curve: it gives the shape inside a bucket and the starting point;
 * - `base` is how far one-token passes are from the prior now (most passes are one-token passes, so it
 *   follows a busier or calmer machine within a few steps);
 * - `relative(b)` is how far passes of bucket b are from prior x base: a curve of the wrong shape is
 *   corrected bucket by bucket, and a bucket never observed borrows the correction of the nearest
 *   observed one (a prior 2x too steep at width 8 is likely too steep at 16 too).
 *
 * A curve that says "never draft" would never be re-tested, so the policy may spend a bounded share of
 * passes ({@link EXPLORATION_SHARE}) on drafts priced by {@link optimisticCost}, which halves the extra
 * cost of buckets that are uncertain or stale.
 */
export class PassCostModel implements PassCosts {
  private readonly buckets = BUCKET_TOPS.map(() => new Bucket());
  private passes = 0;
  private explorations = 0;
  /** Milliseconds of all observed passes, and what exploratory passes cost beyond a one-token pass. */
  private totalMs = 0;
  private explorationExtraMs = 0;
  /** Cached per-bucket log corrections; recomputed after an observation. */
  private corrections: Float64Array | undefined;

  constructor(readonly prior: CostCurve) {}

  /** Passes observed so far, how many of them were exploratory, and the time shares. */
  get observed(): { passes: number; explorations: number; totalMs: number; explorationExtraMs: number } {
    return { passes: this.passes, explorations: this.explorations, totalMs: this.totalMs, explorationExtraMs: this.explorationExtraMs };
  }

  cost(width: number): number {
    const w = Math.max(1, width);
    const c = this.correctionsNow();
    const b = bucketOf(w);
    // Never cheaper than the widest width of a narrower bucket: a longer pass never costs less.
    let floor = 0;
    for (let i = 0; i < b; i++) floor = Math.max(floor, this.prior.cost(BUCKET_TOPS[i]) * Math.exp(c[0] + (i === 0 ? 0 : c[i])));
    return Math.max(floor, this.prior.cost(w) * Math.exp(c[0] + (b === 0 ? 0 : c[b])));
  }

  /** Whether passes of this width have too few or too old observations to be trusted. */
  uncertain(width: number): boolean {
    const bucket = this.buckets[bucketOf(Math.max(1, width))];
    return bucket.logs.length < CONFIDENT_AFTER || this.passes - bucket.lastPass > STALE_AFTER_PASSES;
  }

  /** The cost as it may turn out to be: for uncertain widths, half the extra over a one-token pass. */
  optimisticCost(width: number): number {
    const cost = this.cost(width);
    if (width <= 1 || !this.uncertain(width)) return cost;
    const one = this.cost(1);
    return one + (cost - one) / 2;
  }

  /**
   * Whether an exploratory draft fits in the budget now: the first one always; after it, while
   * exploratory passes are fewer than EXPLORATION_SHARE of all passes and their time beyond a
   * one-token pass is under EXPLORATION_TIME_SHARE of all decoding time.
   */
  mayExplore(): boolean {
    if (this.explorations === 0) return true;
    return this.explorations < 1 + EXPLORATION_SHARE * this.passes && this.explorationExtraMs < EXPLORATION_TIME_SHARE * this.totalMs;
  }

  /** A measured pass: `width` tokens took `ms`; `exploratory` when it was drafted to test the estimate. */
  observe(width: number, ms: number, exploratory = false): void {
    if (!(ms > 0) || !(width >= 1)) return;
    this.passes++;
    this.totalMs += ms;
    if (exploratory) {
      this.explorations++;
      this.explorationExtraMs += Math.max(0, ms - this.cost(1));
    }
    const c = this.correctionsNow();
    const b = bucketOf(width);
    // One-token passes measure the base; wider ones their bucket relative to the base now.
    const expected = this.prior.cost(width) * Math.exp(b === 0 ? 0 : c[0]);
    this.buckets[b].add(Math.log(ms / expected), this.passes);
    this.corrections = undefined;
  }

  private correctionsNow(): Float64Array {
    if (this.corrections) return this.corrections;
    const c = new Float64Array(this.buckets.length);
    c[0] = this.buckets[0].estimate(0);
    const observed: number[] = [];
    for (let b = 1; b < this.buckets.length; b++) if (this.buckets[b].logs.length > 0) observed.push(b);
    for (let b = 1; b < this.buckets.length; b++) {
      let borrowed = 0;
      if (observed.length > 0 && this.buckets[b].logs.length === 0) {
        let nearest = observed[0];
        for (const o of observed) if (Math.abs(o - b) < Math.abs(nearest - b)) nearest = o;
        borrowed = this.buckets[nearest].estimate(0);
      }
      c[b] = this.buckets[b].estimate(borrowed);
    }
    this.corrections = c;
    return c;
  }

  /** The current estimate at the calibration's widths (for reports). */
  get estimated(): CostPoint[] {
    return this.prior.measured.map((p) => ({ tokens: p.tokens, ms: this.cost(p.tokens) }));
  }
}
