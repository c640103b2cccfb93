import type { PassCostRecorder } from "./cost-model.js";
import { outputIsExact, reusablePromptPrefix, type ExactnessMode } from "./exactness.js";
import type { TokenModel, TokenSequence } from "./model.js";
import { OutputCollector, type StopReason } from "./output-text.js";
import { acceptedTokens, NO_DRAFT, type Draft, type DraftProposer } from "./proposer.js";
import type { SourceKind } from "./reference-index.js";
import { StepCounter, type StepCounts } from "./step-counts.js";
import {
  isSampling,
  normalizeSeed,
  positionSeed,
  validateDistributionOptions,
  type DistributionOptions,
  type SampleRequest,
  type SamplingOptions,
} from "./sampling.js";
import { verifyDraft, type Verdict } from "./verifier.js";

export type { StopReason } from "./output-text.js";

export interface DecodeOptions {
  /** Most tokens to generate. */
  readonly maxTokens: number;
  /** Generation ends before the first of these strings (which is not part of the text). */
  readonly stop?: readonly string[];
  readonly signal?: AbortSignal;
  /** Where drafts come from; absent means plain decoding, one token per forward pass. */
  readonly proposer?: DraftProposer;
  /**
   * Sample (temperature > 0) instead of decoding greedily: the i-th generated token is drawn with the
   * seed `positionSeed(sampling.seed, i)`, so the output with drafts equals the output without them
   * (see sampling.ts). Absent or temperature 0: greedy.
   */
  readonly sampling?: SamplingOptions;
  /** Streamed text, in order; never splits a character, never shows part of a stop string. */
  readonly onText?: (text: string) => void;
  /** Tokens as they are accepted (several per forward pass when a draft is accepted). */
  readonly onTokens?: (tokens: readonly number[]) => void;
  /**
   * Where every forward pass after the prompt's is recorded as it runs: its width, its time, whether its
   * draft was exploratory and how much of it was kept (the model's learned cost model, which the
   * cost-aware policy prices drafts with). Absent: nowhere.
   */
  readonly costs?: PassCostRecorder;
  /**
   * Milliseconds now (default performance.now): pass times go to `costs`, so a simulation on a virtual
   * clock (bench/policy-sim.ts, tests) passes its own.
   */
  readonly clock?: () => number;
  /** After every forward pass after the prompt's: its width (tokens) and duration (for benchmarks). */
  readonly onPass?: (width: number, ms: number) => void;
  /**
   * After every forward pass, the prompt's included (pass 0), before its text is streamed: what it
   * drafted, how much of it was verified, and what it added to the output (for a live view of the
   * drafts: the server's `llma.trace`).
   */
  readonly onStep?: (step: DecodeStep) => void;
  /**
   * Widest forward pass after the prompt (1 + draft tokens); 1 means no drafting. Keeps verification to
   * widths the backend computes exactly like one-token passes (see exactness.ts); default: the batch.
   */
  readonly maxPassWidth?: number;
}

/** One forward pass, as {@link DecodeOptions.onStep} reports it. */
export interface DecodeStep {
  /** 0 for the prompt's pass (it yields the first token), then 1, 2, ... */
  readonly pass: number;
  /** The draft tokens the pass verified (empty: a plain one-token pass). */
  readonly draft: readonly number[];
  /** How many of them the model agreed with (a prefix of the draft). */
  readonly accepted: number;
  /**
   * The tokens the pass added to the output, in order: the accepted draft tokens, then the model's own
   * token; fewer when generation ended inside the pass (end of generation, a stop string, max tokens).
   */
  readonly emitted: readonly number[];
  /** Where the draft was copied from (absent: no draft). */
  readonly source?: SourceKind;
  /** For a draft copied from a reference: its index in the references the proposer was given. */
  readonly reference?: number;
  /** Duration of the forward pass. */
  readonly ms: number;
}

/** The decode's counts: steps (forward passes, the prompt's included), draft steps, drafted and accepted tokens (see StepCounts). */
export interface DecodeStats extends StepCounts {
  readonly promptTokens: number;
  /** Prompt tokens whose KV cache entries were reused from the sequence's previous content. */
  readonly reusedPromptTokens: number;
  readonly generatedTokens: number;
  readonly tokensPerStep: number;
  readonly promptMs: number;
  /** Time in forward passes after the prompt (verification included, and on recurrent models the re-evaluation after a rejected draft). */
  readonly forwardMs: number;
  /** Time spent in the proposer after the prompt (matching, the policy's choice, what it learns from a verdict): llma's overhead per step. */
  readonly draftMs: number;
  readonly totalMs: number;
  /** The request seed, when sampling (replay the output with it). */
  readonly seed?: number;
  /** Whether the output is guaranteed identical to plain decoding (see exactness.ts; absent: the model's exactness is unknown). */
  readonly exact?: boolean;
  /** The pass width limit applied (absent: none but the batch). */
  readonly maxPassWidth?: number;
  /** The widest verification pass run after the prompt. */
  readonly widestPass: number;
  /** The exactness mode of the request (set by generate()). */
  readonly exactness?: ExactnessMode;
}

