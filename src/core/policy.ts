/**
 * How long a draft to verify. The proposer finds *what* could be copied; the policy decides *how much*
 * of it is worth a forward pass. Two policies:
 * - {@link FixedPolicy}: the paper's, copy k tokens whenever n match (tuned for GPUs, where a longer pass
 *   is almost free);
 * - {@link CostAwarePolicy}: picks the draft length that maximises expected tokens per unit of time,
 *   from the backend's measured cost curve and an online estimate of how many tokens will be accepted.
 */
import { PassCostModel, type PassCosts } from "./cost-model.js";
import type { SourceKind } from "./reference-index.js";

export interface DraftContext {
  /** Length of the matched context suffix. */
  readonly matchLength: number;
  /** Tokens the match could copy (its continuation, already capped by what the decoder allows). */
  readonly available: number;
  /** Where the continuation comes from. */
  readonly source?: SourceKind;
  /**
   * Where the copy starts relative to the last accepted copy: right where it stopped ("continuing": the
   * previous draft was accepted whole and this one follows it in the same text), a few tokens after it
   * ("near": the output rejoined its source after an edit), or anywhere else ("elsewhere", the default).
   */
  readonly placement?: Placement;
}

export type Placement = "continuing" | "near" | "elsewhere";
const PLACEMENTS: readonly Placement[] = ["continuing", "near", "elsewhere"];

function placementOf(context: DraftContext): Placement {
  return context.placement ?? "elsewhere";
}

/** A policy's choice for one candidate: the draft length and the tokens per millisecond it expects. */
export interface DraftPlan {
  readonly length: number;
  readonly rate: number;
  /**
   * Drafted to test an estimate the policy does not trust (a width whose cost is uncertain or stale),
   * not because it is expected to pay; such passes are budgeted (see PassCostModel.mayExplore).
   */
  readonly exploratory?: boolean;
}

export interface DraftPolicy {
  readonly name: string;
  /** Draft length to verify (0 = plain decoding step). */
  draftLength(context: DraftContext): number;
  /** Length and expected rate, so a proposer can pick the best of several candidates (optional). */
  plan?(context: DraftContext): DraftPlan;
  /** After verification: how many of the drafted tokens were accepted (a policy that learns records it). */
  accept?(drafted: number, accepted: number, context: DraftContext): void;
}

/** The paper's policy: copy up to k tokens whenever at least n tokens match. */
export class FixedPolicy implements DraftPolicy {
  readonly name: string;
  constructor(
    readonly n: number,
    readonly k: number,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be an integer >= 1, got ${n}`);
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be an integer >= 0, got ${k}`);
    this.name = `fixed(n=${n},k=${k})`;
  }

  draftLength({ matchLength, available }: DraftContext): number {
    return matchLength >= this.n ? Math.min(this.k, available) : 0;
  }
}

function lengthBucket(matchLength: number): number {
  if (matchLength <= 1) return 0;
  if (matchLength <= 2) return 1;
  if (matchLength <= 4) return 2;
  if (matchLength <= 8) return 3;
  if (matchLength <= 16) return 4;
  if (matchLength <= 32) return 5;
  return 6;
}
const LENGTH_BUCKETS = 7;
/**
 * Acceptance assumed before any observation, per length bucket: a context that matches a reference
 * over 16+ tokens is far more likely to go on copying it than one that matches over a single token.
 */
const PRIOR_BY_LENGTH = [0.35, 0.45, 0.55, 0.65, 0.75, 0.8, 0.85];
const SOURCES: readonly SourceKind[] = ["reference", "prompt", "output"];
/** Observations after which a cell's estimate is trusted as it is (no optimism bonus). */
const OPTIMISM_FADES_AFTER = 24;
/**
 * The optimism bonus never lifts a probability above this (evidence may): with no observations the
 * bonus took a 0.75-0.85 prior to 1, and a per-token probability of 1 prices a 64-token draft as sure,
 * so every untried kind of match drafted 60+ tokens once; on a steep CPU curve (a 64-token pass costs
 * ~30 one-token passes) that made decoding slower than plain on CNN/DM (0.85-0.89x on the virtual
 * clock with the 1.1B shape's curve; 0.96-0.99x with the cap). 0.9 still drafts a few tokens where the
 * match is long, so an exact copy is found out and then learned.
 */
