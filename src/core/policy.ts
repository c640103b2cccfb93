/**
 * How long a draft to verify. The proposer finds *what* could be copied; the policy decides *how much*
 * of it is worth a forward pass. Kept apart so a cost-aware policy can replace the paper's fixed one.
 */
export interface DraftContext {
  /** Length of the matched context suffix. */
  readonly matchLength: number;
  /** Tokens the match could copy (its continuation, already capped by what the decoder allows). */
  readonly available: number;
}

export interface DraftPolicy {
  readonly name: string;
  /** Draft length to verify (0 = plain decoding step). */
  draftLength(context: DraftContext): number;
  /** Feedback after verification: how many of the drafted tokens were accepted. */
  observe?(drafted: number, accepted: number, context: DraftContext): void;
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
