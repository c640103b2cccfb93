import { decode, type DecodeResult, type DecodeStep } from "./decoder.js";
import { passWidthLimit, resolveExactnessMode, type ExactnessMode } from "./exactness.js";
import type { TokenModel, TokenSequence } from "./model.js";
import { ModelState, type DecodingMode } from "./model-state.js";
import { CostAwarePolicy, FixedPolicy, type DraftPolicy } from "./policy.js";
import { ReferenceProposer, type DraftProposer } from "./proposer.js";
import { indexReferencesUnlessAborted, type IndexingProgress } from "./reference-indexing.js";
import { isSampling, normalizeSeed, randomSeed, validateDistributionOptions, type SamplingOptions } from "./sampling.js";
import { ForcedSequence, endOfGenerationToken } from "./target.js";

export interface GenerateRequest {
  /** Prompt text (BOS is added when the model wants one) or prompt tokens as they are. */
  readonly prompt: string | readonly number[];
  /** Reference texts or token sequences to copy from. */
  readonly references?: readonly (string | readonly number[])[];
  /** "llma" (default) copies from references; "greedy" is plain decoding (it samples too when temperature > 0). */
  readonly method?: "llma" | "greedy";
  /**
   * Draft length policy: "auto" (default: cost-aware, needs the model's cost curve), "paper" (fixed
   * n, k), or any DraftPolicy. Giving n or k without a policy means "paper".
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

/** The model's learned statistics, created from its cost curve on first use. */
export function modelState(model: TokenModel): ModelState {
  if (!model.costCurve)
    throw new Error('policy "auto" needs the model\'s measured cost curve (LlamaCppModel: await model.calibrate()); or use policy "paper"');
  if (!model.state || model.state.prior !== model.costCurve) model.state = new ModelState(model.costCurve);
  return model.state;
}

/** The policy a request asks for (a fresh one per request; its statistics are the model's, see ModelState). */
export function resolvePolicy(model: TokenModel, request: Pick<GenerateRequest, "policy" | "n" | "k">, mode: DecodingMode = "greedy"): DraftPolicy {
  const policy = request.policy ?? (request.n !== undefined || request.k !== undefined ? "paper" : "auto");
  if (typeof policy !== "string") return policy;
  if (policy === "paper") return new FixedPolicy(request.n ?? 1, request.k ?? 20);
  if (policy === "auto") {
    const learned = modelState(model).of(mode);
    return new CostAwarePolicy(learned.costs, { acceptance: learned.acceptance, rollbackReevaluates: model.rollbackReevaluates === true });
  }
  throw new Error(`unknown policy ${JSON.stringify(policy)}: use one of ${POLICY_NAMES.join(", ")}`);
}

function wantsAutoPolicy(request: Pick<GenerateRequest, "policy" | "n" | "k">): boolean {
  return (request.policy ?? (request.n !== undefined || request.k !== undefined ? "paper" : "auto")) === "auto";
}

function toTokens(model: TokenModel, input: string | readonly number[], bos: boolean): readonly number[] {
  return typeof input === "string" ? model.tokenize(input, { bos }) : input;
}

/** The request's sampling options (temperature > 0), with its seed resolved; undefined for greedy. */
export function resolveSampling(request: Pick<GenerateRequest, "temperature" | "topK" | "topP" | "minP" | "seed">): SamplingOptions | undefined {
  const { temperature, topK, topP, minP, seed } = request;
  validateDistributionOptions({ temperature, topK, topP, minP });
  if (!isSampling({ temperature })) return undefined;
  return { temperature: temperature!, topK, topP, minP, seed: seed === undefined ? randomSeed() : normalizeSeed(seed) };
}

/** One generation request: tokenizes, builds the proposer, runs the decode loop. */
export async function generate(model: TokenModel, request: GenerateRequest): Promise<DecodeResult> {
  const prompt = toTokens(model, request.prompt, true);
  // Models whose vocabulary prepends no BOS (Qwen's) give an empty text no token at all.
  if (prompt.length === 0)
    throw new Error(
      typeof request.prompt === "string"
        ? "the prompt is empty and this model's vocabulary adds no BOS token to it: give at least one token of prompt text"
        : "the prompt is empty: at least one token (e.g. BOS) is needed",
    );
  const method = request.method ?? "llma";
  const sampling = resolveSampling(request);
  const mode: DecodingMode = sampling ? "sampled" : "greedy";
  const auto = method === "llma" && !request.proposer && wantsAutoPolicy(request);
  if (auto && !model.costCurve && model.ensureCostCurve) await model.ensureCostCurve();
  if (sampling && request.target !== undefined)
    throw new Error("target-oriented decoding forces a known output: it cannot be combined with sampling (temperature > 0)");
  const proposer =
    request.proposer ??
    (method === "llma"
      ? new ReferenceProposer({
          references: [],
          policy: resolvePolicy(model, request, mode),
          index: await indexReferencesUnlessAborted(model, request.references ?? [], { signal: request.signal, onProgress: request.onIndexProgress }),
          indexPrompt: request.indexPrompt,
          indexOutput: request.indexOutput,
        })
      : undefined);
  const own = request.sequence === undefined;
  let sequence = request.sequence ?? (await model.createSequence());
  try {
    if (request.target !== undefined) {
      const target = toTokens(model, request.target, false);
      sequence = new ForcedSequence(sequence, prompt.length, target, endOfGenerationToken(model));
    }
    const exactness = resolveExactnessMode(request.exactness);
    const result = await decode(model, sequence, prompt, {
      maxTokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
      stop: request.stop,
      signal: request.signal,
      proposer,
      // The passes' costs go to the cost model the "auto" policy prices drafts with.
      costs: auto ? modelState(model).of(mode).costs : undefined,
      sampling,
      onText: request.onText,
      onTokens: request.onTokens,
      onPass: request.onPass,
      onStep: request.onStep,
      maxPassWidth: passWidthLimit(model.exactness, exactness, request.maxPassWidth),
    });
    return { ...result, stats: { ...result.stats, exactness } };
  } finally {
    if (own) sequence.dispose();
  }
}