export interface DecodeResult {
  readonly tokens: number[];
  readonly text: string;
  readonly stopReason: StopReason;
  readonly stats: DecodeStats;
}

/**
 * The LLMA loop: propose a draft, evaluate [last token + draft] in one forward pass, keep the longest
 * draft prefix the model agrees with plus the model's own next token, roll the KV cache back over the
 * rest. Without a proposer it is plain greedy decoding through the very same code, so both paths share
 * every stopping rule and the output of one must equal the other token for token. With `sampling` the
 * model's token at each position is its seeded sample instead of its argmax, and the same holds.
 */
export async function decode(
  model: TokenModel,
  sequence: TokenSequence,
  prompt: readonly number[],
  options: DecodeOptions,
): Promise<DecodeResult> {
  const decoding = new Decoding(model, sequence, prompt, options);
  await decoding.promptPass();
  while (decoding.mayContinue()) await decoding.pass();
  return decoding.result();
}

/** The options' checks; the request's sampling options, undefined when it decodes greedily. */
function checkedSampling(model: TokenModel, sequence: TokenSequence, prompt: readonly number[], options: DecodeOptions): SamplingOptions | undefined {
  const { maxTokens, maxPassWidth } = options;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new RangeError(`maxTokens must be an integer >= 0, got ${maxTokens}`);
  if (prompt.length === 0) throw new Error("the prompt is empty: at least one token (e.g. BOS) is needed");
  if (prompt.length >= model.contextSize)
    throw new Error(`the prompt has ${prompt.length} tokens but the context holds ${model.contextSize}: shorten it or raise contextSize`);
  if (maxPassWidth !== undefined && (!Number.isInteger(maxPassWidth) || maxPassWidth < 1))
    throw new RangeError(`maxPassWidth must be an integer >= 1, got ${maxPassWidth}`);
  const sampling = isSampling(options.sampling) ? options.sampling : undefined;
  if (sampling) {
    validateDistributionOptions(sampling);
    if (!sequence.canSample) throw new Error("this sequence cannot sample (its backend only decodes greedily): use temperature 0");
  }
  return sampling;
}

/**
 * One decode() call: the output, the counts, the timers, and one method per step of the loop. A pass is
 * propose, evaluate, verify, learn (the pass's cost, the proposer's verdict), roll back, emit.
 */
class Decoding {
  private readonly sampling: SamplingOptions | undefined;
  private readonly seed: number;
  private readonly distribution: DistributionOptions | undefined;
  private readonly now: () => number;
  private readonly started: number;
  private readonly output: OutputCollector;
  private readonly counter = new StepCounter();
  private promptMs = 0;
  private forwardMs = 0;
  private draftMs = 0;
  private widestPass = 0;
  private reused = 0;
  /** The last emitted token: not yet in the KV cache, it opens the next forward pass. */
  private next = -1;

  constructor(
    private readonly model: TokenModel,
    private readonly sequence: TokenSequence,
    private readonly prompt: readonly number[],
    private readonly options: DecodeOptions,
  ) {
    const sampling = checkedSampling(model, sequence, prompt, options);
    this.sampling = sampling;
    this.seed = sampling ? normalizeSeed(sampling.seed) : 0;
    this.distribution = sampling ? { temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP, minP: sampling.minP } : undefined;
    this.now = options.clock ?? (() => performance.now());
    this.started = this.now();
    this.output = new OutputCollector(model, { maxTokens: options.maxTokens, stop: options.stop, leftContext: prompt, onText: options.onText });
  }

  /** The prompt's pass (reusing the KV entries of a shared prefix): it yields the first token. */
  async promptPass(): Promise<void> {
    const { output, sequence, prompt, proposer } = this;
    if (!output.done && this.options.signal?.aborted) output.end("abort");
    if (output.done) return;
    this.reused = reusablePromptPrefix(this.model.exactness, sequence.tokens, prompt);
    await sequence.truncate(this.reused);
    const t0 = this.now();
    [this.next] = await sequence.evaluate(prompt.slice(this.reused), prompt.length - 1 - this.reused, this.sampleFor(0, 1));
    this.promptMs = this.now() - t0;
    this.counter.pass();
    // The context the proposer drafts after: the prompt, then this pass's token (which no draft verified).
    proposer?.append(prompt, "prompt");
    this.drafting(() => proposer?.append([this.next], "output"));
    this.emit([this.next], 0, NO_DRAFT, 0, this.promptMs);
  }

  /** Whether another pass runs: the output is not done, the request not aborted, the context not full. */
  mayContinue(): boolean {
    const { output } = this;
    if (output.done) return false;
    if (this.options.signal?.aborted) output.end("abort");
    else if (this.room() < 0) output.end("context-full");
    return !output.done;
  }

  /** One forward pass after the prompt's: propose, evaluate, verify, learn, roll back, emit. */
  async pass(): Promise<void> {
    const draft = this.propose();
    const { predictions, ms } = await this.evaluate(draft);
    const verdict = verifyDraft(draft.tokens, predictions);
    this.learn(draft, verdict, ms);
    await this.rollback(draft, verdict);
    this.counter.pass(draft.tokens.length, verdict.accepted);
    this.emit(acceptedTokens(draft, verdict), this.counter.steps - 1, draft, verdict.accepted, ms);
    this.next = verdict.next;
  }

