import { decode, type DecodeResult } from "./decoder.js";
import type { TokenModel, TokenSequence } from "./model.js";
import { FixedPolicy, type DraftPolicy } from "./policy.js";
import { ReferenceProposer } from "./proposer.js";
import { ForcedSequence, endOfGenerationToken } from "./target.js";

export interface GenerateRequest {
  /** Prompt text (BOS is added when the model wants one) or prompt tokens as they are. */
  readonly prompt: string | readonly number[];
  /** Reference texts or token sequences to copy from. */
  readonly references?: readonly (string | readonly number[])[];
  /** "llma" (default) copies from references; "greedy" is plain decoding. */
  readonly method?: "llma" | "greedy";
  /** Minimum match length before copying (paper's n, default 1). */
  readonly n?: number;
  /** Most tokens copied per step (paper's k, default 20). */
  readonly k?: number;
  /** Replaces the fixed (n, k) policy. */
  readonly policy?: DraftPolicy;
  /** Copy from the prompt too (default true). */
  readonly indexPrompt?: boolean;
  /** Copy from the output so far too (default true). */
  readonly indexOutput?: boolean;
  readonly maxTokens?: number;
  readonly stop?: readonly string[];
  readonly signal?: AbortSignal;
  readonly onText?: (text: string) => void;
  readonly onTokens?: (tokens: readonly number[]) => void;
  /** Force this output (target-oriented decoding) instead of the model's greedy choice. */
  readonly target?: string | readonly number[];
  /** Use this sequence instead of taking one from the model (it is not disposed). */
  readonly sequence?: TokenSequence;
}

export const DEFAULT_MAX_TOKENS = 256;

function toTokens(model: TokenModel, input: string | readonly number[], bos: boolean): readonly number[] {
  return typeof input === "string" ? model.tokenize(input, { bos }) : input;
}

/** One generation request: tokenizes, builds the proposer, runs the decode loop. */
export async function generate(model: TokenModel, request: GenerateRequest): Promise<DecodeResult> {
  const prompt = toTokens(model, request.prompt, true);
  const method = request.method ?? "llma";
  const proposer =
    method === "llma"
      ? new ReferenceProposer({
          references: (request.references ?? []).map((reference) => toTokens(model, reference, false)),
          policy: request.policy ?? new FixedPolicy(request.n ?? 1, request.k ?? 20),
          indexPrompt: request.indexPrompt,
          indexOutput: request.indexOutput,
        })
      : undefined;
  const own = request.sequence === undefined;
  let sequence = request.sequence ?? (await model.createSequence());
  try {
    if (request.target !== undefined) {
      const target = toTokens(model, request.target, false);
      sequence = new ForcedSequence(sequence, prompt.length, target, endOfGenerationToken(model));
    }
    return await decode(model, sequence, prompt, {
      maxTokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
      stop: request.stop,
      signal: request.signal,
      proposer,
      onText: request.onText,
      onTokens: request.onTokens,
    });
  } finally {
    if (own) sequence.dispose();
  }
}
