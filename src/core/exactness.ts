/**
 * Strict or relaxed: what llma does when the backend says batched passes are not bit-identical to
 * one-token passes (TokenModel.exactness). Strict (the default) never verifies drafts in a pass wider
 * than the widest one known to be exact, so the output stays plain decoding's (with no drafting at all
 * when no batched pass is exact); relaxed drafts anyway and says the output is not guaranteed identical.
 */
import type { PassExactness } from "./model.js";

export type ExactnessMode = "strict" | "relaxed";
export const EXACTNESS_MODES: readonly ExactnessMode[] = ["strict", "relaxed"];

export function resolveExactnessMode(mode: string | undefined): ExactnessMode {
  if (mode === undefined) return "strict";
  if (!(EXACTNESS_MODES as readonly string[]).includes(mode)) throw new Error(`unknown exactness ${JSON.stringify(mode)}: use one of ${EXACTNESS_MODES.join(", ")}`);
  return mode as ExactnessMode;
}

/**
 * The widest forward pass a request may run: the request's own limit, and in strict mode the model's
 * widest exact pass (undefined: no limit, when neither applies or the model's exactness is unknown).
 */
export function passWidthLimit(exactness: PassExactness | undefined, mode: ExactnessMode, requested?: number): number | undefined {
  const cap = mode === "strict" && exactness ? exactness.exactUpTo : undefined;
  if (requested === undefined) return cap;
  return cap === undefined ? requested : Math.min(requested, cap);
}

/**
 * Whether an output is guaranteed identical to plain decoding: every verification pass was no wider
 * than the widest exact one (undefined: the model's exactness is unknown). A reused prompt prefix was
 * written by earlier requests' passes: it is trusted when the model is exact, or when this request's
 * limit (strict mode, which every request on such a model runs in unless relaxed) kept to it too.
 */
export function outputIsExact(
  exactness: PassExactness | undefined,
  widestPass: number,
  reusedPromptTokens: number,
  maxPassWidth: number | undefined,
): boolean | undefined {
  if (!exactness) return undefined;
  if (widestPass > exactness.exactUpTo) return false;
  return reusedPromptTokens === 0 || exactness.exact || (maxPassWidth !== undefined && maxPassWidth <= exactness.exactUpTo);
}

/**
 * How many of the prompt's first tokens keep the KV cache entries the sequence holds for them: the
 * prefix they share, less the prompt's last token (always evaluated: its prediction is the first output
 * token). None on a model whose batched passes are not exact: the prompt's remainder evaluated behind
 * reused cells (another pass width) gives other logits than the whole prompt in one pass (the first
 * token differed with an F16 KV cache, test/backends/lossless.test.ts), so there every prompt is
 * evaluated afresh. Every decoding path (decoder.ts, the server's node-llama-cpp sampler) uses this.
 */
export function reusablePromptPrefix(exactness: PassExactness | undefined, held: readonly number[], prompt: readonly number[]): number {
  if (exactness?.exact === false) return 0;
  const limit = Math.min(held.length, prompt.length - 1);
  let shared = 0;
  while (shared < limit && held[shared] === prompt[shared]) shared++;
  return shared;
}