const OPTIMISM_CAP = 0.9;
/**
 * Pseudo-observations of the model-wide estimate a request's own acceptance model starts with (see
 * AcceptanceModel.forRequest). On the virtual clock with the 1.1B shape's curve, the five bench sets
 * in a row on one model: 2 made CNN/DM 0.97x (a few early rejections in a summary stopped copies that
 * came later), 8 kept every set at or above the shared model alone (CNN/DM 1.03x, no-overlap 0.98x).
 */
const REQUEST_PRIOR_WEIGHT = 8;
/**
 * Match lengths up to which a request's own model starts from the lower of the model-wide estimate
 * and the length prior (see AcceptanceModel.priorAt). On the virtual clock (the five bench sets in a
 * row, 30 samples each, the 1.1B shape's curve): no-overlap control 0.988x -> 0.994x, RAG and the
 * cache hit +1%, CNN/DM unchanged, the edit -1.6%.
 */
const SHORT_MATCH = 3;
/** The acceptance a candidate's first token needs (its estimate, not the optimistic one) before it may carry an exploratory draft. */
export const EXPLORE_MIN_ACCEPTANCE = 0.6;

/**
 * Online acceptance estimate, per drafted token. The j-th token of a draft is checked only if the
 * j-1 before it were accepted, and then the context matches the reference over matchLength + j - 1
 * tokens: so one probability per (source, placement, bucket of that effective match length) covers
 * the first token and every later one alike, and every verified token is one observation for its
 * cell. Cells with few observations lean on the pooled estimate of their (placement, length bucket),
 * which leans on a prior.
 */
export class AcceptanceModel {
  private readonly trials = new Float64Array(SOURCES.length * PLACEMENTS.length * LENGTH_BUCKETS);
  private readonly hits = new Float64Array(SOURCES.length * PLACEMENTS.length * LENGTH_BUCKETS);
  private readonly pooledTrials = new Float64Array(PLACEMENTS.length * LENGTH_BUCKETS);
  private readonly pooledHits = new Float64Array(PLACEMENTS.length * LENGTH_BUCKETS);

  /**
   * @param priorWeight pseudo-observations pulling a cell toward the pooled (and the pool toward the prior)
   * @param prior acceptance assumed before any observation (optimistic, so new kinds get explored)
   * @param decay weight kept by old observations at each new one (< 1 follows a changing workload)
   */
  constructor(
    private readonly priorWeight = 2,
    /** One prior for every length (tests); default: PRIOR_BY_LENGTH. */
    private readonly prior?: number,
    private readonly decay = 0.999,
    /** The model-wide estimate a request's own model leans on (see {@link forRequest}). */
    readonly parent?: AcceptanceModel,
  ) {}

  /**
   * A model for one request: its cells start from this model's estimates and follow the request's
   * own drafts (every observation is recorded here too). What one workload taught does not hold for
   * the next one for long: after a RAG set (documents in the prompt, copies accepted often) the
   * model-wide estimate of prompt matches stayed high through many rejections on text that shared
   * nothing with its prompt (the no-overlap control: 27-96 drafted tokens per sample, almost none
   * accepted, 0.90-0.97x native), since at a decay of 0.999 old evidence fades over thousands of
   * observations. A request's own evidence now outweighs it after a few drafts.
   */
  forRequest(): AcceptanceModel {
    return new AcceptanceModel(REQUEST_PRIOR_WEIGHT, undefined, 1, this);
  }

