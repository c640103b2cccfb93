/**
 * Log probabilities of generated tokens, in OpenAI's shapes (chat's `logprobs.content`, completions'
 * `tokens`/`token_logprobs`/`top_logprobs`/`text_offset`, the Responses API's `logprobs`). They are of the
 * distribution each token was chosen from: the model's softmax at temperature 1 for greedy decoding
 * (node-llama-cpp's greedy chain leaves the logits as they are), after temperature and top_p when
 * sampling, after the grammar's mask under structured output.
 */
import type { TokenModel } from "../core/model.js";

export interface Alternative {
  readonly token: string;
  readonly id: number;
  readonly logprob: number;
}

export interface TokenLogprob extends Alternative {
  /** The most likely tokens at this position, most likely first (at most the requested number). */
  readonly top: readonly Alternative[];
}

/** Most alternatives a request may ask for (OpenAI's limit for top_logprobs). */
export const MAX_TOP_LOGPROBS = 20;

/**
 * One generated token's entry from the distribution it was drawn from (token -> probability, most
 * likely first, as node-llama-cpp returns it). `context` (the tokens before it; only its last 8 are read) makes its text decode
 * with the leading space it has in the output. Alternatives of probability 0 (masked by a grammar) are
 * left out: they were never possible.
 */
export function tokenLogprob(model: TokenModel, token: number, distribution: ReadonlyMap<number, number>, top: number, context: readonly number[]): TokenLogprob {
  const text = (id: number) => model.detokenize([id], context.slice(-8));
  const probability = distribution.get(token) ?? 0;
  const alternatives: Alternative[] = [];
  for (const [id, p] of distribution) {
    if (alternatives.length >= top || p <= 0) break;
    alternatives.push({ token: text(id), id, logprob: Math.log(p) });
  }
  alternatives.sort((a, b) => b.logprob - a.logprob);
  return { token: text(token), id: token, logprob: safeLog(probability), top: alternatives };
}

/** OpenAI reports an impossible token as -9999 (JSON has no -Infinity). */
function safeLog(p: number): number {
  return p > 0 ? Math.log(p) : -9999;
}

function bytes(text: string): number[] {
  return [...Buffer.from(text, "utf8")];
}

/** Chat's `choices[i].logprobs`. */
export function chatLogprobs(entries: readonly TokenLogprob[]) {
  return {
    content: entries.map((e) => ({
      token: e.token,
      logprob: e.logprob,
      bytes: bytes(e.token),
      top_logprobs: e.top.map((a) => ({ token: a.token, logprob: a.logprob, bytes: bytes(a.token) })),
    })),
    refusal: null,
  };
}

/** Completions' `choices[i].logprobs`. */
export function completionLogprobs(entries: readonly TokenLogprob[], start = 0) {
  const offsets: number[] = [];
  let offset = start;
  for (const e of entries) {
    offsets.push(offset);
    offset += e.token.length;
  }
  return {
    tokens: entries.map((e) => e.token),
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => Object.fromEntries(e.top.map((a) => [a.token, a.logprob]))),
    text_offset: offsets,
  };
}
