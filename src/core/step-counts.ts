/**
 * Forward passes and what their drafts did, counted one way for every place that counts them: the
 * decoder's stats (decoder.ts), the model-free simulator (bench/simulate.ts) and the virtual-clock
 * policy simulation (bench/policy-sim.ts), so a simulated count can be compared with a decoded one.
 */
export interface StepCounts {
  /** Forward passes, the prompt's included (it yields the first token). */
  readonly steps: number;
  /** Passes that carried a (non-empty) draft. */
  readonly draftSteps: number;
  readonly draftedTokens: number;
  readonly acceptedTokens: number;
}

export class StepCounter implements StepCounts {
  steps = 0;
  draftSteps = 0;
  draftedTokens = 0;
  acceptedTokens = 0;

  /** One forward pass that verified `drafted` draft tokens (0: a plain one-token pass), `accepted` of them. */
  pass(drafted = 0, accepted = 0): void {
    this.steps++;
    if (drafted > 0) {
      this.draftSteps++;
      this.draftedTokens += drafted;
      this.acceptedTokens += accepted;
    }
  }

  /** Adds counts kept elsewhere (a sum over samples). */
  add(counts: StepCounts): void {
    this.steps += counts.steps;
    this.draftSteps += counts.draftSteps;
    this.draftedTokens += counts.draftedTokens;
    this.acceptedTokens += counts.acceptedTokens;
  }

  /** The counts as a plain object (for results and JSON). */
  counts(): StepCounts {
    return { steps: this.steps, draftSteps: this.draftSteps, draftedTokens: this.draftedTokens, acceptedTokens: this.acceptedTokens };
  }
}