  private priorAt(source: SourceKind | undefined, matchLength: number, placement: Placement): number {
    const lengthPrior = PRIOR_BY_LENGTH[lengthBucket(matchLength)];
    if (!this.parent) return this.prior ?? lengthPrior;
    const inherited = this.parent.probability(source, matchLength, placement);
    // A short match says little about this request: what the model-wide estimate learned of short
    // matches on another workload (RAG, an edit) priced the first drafts of a request whose text
    // shares nothing with its references as if they would be accepted as often, and those drafts,
    // rejected, cost the no-overlap control 1-2%. Long matches keep the inherited estimate: there it
    // is what finds an exact copy out quickly.
    return matchLength <= SHORT_MATCH ? Math.min(inherited, lengthPrior) : inherited;
  }

  private pool(placement: Placement, matchLength: number): number {
    return PLACEMENTS.indexOf(placement) * LENGTH_BUCKETS + lengthBucket(matchLength);
  }

  private cell(source: SourceKind | undefined, placement: Placement, matchLength: number): number {
    return SOURCES.indexOf(source ?? "reference") * PLACEMENTS.length * LENGTH_BUCKETS + this.pool(placement, matchLength);
  }

  /** P(token accepted | all before it accepted) at this effective match length. */
  probability(source: SourceKind | undefined, matchLength: number, placement: Placement = "elsewhere"): number {
    const w = this.priorWeight;
    const pool = this.pool(placement, matchLength);
    const pooled = (this.pooledHits[pool] + w * this.priorAt(source, matchLength, placement)) / (this.pooledTrials[pool] + w);
    const cell = this.cell(source, placement, matchLength);
    return (this.hits[cell] + w * pooled) / (this.trials[cell] + w);
  }

  /**
   * The probability plus a bonus that vanishes with evidence (an upper confidence bound): a kind of
   * draft that was never verified gets tried when it could pay, so an estimate that starts too low
   * (an exact copy of the output in a reference) cannot starve for lack of observations.
   */
  optimisticProbability(source: SourceKind | undefined, matchLength: number, placement: Placement = "elsewhere"): number {
    const p = this.probability(source, matchLength, placement);
    const n = this.trialsAt(source, placement, matchLength);
    const fade = Math.max(0, 1 - n / OPTIMISM_FADES_AFTER);
    return Math.min(Math.max(p, OPTIMISM_CAP), p + fade * Math.sqrt((p * (1 - p)) / (n + this.priorWeight)));
  }

  /**
   * Observations of a cell, all requests' (the optimism bonus fades with all evidence): the model-wide
   * count where there is one, since every request's observations are recorded there too.
   */
  private trialsAt(source: SourceKind | undefined, placement: Placement, matchLength: number): number {
    return this.parent ? this.parent.trialsAt(source, placement, matchLength) : this.trials[this.cell(source, placement, matchLength)];
  }

  /** Records a verified draft: tokens 1..accepted were accepted, token accepted+1 (if drafted) was not. */
  record(drafted: number, accepted: number, context: DraftContext): void {
    this.parent?.record(drafted, accepted, context);
    const placement = placementOf(context);
    const checked = Math.min(drafted, accepted + 1);
    for (let j = 1; j <= checked; j++) {
      const length = context.matchLength + j - 1;
      const cell = this.cell(context.source, placement, length);
      const pool = this.pool(placement, length);
      const hit = j <= accepted ? 1 : 0;
      this.trials[cell] = this.trials[cell] * this.decay + 1;
      this.hits[cell] = this.hits[cell] * this.decay + hit;
      this.pooledTrials[pool] = this.pooledTrials[pool] * this.decay + 1;
      this.pooledHits[pool] = this.pooledHits[pool] * this.decay + hit;
    }
  }
}

/** Expected accepted tokens of a d-token draft when P(token i accepted | all before) is a, then q. */
export function expectedAccepted(d: number, first: number, rest: number): number {
  if (d <= 0) return 0;
  if (rest >= 1) return first * d;
  return (first * (1 - rest ** d)) / (1 - rest);
}

