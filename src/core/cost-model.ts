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

/** What a timed pass carried beyond its width (see {@link PassCostRecorder}). */
export interface PassOutcome {
  /** Drafted to test an uncertain cost estimate rather than because it was expected to pay (see DraftPlan). */
  readonly exploratory?: boolean;
  /** Drafted tokens the pass kept. */
  readonly accepted?: number;
}

/**
 * Where the decoder records what each forward pass cost, as it runs it (the model's learned
 * {@link PassCostModel}; a simulation on a virtual clock passes its own clock to the decoder instead).
 */
export interface PassCostRecorder {
  recordPass(width: number, ms: number, outcome?: PassOutcome): void;
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
/**
 * A bucket not observed for this many passes is "stale": the machine may have changed since. It was 400,
 * and that starved: on a fresh clone the demo's second run met a stretch of load while its first few
 * drafts ran (2- and 4-token passes timed at 2.2x and 5.5x a one-token pass), believed it, and drafted
 * nothing for the rest of the run, cache hits included. At 48 a wrong belief is re-tested within a
 * request or two, and the exploration budget (by regret, below) keeps the re-tests cheap.
 */
export const STALE_AFTER_PASSES = 48;
/**
 * A bucket whose recent passes disagree by more than this (upper over lower quartile) was measured
 * while the machine's load changed: its estimate is "uncertain" and may be re-tested.
 */
const NOISY_SPREAD = 1.6;
/**
 * At most EXPLORATION_SHARE of passes may be exploratory drafts (priced with the optimistic estimate),
 * and their regret, the time they took beyond what plain steps would have taken for the tokens they
 * gave (1 + accepted one-token passes), may be at most EXPLORATION_TIME_SHARE of the decoding time. On
 * a steep CPU curve one 64-token pass costs 20-30 plain steps, so a budget in passes alone let
 * exploration eat several percent of the time (on the virtual clock with the 1.1B shape's curve,
 * test/bench/policy-sim.test.ts, exploration was most of what CNN/DM lost). The budget used to charge
 * an exploration's whole extra time over a one-token pass; that charged an exploratory draft of an
 * exact copy, which gains what it costs or more, as if it were lost, so one re-test used up the budget
 * and a wrong belief stayed. Charging regret keeps failed explorations within 1% of the time and lets
 * explorations that pay continue until the estimate they test is corrected.
 */
export const EXPLORATION_SHARE = 0.02;
export const EXPLORATION_TIME_SHARE = 0.01;
/** One-token passes' worth of regret allowed before any decoding time has accrued (see explorationAllowance). */
export const START_ALLOWANCE = 3;

/** The quantile of a bucket's window it is priced at (see Bucket.center). */
const LOW_QUANTILE = 0.25;

class Bucket {
  /** log(observed / expected) of the last WINDOW passes, oldest first. */
  readonly logs: number[] = [];
  count = 0;
  lastPass = -Infinity;

  add(logRatio: number, pass: number): void {
    // Noise only ever adds time: a pass far faster than the window's center shows the window measured
    // a load that has gone (or a wrong prior), so start over from it rather than let old passes
    // outvote it. (A pass far slower may be a burst: the median takes care of that.)
    if (this.logs.length > 0 && logRatio < this.center() - Math.log(NOISY_SPREAD)) this.logs.length = 0;
    this.logs.push(logRatio);
    if (this.logs.length > WINDOW) this.logs.shift();
    this.count++;
    this.lastPass = pass;
    this.spreadNow = undefined;
  }

  /** Upper over lower quartile of the window's ratios (1 with fewer than 4 observations); cached until the next add. */
  spread(): number {
    if (this.spreadNow !== undefined) return this.spreadNow;
    const n = this.logs.length;
    if (n < 4) return (this.spreadNow = 1);
    const sorted = [...this.logs].sort((a, b) => a - b);
    return (this.spreadNow = Math.exp(sorted[Math.floor((3 * (n - 1)) / 4)] - sorted[Math.ceil((n - 1) / 4)]));
  }

  /** The policy asks for it at every width it prices, each step: computed once per observation. */
  private spreadNow: number | undefined;

  /**
   * Robust center of the window, blended with a prior value (weight 1).
   */
  estimate(prior: number): number {
    const n = this.logs.length;
    return n === 0 ? prior : (n * this.center() + prior) / (n + 1);
  }