  result(): DecodeResult {
    const { output, counter, model } = this;
    output.stream(true);
    const { tokens } = output;
    const { maxPassWidth } = this.options;
    return {
      tokens,
      text: output.text,
      stopReason: output.stopReason!,
      stats: {
        promptTokens: this.prompt.length,
        reusedPromptTokens: this.reused,
        generatedTokens: tokens.length,
        ...counter.counts(),
        tokensPerStep: counter.steps > 0 ? tokens.length / counter.steps : 0,
        promptMs: this.promptMs,
        forwardMs: this.forwardMs,
        draftMs: this.draftMs,
        totalMs: this.now() - this.started,
        ...(this.sampling ? { seed: this.seed } : {}),
        ...withDefined({ exact: outputIsExact(model.exactness, this.widestPass, this.reused, maxPassWidth), maxPassWidth }),
        widestPass: this.widestPass,
      },
    };
  }

  private get proposer(): DraftProposer | undefined {
    return this.options.proposer;
  }

  /** Tokens the KV cache holds beyond `next` (which opens the next pass); negative: it is full. */
  private room(): number {
    return this.model.contextSize - this.sequence.length - 1;
  }

  /** The draft to verify, as long as the output, the context, the batch and the pass width allow. */
  private propose(): Draft {
    const { proposer, model } = this;
    const maxDraft = Math.min(this.options.maxTokens - this.output.tokens.length - 1, this.room(), model.batchSize - 1, (this.options.maxPassWidth ?? Infinity) - 1);
    return proposer && maxDraft > 0 ? this.drafting(() => proposer.propose(maxDraft)) : NO_DRAFT;
  }

  /** [next, ...draft] in one forward pass: the model's token after every position, and the pass's time. */
  private async evaluate(draft: Draft): Promise<{ predictions: number[]; ms: number }> {
    const width = 1 + draft.tokens.length;
    const t0 = this.now();
    // `next` is generated token number tokens.length - 1: this pass predicts tokens.length onwards.
    const predictions = await this.sequence.evaluate([this.next, ...draft.tokens], 0, this.sampleFor(this.output.tokens.length, width));
    const ms = this.now() - t0;
    this.forwardMs += ms;
    this.options.onPass?.(width, ms);
    this.widestPass = Math.max(this.widestPass, width);
    return { predictions, ms };
  }

  /** The pass's cost to the cost model, the verdict to the proposer (whose context gains the accepted tokens and verdict.next). */
  private learn(draft: Draft, verdict: Verdict, ms: number): void {
    this.drafting(() => {
      const exploratory = draft.exploratory === true && draft.tokens.length > 0;
      this.options.costs?.recordPass(1 + draft.tokens.length, ms, { exploratory, accepted: verdict.accepted });
      this.proposer?.accept(draft, verdict);
    });
  }

  /** Drops the rejected draft tokens from the KV cache (a pass of its own on recurrent models, so timed as one). */
  private async rollback(draft: Draft, verdict: Verdict): Promise<void> {
    if (verdict.accepted >= draft.tokens.length) return;
    const t0 = this.now();
    await this.sequence.truncate(this.sequence.length - (draft.tokens.length - verdict.accepted));
    this.forwardMs += this.now() - t0;
  }

  /**
   * Emits the pass's tokens one by one; the output's stopping rules apply whatever the pass produced.
   * onStep sees what was emitted before the text is streamed, so a pass's trace precedes its text.
   */
  private emit(tokens: readonly number[], pass: number, draft: Draft, accepted: number, ms: number): void {
    const { options, output } = this;
    const emitted = output.pushAll(tokens);
    options.onStep?.({
      pass,
      draft: draft.tokens,
      accepted,
      emitted,
      ms,
      ...(draft.tokens.length > 0 && draft.context?.source !== undefined ? { source: draft.context.source } : {}),
      ...(draft.tokens.length > 0 && draft.reference !== undefined ? { reference: draft.reference } : {}),
    });
    if (emitted.length > 0) {
      options.onTokens?.(emitted);
      output.stream();
    }
  }

  /** What to draw after the predicted positions of a pass whose first prediction is generated token `first`. */
  private sampleFor(first: number, count: number): SampleRequest | undefined {
    const { distribution, seed } = this;
    return distribution ? { options: distribution, seeds: Array.from({ length: count }, (_, j) => positionSeed(seed, first + j)) } : undefined;
  }

  /** Runs a call into the proposer (or the cost model), its time counted as llma's own overhead (stats.draftMs). */
  private drafting<T>(call: () => T): T {
    const t0 = this.now();
    const value = call();
    this.draftMs += this.now() - t0;
    return value;
  }
}

/** The entries whose values are defined (so absent stats stay absent in JSON and equality checks). */
function withDefined<T extends Record<string, unknown>>(entries: T): Partial<T> {
  return Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined)) as Partial<T>;
}