/**
 * Picks the draft length d maximising expected tokens per millisecond, (1 + E[accepted(d)]) / cost(1 + d),
 * with d = 0 (a plain step) always a candidate, so a draft is verified only when it is expected to pay.
 * Acceptance is priced optimistically where it has little evidence (AcceptanceModel.optimisticProbability).
 * With a learned cost model, when nothing is expected to pay the policy may still draft what would pay
 * at the optimistic cost of uncertain widths, within the model's exploration budget, so a prior curve
 * that is too steep is found out instead of being believed for ever.
 * On a model whose rollback re-evaluates (recurrent state), a draft rejected at its j-th token costs one
 * more pass over the j kept tokens, so the expected cost of d is cost(1 + d) + sum over j <= d of
 * P(first j - 1 accepted, j-th rejected) * cost(j).
 */
export class CostAwarePolicy implements DraftPolicy {
  readonly name = "auto";
  readonly acceptance: AcceptanceModel;
  readonly costs: PassCosts;

  constructor(costs: PassCosts, options: { acceptance?: AcceptanceModel; maxDraft?: number; rollbackReevaluates?: boolean } = {}) {
    this.costs = costs;
    this.acceptance = options.acceptance ?? new AcceptanceModel();
    this.maxDraft = options.maxDraft ?? 64;
    this.rollbackReevaluates = options.rollbackReevaluates ?? false;
  }

  private readonly maxDraft: number;
  /** Whether a rejected draft costs a re-evaluation of the kept tokens (see TokenModel.rollbackReevaluates). */
  readonly rollbackReevaluates: boolean;

  draftLength(context: DraftContext): number {
    return this.plan(context).length;
  }

  plan(context: DraftContext): DraftPlan {
    const best = this.bestLength(context, (width) => this.costs.cost(width));
    if (!(this.costs instanceof PassCostModel)) return best;
    // Where the uncertain widths may be cheaper than believed, another length could be better: test
    // it, sized to what the exploration budget can lose. Its rate stays the best one's, so an
    // exploration never outbids a draft of another candidate that is expected to pay more.
    const learned = this.costs;
    // Only a draft likely to be accepted tests a cost: one that is rejected teaches the cost model
    // little and loses most of a pass. On text with nothing to copy every width goes stale, and
    // explorations of weak matches (a 1-2 token match, accepted 7-36% of the time) kept the no-overlap
    // control at 0.90x native on the 1.1B shape.
    if (this.acceptance.probability(context.source, context.matchLength, placementOf(context)) < EXPLORE_MIN_ACCEPTANCE) return best;
    const widest = learned.widestExploration(1 + Math.min(context.available, this.maxDraft));
    if (widest === 1) return best;
    const explore = this.bestLength(context, (width) => learned.optimisticCost(width), widest - 1);
    return explore.length !== best.length && explore.length > 0 && learned.uncertain(1 + explore.length)
      ? { length: explore.length, rate: best.rate, exploratory: true }
      : best;
  }

  private bestLength(context: DraftContext, cost: (width: number) => number, maxLength = this.maxDraft): DraftPlan {
    const limit = Math.min(context.available, this.maxDraft, maxLength);
    const placement = placementOf(context);
    let best = 0;
    let bestRate = 1 / cost(1);
    let reach = 1; // P(the first d tokens are all accepted)
    let expected = 0;
    let rollback = 0; // expected cost of re-evaluating after a rejection (0 unless rollbackReevaluates)
    for (let d = 1; d <= limit; d++) {
      const p = this.acceptance.optimisticProbability(context.source, context.matchLength + d - 1, placement);
      // Rejected at token d: the pass keeps [last token, d - 1 accepted] = d tokens, evaluated again.
      if (this.rollbackReevaluates) rollback += reach * (1 - p) * cost(d);
      reach *= p;
      expected += reach;
      const rate = (1 + expected) / (cost(1 + d) + rollback);
      if (rate > bestRate) {
        bestRate = rate;
        best = d;
      }
    }
    return { length: best, rate: bestRate };
  }

  accept(drafted: number, accepted: number, context: DraftContext): void {
    this.acceptance.record(drafted, accepted, context);
  }
}