  /**
   * The window's lower quartile (its fastest with one or two observations), at every width alike.
   * Noise on a shared machine only ever adds time, comes in bursts, and adds more to a wide pass than
   * to a one-token one (a 3 ms pass often runs inside one time slice; a 30 ms one is preempted almost
   * surely): under two `yes` processes, width-2 passes of 4, 32 and 147 ms beside one-token passes of
   * 3-4 ms made the median price T=2 at 6x T=1, and the policy drafted nothing for ~60 passes. The same
   * low quantile at every width compares what passes cost when they run, which is what a pass's share
   * of the machine scales; a price too low is found out by the passes it makes the policy draft.
   */
  private center(): number {
    const sorted = [...this.logs].sort((a, b) => a - b);
    const at = (sorted.length - 1) * LOW_QUANTILE;
    const lo = Math.floor(at);
    return sorted[lo] + (sorted[Math.ceil(at)] - sorted[lo]) * (at - lo);
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
export class PassCostModel implements PassCosts, PassCostRecorder {
  private readonly buckets = BUCKET_TOPS.map(() => new Bucket());
  private passes = 0;
  private explorations = 0;
  /** Milliseconds of all recorded passes, and the regret of exploratory ones (see EXPLORATION_TIME_SHARE). */
  private totalMs = 0;
  private explorationRegretMs = 0;
  /** The pass count at the latest exploratory pass. */
  private lastExploration = -Infinity;
  /** Cached per-bucket log corrections; recomputed after an observation. */
  private corrections: Float64Array | undefined;

  constructor(readonly prior: CostCurve) {}

  /** Passes recorded so far, how many of them were exploratory, and the time shares. */
  get recorded(): { passes: number; explorations: number; totalMs: number; explorationRegretMs: number } {
    return { passes: this.passes, explorations: this.explorations, totalMs: this.totalMs, explorationRegretMs: this.explorationRegretMs };
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

  /** Whether passes of this width have too few, too old or too discordant observations to be trusted. */
  uncertain(width: number): boolean {
    const bucket = this.buckets[bucketOf(Math.max(1, width))];
    return bucket.logs.length < CONFIDENT_AFTER || this.passes - bucket.lastPass > STALE_AFTER_PASSES || bucket.spread() > NOISY_SPREAD;
  }

  /**
   * The cost as it may turn out to be, for uncertain widths: half the extra over a one-token pass, or
   * the calibration's shape at today's one-token cost if that is lower (a belief formed while the
   * machine was loaded may be far steeper than the calibration made on a quiet one).
   */
  optimisticCost(width: number): number {
    const cost = this.cost(width);
    if (width <= 1 || !this.uncertain(width)) return cost;
    const one = this.cost(1);
    const calibrated = (this.prior.cost(width) / this.prior.cost(1)) * one;
    return Math.max(one, Math.min(one + (cost - one) / 2, calibrated));
  }

  /**
   * Regret (ms) an exploration may still incur now: EXPLORATION_TIME_SHARE of the decoding time so far
   * plus a starting allowance of START_ALLOWANCE one-token passes, less what explorations have lost.
   */
  explorationAllowance(): number {
    return EXPLORATION_TIME_SHARE * this.totalMs + START_ALLOWANCE * this.cost(1) - this.explorationRegretMs;
  }

  /**
   * Whether an exploratory pass of this width fits in the budget now, even if it keeps no drafted
   * token (its believed cost beyond a one-token pass is what it may lose). One more is always allowed
   * once no exploration has run for STALE_AFTER_PASSES passes, if it is a probe (a pass that may cost
   * no more than two one-token passes): after an exploration that went badly under load the budget
   * takes ~100 passes per one-token pass lost to refill, and a belief formed in that load would stand
   * as long. A probe that does not pay costs at most ~1 one-token pass per STALE_AFTER_PASSES passes;
   * one that pays is a pass far faster than its bucket's belief, which then starts over (Bucket.add),
   * and the policy climbs back to long drafts by further explorations, which cost little when they pay.
   */
  mayExplore(width = 2): boolean {
    return this.widestExploration(width) >= width;
  }

  /** The widest pass up to `maxWidth` that mayExplore allows now (1: none); the budget is read once. */
  widestExploration(maxWidth: number): number {
    if (this.explorations >= 1 + EXPLORATION_SHARE * this.passes) return 1;
    const one = this.cost(1);
    const allowance = this.explorationAllowance();
    const probing = this.passes - this.lastExploration > STALE_AFTER_PASSES;
    let widest = 1;
    while (widest < maxWidth) {
      const width = widest + 1;
      if (!(this.cost(width) - one <= allowance || (probing && this.optimisticCost(width) <= 2 * one))) break;
      widest = width;
    }
    return widest;
  }

  /**
   * A measured pass: `width` tokens took `ms`; `exploratory` when it was drafted to test the estimate,
   * `accepted` the drafted tokens it kept (an exploration's regret is its time beyond 1 + accepted
   * one-token passes).
   */
  recordPass(width: number, ms: number, { exploratory = false, accepted = 0 }: PassOutcome = {}): void {
    if (!(ms > 0) || !(width >= 1)) return;
    this.passes++;
    this.totalMs += ms;
    if (exploratory) {
      this.explorations++;
      this.lastExploration = this.passes;
      this.explorationRegretMs += Math.max(0, ms - (1 + Math.max(0, accepted)) * this.cost(1));
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
    // A bucket leans on the nearest other bucket with evidence (its estimate against the calibration
    // alone), recent evidence first: a bucket observed a few times is pulled toward it rather than
    // toward the calibration, which may be wrong in shape by far (12x too steep in a test); a bucket
    // never observed, or not for STALE_AFTER_PASSES passes, takes it, so a belief formed under a load
    // that has gone gives way as soon as passes next to it show the load gone. With no recent evidence
    // anywhere, old beliefs stand (they are re-tested by probes, see mayExplore).
    const fresh: number[] = [];
    const observed: number[] = [];
    for (let b = 1; b < this.buckets.length; b++) {
      if (this.buckets[b].logs.length === 0) continue;
      observed.push(b);
      if (this.passes - this.buckets[b].lastPass <= STALE_AFTER_PASSES) fresh.push(b);
    }
    const nearest = (b: number, among: readonly number[]): number | undefined => {
      let best: number | undefined;
      for (const o of among) if (o !== b && (best === undefined || Math.abs(o - b) < Math.abs(best - b))) best = o;
      return best;
    };
    for (let b = 1; b < this.buckets.length; b++) {
      const lean = nearest(b, fresh) ?? nearest(b, observed);
      const leanOn = lean === undefined ? 0 : this.buckets[lean].estimate(0);
      const isFresh = fresh.includes(b);
      c[b] = isFresh || fresh.length === 0 ? this.buckets[b].estimate(leanOn) : leanOn;
    }
    this.corrections = c;
    return c;
  }

  /** The current estimate at the calibration's widths (for reports). */
  get estimated(): CostPoint[] {
    return this.prior.measured.map((p) => ({ tokens: p.tokens, ms: this.cost(p.tokens) }));
  }
}
