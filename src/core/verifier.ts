/**
 * The acceptance rule. The forward pass evaluated [last, d1 .. dk] and returned the model's token after
 * each position: predictions[i] is the token the model produces after d_i (d_0 = last): its greedy
 * choice, or (sampling) its sample drawn with that position's seed.
 */
export interface Verdict {
  /** How many draft tokens the model agrees with (a prefix of the draft). */
  readonly accepted: number;
  /** The model's own token after the accepted prefix: always emitted, so each pass yields >= 1 token. */
  readonly next: number;
}

/**
 * Keeps the longest draft prefix equal to the model's predictions, then the model's prediction after it
 * (the first one that differs, or the one after the whole draft). One rule serves greedy decoding and
 * seeded sampling, and it is lossless for both for the same reason: predictions[j] is exactly the token
 * plain decoding would produce at that position once d_1..d_j are accepted. Greedily it is the argmax
 * after the same context. Sampled, it is the sample drawn with that position's own seed (sampling.ts:
 * the token at generated position i depends only on the distribution there, the request seed and i), and
 * a copied draft is deterministic, so no rejection-sampling correction is needed. Either way the output
 * is plain decoding's, token for token; drafts only change how many passes it takes.
 */
export function verifyDraft(draft: readonly number[], predictions: readonly number[]): Verdict {
  if (predictions.length !== draft.length + 1)
    throw new Error(`verifier got ${predictions.length} predictions for a draft of ${draft.length} tokens`);
  let accepted = 0;
  while (accepted < draft.length && draft[accepted] === predictions[accepted]) accepted++;
  return { accepted, next: predictions[accepted] };
}
