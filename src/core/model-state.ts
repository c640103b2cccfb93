/**
 * What llma learns about one model on this machine while it decodes: what passes cost and how often
 * each kind of draft is accepted. One object per model, shared by every request on it (a request of
 * ~100 tokens is too short to learn from alone); it holds numbers only, never text, so nothing passes
 * between requests but statistics.
 */
import { CostCurve, PassCostModel } from "./cost-model.js";
import { AcceptanceModel } from "./policy.js";

export type DecodingMode = "greedy" | "sampled";

export interface LearnedStatistics {
  /** Pass costs learned from real passes, the calibration as prior. */
  readonly costs: PassCostModel;
  readonly acceptance: AcceptanceModel;
}

export class ModelState {
  /**
   * Greedy and sampled requests learn apart: a sampled pass costs more (a softmax and a draw per
   * predicted position), and a sample agrees with a copy less often than the argmax does.
   */
  readonly greedy: LearnedStatistics;
  readonly sampled: LearnedStatistics;

  constructor(readonly prior: CostCurve) {
    this.greedy = { costs: new PassCostModel(prior), acceptance: new AcceptanceModel() };
    this.sampled = { costs: new PassCostModel(prior), acceptance: new AcceptanceModel() };
  }

  of(mode: DecodingMode): LearnedStatistics {
    return mode === "greedy" ? this.greedy : this.sampled;
  }
}
