/**
 * Acceptance rules. The forward pass evaluated [last, d1 .. dk] and returned the model's greedy
 * choice after each position: predictions[i] is the token the model wants after d_i (d_0 = last).
 */
export interface Verdict {
  /** How many draft tokens the model agrees with (a prefix of the draft). */
  readonly accepted: number;
  /** The model's own token after the accepted prefix: always emitted, so each pass yields >= 1 token. */
  readonly next: number;
}

/** Greedy rule: keep the longest draft prefix equal to the model's argmax, plus the model's next token. */
export function verifyGreedy(draft: readonly number[], predictions: readonly number[]): Verdict {
  if (predictions.length !== draft.length + 1)
    throw new Error(`verifier got ${predictions.length} predictions for a draft of ${draft.length} tokens`);
  let accepted = 0;
  while (accepted < draft.length && draft[accepted] === predictions[accepted]) accepted++;
  return { accepted, next: predictions[accepted] };
}
