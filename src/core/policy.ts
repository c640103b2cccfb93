/**
 * How long a draft to verify. The proposer finds *what* could be copied; the policy decides *how much*
 * of it is worth a forward pass. Two policies:
 * - {@link FixedPolicy}: the paper's, copy k tokens whenever n match (tuned for GPUs, where a longer pass
 *   is almost free);
 * - {@link CostAwarePolicy}: picks the draft length that maximises expected tokens per unit of time,
 *   from the backend's measured cost curve and an online estimate of how many tokens will be accepted.
 */
import { CostCurve } from "./cost-model.js";
import type { SourceKind } from "./reference-index.js";

export interface DraftContext {
  /** Length of the matched context suffix. */
  readonly matchLength: number;
  /** Tokens the match could copy (its continuation, already capped by what the decoder allows). */
  readonly available: number;
  /** Where the continuation comes from. */
  readonly source?: SourceKind;
  /** The previous draft was accepted whole and this one continues right after it in the same text. */
  readonly continuing?: boolean;
}

export interface DraftPolicy {
  readonly name: string;
  /** Draft length to verify (0 = plain decoding step). */
  draftLength(context: DraftContext): number;
  /** Feedback after verification: how many of the drafted tokens were accepted. */
  observe?(drafted: number, accepted: number, context: DraftContext): void;
  /** Feedback on a forward pass's duration (tokens in the pass, milliseconds). */
  observeCost?(tokens: number, ms: number): void;
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

/** Acceptance counts of one kind of draft: first token, and each further token given the previous. */
interface AcceptanceCounts {
  firstTrials: number;
  firstHits: number;
  restTrials: number;
  restHits: number;
}

function matchBucket(matchLength: number): string {
  if (matchLength <= 1) return "1";
  if (matchLength <= 2) return "2";
  if (matchLength <= 4) return "3-4";
  if (matchLength <= 8) return "5-8";
  if (matchLength <= 16) return "9-16";
  return "17+";
}

/**
 * Online acceptance estimate: a draft's first token is accepted with probability a, each further token
 * (given the ones before it) with probability q, both per kind of draft (source, match length,
 * continuing or not), shrunk toward the pooled estimate while a kind has few observations.
 */
export class AcceptanceModel {
  private readonly byKind = new Map<string, AcceptanceCounts>();
  private readonly pooled: AcceptanceCounts = { firstTrials: 0, firstHits: 0, restTrials: 0, restHits: 0 };

  /** Pseudo-observations pulling a kind toward the pooled estimate (and the pool toward the prior). */
  constructor(
    private readonly priorWeight = 4,
    private readonly prior = { first: 0.5, rest: 0.7 },
  ) {}

  private key(context: DraftContext): string {
    return `${context.source ?? "reference"}|${matchBucket(context.matchLength)}|${context.continuing ? "c" : "n"}`;
  }

  /** (a, q): first-token and further-token acceptance probabilities for this kind of draft. */
  estimate(context: DraftContext): { first: number; rest: number } {
    const pool = this.pooled;
    const w = this.priorWeight;
    const poolFirst = (pool.firstHits + w * this.prior.first) / (pool.firstTrials + w);
    const poolRest = (pool.restHits + w * this.prior.rest) / (pool.restTrials + w);
    const kind = this.byKind.get(this.key(context));
    if (!kind) return { first: poolFirst, rest: poolRest };
    return {
      first: (kind.firstHits + w * poolFirst) / (kind.firstTrials + w),
      rest: (kind.restHits + w * poolRest) / (kind.restTrials + w),
    };
  }

  observe(drafted: number, accepted: number, context: DraftContext): void {
    if (drafted <= 0) return;
    const key = this.key(context);
    let kind = this.byKind.get(key);
    if (!kind) {
      kind = { firstTrials: 0, firstHits: 0, restTrials: 0, restHits: 0 };
      this.byKind.set(key, kind);
    }
    // Positions 2..drafted were tried only while every earlier one was accepted.
    const restTried = accepted === 0 ? 0 : Math.min(drafted, accepted + 1) - 1;
    const restHit = Math.max(0, accepted - 1);
    for (const counts of [kind, this.pooled]) {
      counts.firstTrials++;
      counts.firstHits += accepted > 0 ? 1 : 0;
      counts.restTrials += restTried;
      counts.restHits += restHit;
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
 */
export class CostAwarePolicy implements DraftPolicy {
  readonly name = "auto";
  readonly acceptance: AcceptanceModel;

  constructor(
    readonly costs: CostCurve,
    options: { acceptance?: AcceptanceModel; maxDraft?: number } = {},
  ) {
    this.acceptance = options.acceptance ?? new AcceptanceModel();
    this.maxDraft = options.maxDraft ?? 64;
  }

  private readonly maxDraft: number;

  draftLength(context: DraftContext): number {
    const limit = Math.min(context.available, this.maxDraft);
    if (limit <= 0) return 0;
    const { first, rest } = this.acceptance.estimate(context);
    let best = 0;
    let bestRate = 1 / this.costs.cost(1);
    let reach = first; // P(first i tokens all accepted)
    let expected = 0;
    for (let d = 1; d <= limit; d++) {
      expected += reach;
      reach *= rest;
      const rate = (1 + expected) / this.costs.cost(1 + d);
      if (rate > bestRate) {
        bestRate = rate;
        best = d;
      }
    }
    return best;
  }

  observe(drafted: number, accepted: number, context: DraftContext): void {
    this.acceptance.observe(drafted, accepted, context);
  }

  observeCost(tokens: number, ms: number): void {
    this.costs.observe(tokens, ms);
  }
}
