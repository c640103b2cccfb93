/**
 * Log probabilities for an accelerated greedy reply. The text is decoded by LLMA (identical to plain
 * greedy decoding); then the generated tokens are evaluated again after the prompt in passes no wider
 * than the model's widest exact pass (model.exactness; 1 when unknown), asking node-llama-cpp for each
 * position's distribution. Passes that wide give bit-identical logits to one-token passes (that is what
 * the exactness probe measures), so these are the distributions plain decoding computed: the model's
 * softmax at temperature 1, as on the plain path. Every position's most likely token must be the token
 * LLMA generated there; a difference would mean the passes were not exact, and is an error rather than
 * logprobs that do not belong to the text.
 */
import type { Token } from "node-llama-cpp";
import { llamaCppSequence, type LlamaCppModel } from "../backends/llama-cpp.js";
import type { TokenSequence } from "../core/model.js";
import { tokenLogprob, type TokenLogprob } from "./logprobs.js";

export async function greedyLogprobs(
  model: LlamaCppModel,
  sequence: TokenSequence,
  prompt: readonly number[],
  generated: readonly number[],
  top: number,
): Promise<{ readonly entries: TokenLogprob[]; readonly passes: number }> {
  if (generated.length === 0) return { entries: [], passes: 0 };
  const inner = llamaCppSequence(sequence, "log probabilities").sequence;
  // The distribution before generated[0] is the one after the prompt's last token: evaluate that again too.
  await sequence.truncate(prompt.length - 1);
  const inputs = [prompt[prompt.length - 1], ...generated.slice(0, -1)];
  const width = Math.max(1, Math.min(model.exactness?.exactUpTo ?? 1, model.batchSize));
  const entries: TokenLogprob[] = [];
  const context = [...prompt];
  let passes = 0;
  for (let start = 0; start < inputs.length; start += width) {
    const chunk = inputs.slice(start, start + width);
    passes++;
    const results = await inner.controlledEvaluate(chunk.map((token) => [token as Token, { generateNext: { token: true, probabilities: true } }]));
    for (let i = 0; i < chunk.length; i++) {
      const position = start + i;
      const next = results[i]?.next;
      const expected = generated[position];
      if (!next?.probabilities) throw new Error(`the backend returned no probabilities for generated token ${position}`);
      if (next.token !== expected)
        throw new Error(`internal error: the pass for log probabilities chose token ${next.token} where decoding generated ${expected} (position ${position}); its passes are not exact`);
      entries.push(tokenLogprob(model, expected, next.probabilities as Map<number, number>, top, context));
      context.push(expected);
    }
  }
  return { entries, passes };
}
