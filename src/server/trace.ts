/**
 * `llma: {trace: true}`: what every forward pass drafted and what verification made of it, for the
 * playground's live view (and anyone curious). The decoder reports each pass (DecodeStep); this turns
 * them into the trace entries a stream chunk (or a whole response) carries, with the draft's source
 * named as the request knows it (the prediction, a reference, a retrieved document, a cached answer,
 * the conversation, the output so far).
 */
import type { DecodeStep } from "../core/decoder.js";
import type { TokenModel } from "../core/model.js";
import type { ReferenceOrigin } from "../rag/planner.js";

/** Where a reference given to the engine came from (the order of EngineRequest.references: the planner's, rag/planner.ts). */
export type { ReferenceOrigin };
export type TraceSource = ReferenceOrigin | "conversation" | "output";

export interface TraceEntry {
  /** 0: the prompt's pass (it yields the first token); then 1, 2, ... */
  readonly pass: number;
  /** Draft tokens verified in this pass (0: a plain one-token pass). */
  readonly drafted: number;
  /** How many of them the model agreed with. */
  readonly accepted: number;
  /** Tokens the pass added to the output: the accepted ones and the model's own (fewer when generation ended in it). */
  readonly emitted: number;
  /** Where the draft was copied from (null: no draft). */
  readonly source: TraceSource | null;
  /** The accepted draft tokens' text (copied, verified). */
  readonly accepted_text: string;
  /** The rejected rest of the draft (never part of the output). */
  readonly rejected_text: string;
  /** The model's own token after the accepted ones (empty when generation ended inside the pass). */
  readonly generated_text: string;
  /** The forward pass's duration in milliseconds. */
  readonly ms: number;
}

/** Left context given to the detokenizer so a piece's leading space decodes as in the whole text. */
const DETOKENIZE_CONTEXT = 8;

/** Collects a request's trace entries until a chunk takes them. */
export class TraceRecorder {
  private pending: TraceEntry[] = [];
  private readonly all: TraceEntry[] = [];
  /** The last tokens before the next pass's output (prompt tail, then output). */
  private context: number[];

  constructor(
    private readonly model: Pick<TokenModel, "detokenize">,
    /** The origin of each reference, in the order the engine was given them. */
    private readonly origins: readonly ReferenceOrigin[],
    prompt: readonly number[],
  ) {
    this.context = prompt.slice(-DETOKENIZE_CONTEXT);
  }

  record(step: DecodeStep): void {
    const acceptedEmitted = step.emitted.slice(0, Math.min(step.accepted, step.emitted.length));
    const generated = step.emitted.slice(acceptedEmitted.length);
    const afterAccepted = [...this.context, ...acceptedEmitted].slice(-DETOKENIZE_CONTEXT);
    const entry: TraceEntry = {
      pass: step.pass,
      drafted: step.draft.length,
      accepted: step.accepted,
      emitted: step.emitted.length,
      source: this.sourceOf(step),
      accepted_text: this.text(acceptedEmitted, this.context),
      rejected_text: this.text(step.draft.slice(step.accepted), afterAccepted),
      generated_text: this.text(generated, afterAccepted),
      ms: Math.round(step.ms * 1000) / 1000,
    };
    this.context = [...this.context, ...step.emitted].slice(-DETOKENIZE_CONTEXT);
    this.pending.push(entry);
    this.all.push(entry);
  }

  /** The entries recorded since the last take (for the next stream chunk). */
  take(): TraceEntry[] {
    const taken = this.pending;
    this.pending = [];
    return taken;
  }

  /** Every entry of the request (for a response that is not streamed). */
  get entries(): readonly TraceEntry[] {
    return this.all;
  }

  private sourceOf(step: DecodeStep): TraceSource | null {
    if (step.draft.length === 0 || step.source === undefined) return null;
    if (step.source === "prompt") return "conversation";
    if (step.source === "output") return "output";
    const origin = step.reference === undefined ? undefined : this.origins[step.reference];
    if (origin === undefined) throw new Error(`trace: a draft came from reference ${step.reference}, but the request has ${this.origins.length} references`);
    return origin;
  }

  private text(tokens: readonly number[], context: readonly number[]): string {
    return tokens.length === 0 ? "" : this.model.detokenize(tokens, context);
  }
}
