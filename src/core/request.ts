/**
 * A generation request as the library, the CLI and the server hand it to an {@link Accelerator}
 * (core/accelerator.ts) or to generate(): the prompt, the references, the method and draft policy,
 * sampling, stopping, streaming. Only what can be said of the request alone is here.
 */
import type { DecodeStep } from "./decoder.js";
import type { ExactnessMode } from "./exactness.js";
import type { TokenSequence } from "./model.js";
import type { DraftPolicy } from "./policy.js";
import type { DraftProposer } from "./proposer.js";
import type { IndexingProgress } from "./reference-indexing.js";
import { isSampling, normalizeSeed, randomSeed, validateDistributionOptions, type SamplingOptions } from "./sampling.js";

export interface GenerateRequest {
  /** Prompt text (BOS is added when the model wants one) or prompt tokens as they are. */
  readonly prompt: string | readonly number[];
  /** Reference texts or token sequences to copy from. */
  readonly references?: readonly (string | readonly number[])[];
  /** "llma" (default) copies from references; "greedy" is plain decoding (it samples too when temperature > 0). */
  readonly method?: "llma" | "greedy";
  /**
   * Draft length policy: "auto" (cost-aware, needs the model's cost curve), "paper" (fixed n, k), or
   * any DraftPolicy. Default: the accelerator's ("auto" unless it was created with another); giving n
   * or k without a policy means "paper".
   */
  readonly policy?: DraftPolicy | PolicyName;
  /** Minimum match length before copying (paper's n, default 1). */
  readonly n?: number;
  /** Most tokens copied per step (paper's k, default 20). */
  readonly k?: number;
  /** Copy from the prompt too (default true). */
  readonly indexPrompt?: boolean;
  /** Copy from the output so far too (default true). */
  readonly indexOutput?: boolean;
  readonly maxTokens?: number;
  /**
   * Sampling temperature (default 0: greedy). With temperature > 0 llma samples losslessly: the output
   * with references is token-for-token the output without them for the same seed (see sampling.ts).
   */
  readonly temperature?: number;
  /** Keep the k most likely tokens when sampling (default 0: no limit). */
  readonly topK?: number;
  /** Nucleus sampling: keep the most likely tokens up to this total probability (default 1: all). */
  readonly topP?: number;
  /** Drop tokens less likely than minP times the most likely one (default 0: none). */
  readonly minP?: number;
  /** Seed of a sampled request (any integer, taken mod 2^32); default: a random one, reported in stats.seed. */
  readonly seed?: number;
  readonly stop?: readonly string[];
  /** Aborts tokenizing and indexing the references, and decoding: the result then has stopReason "abort". */
  readonly signal?: AbortSignal;
  /** Progress of tokenizing and indexing the references (seconds for megabytes of them). */
  readonly onIndexProgress?: (progress: IndexingProgress) => void;
  readonly onText?: (text: string) => void;
  readonly onTokens?: (tokens: readonly number[]) => void;
  /** Force this output (target-oriented decoding) instead of the model's greedy choice. */
  readonly target?: string | readonly number[];
  /** Drafts from this proposer instead of the references (e.g. another drafting method). */
  readonly proposer?: DraftProposer;
  /** Use this sequence instead of taking one from the model (it is not disposed). */
  readonly sequence?: TokenSequence;
  /**
   * The clock passes are timed with, in ms (default performance.now()): what "auto" learns pass costs
   * from. A virtual one (tests, simulations) makes the policy's decisions independent of the machine's load.
   */
  readonly clock?: () => number;
  /** After every forward pass after the prompt's: its width and duration (benchmarks). */
  readonly onPass?: (width: number, ms: number) => void;
  /** After every forward pass, the prompt's included: its draft, what was accepted, what it emitted (see DecodeStep). */
  readonly onStep?: (step: DecodeStep) => void;
  /**
   * "strict" (default): drafts are verified only in passes the model computes exactly like one-token
   * passes (model.exactness), so the output is plain decoding's; "relaxed": draft at any width, and
   * stats.exact says whether the output is still guaranteed identical.
   */
  readonly exactness?: ExactnessMode;
  /** Widest forward pass to run (1 + draft tokens); strict mode narrows it further. */
  readonly maxPassWidth?: number;
}

export const DEFAULT_MAX_TOKENS = 256;
export type PolicyName = "auto" | "paper";
export const POLICY_NAMES: readonly PolicyName[] = ["auto", "paper"];

/**
 * The policy a request names: its own (a DraftPolicy or a name), "paper" when it gives n or k, else
 * `fallback` (the accelerator's default, "auto" unless it was created with another).
 */
export function requestedPolicy(request: Pick<GenerateRequest, "policy" | "n" | "k">, fallback: PolicyName = "auto"): DraftPolicy | PolicyName {
  return request.policy ?? (request.n !== undefined || request.k !== undefined ? "paper" : fallback);
}

/** The request's sampling options (temperature > 0), with its seed resolved; undefined for greedy. */
export function resolveSampling(request: Pick<GenerateRequest, "temperature" | "topK" | "topP" | "minP" | "seed">): SamplingOptions | undefined {
  const { temperature, topK, topP, minP, seed } = request;
  validateDistributionOptions({ temperature, topK, topP, minP });
  if (!isSampling({ temperature })) return undefined;
  return { temperature: temperature!, topK, topP, minP, seed: seed === undefined ? randomSeed() : normalizeSeed(seed) };
}
