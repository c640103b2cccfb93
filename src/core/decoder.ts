import type { PassCostRecorder } from "./cost-model.js";
import { outputIsExact, reusablePromptPrefix, type ExactnessMode } from "./exactness.js";
import type { TokenModel, TokenSequence } from "./model.js";
import { OutputCollector, type StopReason } from "./output-text.js";
import { acceptedTokens, NO_DRAFT, type Draft, type DraftProposer } from "./proposer.js";
import type { SourceKind } from "./reference-index.js";
import { StepCounter, type StepCounts } from "./step-counts.js";
import { isSampling, normalizeSeed, positionSeed, validateDistributionOptions, type SampleRequest, type SamplingOptions } from "./sampling.js";
import { verifyDraft } from "./verifier.js";

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
  const { maxTokens, proposer, signal } = options;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new RangeError(`maxTokens must be an integer >= 0, got ${maxTokens}`);
  if (prompt.length === 0) throw new Error("the prompt is empty: at least one token (e.g. BOS) is needed");
  if (prompt.length >= model.contextSize)
    throw new Error(`the prompt has ${prompt.length} tokens but the context holds ${model.contextSize}: shorten it or raise contextSize`);
  const { maxPassWidth } = options;
  if (maxPassWidth !== undefined && (!Number.isInteger(maxPassWidth) || maxPassWidth < 1))
    throw new RangeError(`maxPassWidth must be an integer >= 1, got ${maxPassWidth}`);

  const sampling = isSampling(options.sampling) ? options.sampling : undefined;
  if (sampling) {
    validateDistributionOptions(sampling);
    if (!sequence.canSample) throw new Error("this sequence cannot sample (its backend only decodes greedily): use temperature 0");
  }
  const seed = sampling ? normalizeSeed(sampling.seed) : 0;
  const distribution = sampling ? { temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP, minP: sampling.minP } : undefined;
  /** What to draw after the predicted positions of a pass whose first prediction is generated token `first`. */
  const sampleFor = (first: number, count: number): SampleRequest | undefined =>
    distribution ? { options: distribution, seeds: Array.from({ length: count }, (_, j) => positionSeed(seed, first + j)) } : undefined;

  const now = options.clock ?? (() => performance.now());
  const started = now();
  const output = new OutputCollector(model, { maxTokens, stop: options.stop, leftContext: prompt, onText: options.onText });
  const { tokens } = output;
  const counter = new StepCounter();
  let promptMs = 0;
  let forwardMs = 0;
  let draftMs = 0;
  let widestPass = 0;

  /**
   * Emits accepted tokens one by one; the output's stopping rules apply whatever the pass produced.
   * `describe` sees what was emitted before the text is streamed, so a pass's trace precedes its text.
   */
  const emit = (accepted: readonly number[], describe?: (emitted: readonly number[]) => void): void => {
    const emitted = output.pushAll(accepted);
    describe?.(emitted);
    if (emitted.length > 0) {
      options.onTokens?.(emitted);
      output.stream();
    }
  };

  if (!output.done && signal?.aborted) output.end("abort");

  let next = -1;
  let reused = 0;
  if (!output.done) {
    // Keep the KV entries of a shared prompt prefix (see reusablePromptPrefix).
    reused = reusablePromptPrefix(model.exactness, sequence.tokens, prompt);
    await sequence.truncate(reused);
    const t0 = now();
    [next] = await sequence.evaluate(prompt.slice(reused), prompt.length - 1 - reused, sampleFor(0, 1));
    promptMs = now() - t0;
    counter.pass();
    // The context the proposer drafts after: the prompt, then this pass's token (which no draft verified).
    proposer?.append(prompt, "prompt");
    proposer?.append([next], "output");
    const firstMs = promptMs;
    emit([next], options.onStep && ((emitted) => options.onStep!({ pass: 0, draft: [], accepted: 0, emitted, ms: firstMs })));
  }

  while (!output.done) {
    if (signal?.aborted) {
      output.end("abort");
      break;
    }
    // `next` is emitted but not yet in the KV cache; it opens the next forward pass.
    const room = model.contextSize - sequence.length - 1;
    if (room < 0) {
      output.end("context-full");
      break;
    }
    const maxDraft = Math.min(maxTokens - tokens.length - 1, room, model.batchSize - 1, (maxPassWidth ?? Infinity) - 1);
    let draft: Draft = NO_DRAFT;
    if (proposer && maxDraft > 0) {
      const t0 = now();
      draft = proposer.propose(maxDraft);
      draftMs += now() - t0;
    }

    const t0 = now();
    // `next` is generated token number tokens.length - 1: this pass predicts tokens.length onwards.
    const predictions = await sequence.evaluate([next, ...draft.tokens], 0, sampleFor(tokens.length, 1 + draft.tokens.length));
    const passMs = now() - t0;
    forwardMs += passMs;
    options.onPass?.(1 + draft.tokens.length, passMs);
    widestPass = Math.max(widestPass, 1 + draft.tokens.length);

    const verdict = verifyDraft(draft.tokens, predictions);
    const tFeedback = now();
    options.costs?.recordPass(1 + draft.tokens.length, passMs, { exploratory: draft.exploratory === true && draft.tokens.length > 0, accepted: verdict.accepted });
    proposer?.accept(draft, verdict); // the proposer's context gains the accepted tokens and verdict.next
    draftMs += now() - tFeedback;
    if (verdict.accepted < draft.tokens.length) {
      const tRollback = now();
      await sequence.truncate(sequence.length - (draft.tokens.length - verdict.accepted));
      forwardMs += now() - tRollback; // a pass of its own on recurrent models
    }
    counter.pass(draft.tokens.length, verdict.accepted);
    const pass = counter.steps - 1;
    emit(
      acceptedTokens(draft, verdict),
      options.onStep &&
        ((emitted) =>
          options.onStep!({
            pass,
            draft: draft.tokens,
            accepted: verdict.accepted,
            emitted,
            ms: passMs,
            ...(draft.tokens.length > 0 && draft.context?.source !== undefined ? { source: draft.context.source } : {}),
            ...(draft.tokens.length > 0 && draft.reference !== undefined ? { reference: draft.reference } : {}),
          })),
    );
    next = verdict.next;
  }
  output.stream(true);

  const totalMs = now() - started;
  return {
    tokens,
    text: output.text,
    stopReason: output.stopReason!,
    stats: {
      promptTokens: prompt.length,
      reusedPromptTokens: reused,
      generatedTokens: tokens.length,
      ...counter.counts(),
      tokensPerStep: counter.steps > 0 ? tokens.length / counter.steps : 0,
      promptMs,
      forwardMs,
      draftMs,
      totalMs,
      ...(sampling ? { seed } : {}),
      ...withDefined({ exact: outputIsExact(model.exactness, widestPass, reused, maxPassWidth), maxPassWidth }),
      widestPass,
    },
  };
}

/** The entries whose values are defined (so absent stats stay absent in JSON and equality checks). */
function withDefined<T extends Record<string, unknown>>(entries: T): Partial<T> {
  return Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined)) as Partial<T>;
}
