/**
 * Acceptance rules. The forward pass evaluated [last, d1 .. dk] and returned the model's token after
 * each position: predictions[i] is the token the model produces after d_i (d_0 = last): its greedy
 * choice, or (sampling) its sample drawn with that position's seed.
 */
export interface Verdict {
  /** How many draft tokens the model agrees with (a prefix of the draft). */
  readonly accepted: number;
  /** The model's own token after the accepted prefix: always emitted, so each pass yields >= 1 token. */
  readonly next: number;
}

/** Greedy rule: keep the longest draft prefix equal to the model's argmax, plus the model's next token. */
export function verifyGreedy(draft: readonly number[], predictions: readonly number[]): Verdict {
  return longestAgreement(draft, predictions);
}

/**
 * Sampling rule (lossless because drafts are deterministic copies): keep the draft while each token
 * equals the model's sample at its position, then keep the first sample that differs (or the sample
 * after the whole draft). With position-indexed seeds (sampling.ts) `samples[j]` is exactly the token
 * plain sampling draws at that position once d_1..d_j are accepted, so the output is the one plain
 * sampling gives with the same seed, token for token; drafts only change how many passes it takes.
 */
export function verifySampled(draft: readonly number[], samples: readonly number[]): Verdict {
  return longestAgreement(draft, samples);
}

export type AcceptanceRule = (draft: readonly number[], predictions: readonly number[]) => Verdict;

function longestAgreement(draft: readonly number[], predictions: readonly number[]): Verdict {
  if (predictions.length !== draft.length + 1)
    throw new Error(`verifier got ${predictions.length} predictions for a draft of ${draft.length} tokens`);
  let accepted = 0;
  while (accepted < draft.length && draft[accepted] === predictions[accepted]) accepted++;
  return { accepted, next: predictions[accepted] };
}
