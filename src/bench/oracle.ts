/**
 * The oracle bound: the fastest any draft-length policy could decode a forced target with this
 * matcher and this backend's cost curve, if it knew in advance how many drafted tokens each step would
 * accept. Dynamic programming over positions: after i emitted tokens the step may draft any d up to
 * the acceptable length a_i (drafting more only costs), paying cost(1 + d) and moving to i + d + 1.
 */
import type { CostCurve } from "../core/cost-model.js";

/**
 * @param agree agree[i] = tokens of the matcher's continuation after i emitted tokens that equal the
 *   target's next tokens (i = 1..len; index 0 unused), e.g. simulate.ts's suffixProfile(...).agree
 * @returns the oracle's and greedy decoding's time for the passes after the prompt's
 */
export function oracleTime(agree: ArrayLike<number>, targetLength: number, costs: CostCurve, maxDraft = 64): { oracleMs: number; greedyMs: number } {
  const time = new Float64Array(targetLength + 2); // time[len + 1] = 0: done
  for (let i = targetLength; i >= 1; i--) {
    const limit = Math.min(agree[i] ?? 0, maxDraft, targetLength - i);
    let best = Infinity;
    for (let d = 0; d <= limit; d++) best = Math.min(best, costs.cost(1 + d) + time[i + d + 1]);
    time[i] = best;
  }
  return { oracleMs: targetLength >= 1 ? time[1] : 0, greedyMs: targetLength * costs.cost(1) };
}
