import type { DraftContext, DraftPolicy } from "./policy.js";
import { ReferenceIndex, type ContextCursor, type SourceKind } from "./reference-index.js";

/** A draft: tokens to verify after the last context token, and what the policy knew when choosing it. */
export interface Draft {
  readonly tokens: readonly number[];
  /** The policy's view of the match (for feedback); absent when nothing matched. */
  readonly context?: DraftContext;
  /** Text position the tokens were copied from (for continuing a copy). */
  readonly start?: number;
}

export const NO_DRAFT: Draft = { tokens: [] };

/**
 * Proposes drafts from the request's context. The decoder tells it every token that enters the
 * context (prompt, then each accepted output token) and asks for a draft before each forward pass.
 */
export interface DraftProposer {
  /** Context tokens in order: the prompt first, then each emitted output token. */
  observe(tokens: readonly number[], kind: "prompt" | "output"): void;
  /** A draft of at most `maxTokens` tokens to follow the context (empty = no draft). */
  propose(maxTokens: number): Draft;
  /** After every forward pass: the draft it carried (maybe empty), how much was accepted, how long it took. */
  feedback(draft: Draft, accepted: number, passMs: number): void;
}

export interface ReferenceProposerOptions {
  /** Reference token sequences (retrieved documents, cached answers, earlier turns...). */
  readonly references: readonly (readonly number[])[];
  readonly policy: DraftPolicy;
  /** Also copy from the prompt (default true). */
  readonly indexPrompt?: boolean;
  /** Also copy from the output generated so far (default true). */
  readonly indexOutput?: boolean;
}

/** LLMA's copy mechanism: longest match of the context suffix in the references, copy what follows. */
export class ReferenceProposer implements DraftProposer {
  readonly index = new ReferenceIndex();
  private readonly cursor: ContextCursor;
  private readonly policy: DraftPolicy;
  private readonly indexPrompt: boolean;
  private readonly indexOutput: boolean;
  /** Text position where a fully accepted copy would continue (-1: none). */
  private continuesAt = -1;

  constructor(options: ReferenceProposerOptions) {
    for (const reference of options.references) this.index.addReference(reference);
    this.cursor = this.index.cursor();
    this.policy = options.policy;
    this.indexPrompt = options.indexPrompt ?? true;
    this.indexOutput = options.indexOutput ?? true;
  }

  observe(tokens: readonly number[], kind: "prompt" | "output"): void {
    const indexIt = kind === "prompt" ? this.indexPrompt : this.indexOutput;
    for (const token of tokens) this.cursor.push(token, indexIt, kind);
  }

  propose(maxTokens: number): Draft {
    const match = this.cursor.match();
    if (match === undefined || maxTokens <= 0) return NO_DRAFT;
    const candidates = this.index.continuation(match.continuationStart, maxTokens);
    if (candidates.length === 0) return NO_DRAFT;
    const context: DraftContext = {
      matchLength: match.length,
      available: candidates.length,
      source: this.index.sourceAt(match.continuationStart),
      continuing: match.continuationStart === this.continuesAt,
    };
    const length = this.policy.draftLength(context);
    return { tokens: candidates.slice(0, length), context, start: match.continuationStart };
  }

  feedback(draft: Draft, accepted: number, passMs: number): void {
    this.policy.observeCost?.(1 + draft.tokens.length, passMs);
    if (draft.context === undefined || draft.start === undefined) {
      this.continuesAt = -1;
      return;
    }
    this.policy.observe?.(draft.tokens.length, accepted, draft.context);
    // A whole draft accepted: if the model's next token also follows in the reference, the copy continues there.
    this.continuesAt = draft.tokens.length > 0 && accepted === draft.tokens.length ? draft.start + accepted + 1 : -1;
  }
}
