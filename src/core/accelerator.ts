/**
 * LLMA on one model, in one visible object: what the model's requests have learned (the ModelState:
 * pass costs and acceptance, greedy and sampled requests apart), the rule that gets the cost curve
 * policy "auto" prices drafts with, and the request pipeline (tokenize, index the references, build the
 * proposer, decode). Create one per model and run every request on it:
 *
 *     const llma = await Accelerator.create(model, { policy: "auto" }); // the cost curve, measured or loaded once
 *     const result = await llma.generate({ prompt, references });
 *
 * generate(model, request) (./generate.ts) is the same on the model's own accelerator
 * (`model.accelerator`, created on first use), so code that holds only a model shares that one's
 * statistics.
 */
import type { CostCurve } from "./cost-model.js";
import { decode, type DecodeResult } from "./decoder.js";
import { passWidthLimit, resolveExactnessMode } from "./exactness.js";
import type { TokenModel } from "./model.js";
import { ModelState, type DecodingMode } from "./model-state.js";
import { CostAwarePolicy, FixedPolicy, type DraftPolicy } from "./policy.js";
import { ReferenceProposer } from "./proposer.js";
import { indexReferencesUnlessAborted } from "./reference-indexing.js";
import { DEFAULT_MAX_TOKENS, POLICY_NAMES, requestedPolicy, resolveSampling, type GenerateRequest, type PolicyName } from "./request.js";
import { ForcedSequence, endOfGenerationToken } from "./target.js";

export interface AcceleratorOptions {
  /** The policy of requests that name none and give no n or k (default "auto"); "auto" gets the cost curve at create(). */
  readonly policy?: PolicyName;
  /** Called before the backend measures the cost curve (rather than loading it from its cache): a few seconds. */
  readonly onMeasure?: () => void;
}

/** A model with the accelerator generate(model, request) runs on (see {@link Accelerator.of}). */
export type AcceleratedModel<M extends TokenModel = TokenModel> = M & { accelerator?: Accelerator };

export class Accelerator<M extends TokenModel = TokenModel> {
  /** The policy of requests that name none (see AcceleratorOptions.policy). */
  readonly policy: PolicyName;
  private learned: ModelState | undefined;

  /** An accelerator that gets the cost curve on the first "auto" request; {@link create} gets it up front. */
  constructor(
    readonly model: M,
    options: Pick<AcceleratorOptions, "policy"> = {},
  ) {
    this.policy = options.policy ?? "auto";
    if (!POLICY_NAMES.includes(this.policy)) throw new Error(`unknown policy ${JSON.stringify(this.policy)}: use one of ${POLICY_NAMES.join(", ")}`);
  }

  /**
   * An accelerator for `model`; with policy "auto" (the default) the cost curve is measured or loaded
   * now, once. The first one a model gets becomes its own (`model.accelerator`, see {@link of}), so
   * generate(model, request) and a server given only the model learn into the same statistics as the
   * object the user holds; a model that already has one gets an independent accelerator (a fresh start,
   * e.g. to compare policies), and keeps its own.
   */
  static async create<M extends TokenModel>(model: M, options: AcceleratorOptions = {}): Promise<Accelerator<M>> {
    const accelerator = new Accelerator(model, options);
    (model as AcceleratedModel<M>).accelerator ??= accelerator;
    if (accelerator.policy === "auto") await accelerator.costCurve(options.onMeasure);
    return accelerator;
  }

  /** The model's own accelerator, held on it (`model.accelerator`) and created on first use: the one generate(model, request) runs on. */
  static of<M extends TokenModel>(model: M): Accelerator<M> {
    const held = model as AcceleratedModel<M>;
    held.accelerator ??= new Accelerator(model);
    return held.accelerator as Accelerator<M>;
  }

  /** What this accelerator's requests have learned; absent before the first "auto" request. */
  get state(): ModelState | undefined {
    return this.learned;
  }

  /** The draft policy of one request: a fresh object, on this accelerator's statistics for "auto" (greedy or sampled ones). */
  policyFor(request: Pick<GenerateRequest, "policy" | "n" | "k">, mode: DecodingMode = "greedy"): DraftPolicy {
    const policy = requestedPolicy(request, this.policy);
    if (typeof policy !== "string") return policy;
    if (policy === "paper") return new FixedPolicy(request.n ?? 1, request.k ?? 20);
    if (policy === "auto") {
      const learned = this.statistics().of(mode);
      return new CostAwarePolicy(learned.costs, { acceptance: learned.acceptance.forRequest(), rollbackReevaluates: this.model.rollbackReevaluates === true });
    }
    throw new Error(`unknown policy ${JSON.stringify(policy)}: use one of ${POLICY_NAMES.join(", ")}`);
  }

  /** One generation request: tokenizes, builds the proposer, runs the decode loop. */
  async generate(request: GenerateRequest): Promise<DecodeResult> {
    const { model } = this;
    const prompt = typeof request.prompt === "string" ? model.tokenize(request.prompt, { bos: true }) : request.prompt;
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
    const auto = method === "llma" && !request.proposer && requestedPolicy(request, this.policy) === "auto";
    if (auto) await this.costCurve();
    if (sampling && request.target !== undefined)
      throw new Error("target-oriented decoding forces a known output: it cannot be combined with sampling (temperature > 0)");
    const proposer =
      request.proposer ??
      (method === "llma"
        ? new ReferenceProposer({
            references: [],
            policy: this.policyFor(request, mode),
            index: await indexReferencesUnlessAborted(model, request.references ?? [], { signal: request.signal, onProgress: request.onIndexProgress }),
            indexPrompt: request.indexPrompt,
            indexOutput: request.indexOutput,
          })
        : undefined);
    const own = request.sequence === undefined;
    let sequence = request.sequence ?? (await model.createSequence());
    try {
      if (request.target !== undefined) {
        const target = typeof request.target === "string" ? model.tokenize(request.target, { bos: false }) : request.target;
        sequence = new ForcedSequence(sequence, prompt.length, target, endOfGenerationToken(model));
      }
      const exactness = resolveExactnessMode(request.exactness);
      const result = await decode(model, sequence, prompt, {
        maxTokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
        stop: request.stop,
        signal: request.signal,
        proposer,
        // The passes' costs go to the cost model the "auto" policy prices drafts with.
        costs: auto ? this.statistics().of(mode).costs : undefined,
        sampling,
        onText: request.onText,
        onTokens: request.onTokens,
        onPass: request.onPass,
        clock: request.clock,
        onStep: request.onStep,
        maxPassWidth: passWidthLimit(model.exactness, exactness, request.maxPassWidth),
      });
      return { ...result, stats: { ...result.stats, exactness } };
    } finally {
      if (own) sequence.dispose();
    }
  }

  /**
   * The one place the cost curve is got: the model's, which its backend measures (or loads from its
   * cache) when it has none yet; concurrent requests share that one measurement (the backend's
   * ensureCostCurve). Undefined when the model has no curve and cannot measure one.
   */
  private async costCurve(onMeasure?: () => void): Promise<CostCurve | undefined> {
    const { model } = this;
    if (!model.costCurve && model.ensureCostCurve) await model.ensureCostCurve({ onMeasure });
    return model.costCurve;
  }

  /** The statistics "auto" requests learn into, from the model's cost curve; a new curve (a recalibration) starts them over. */
  private statistics(): ModelState {
    const curve = this.model.costCurve;
    if (!curve) throw new Error('policy "auto" needs the model\'s measured cost curve (Accelerator.create(model) or LlamaCppModel\'s calibrate()); or use policy "paper"');
    if (this.learned?.prior !== curve) this.learned = new ModelState(curve);
    return this.learned;
  }
}
