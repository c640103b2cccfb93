import type { DraftPolicy } from "./policy.js";
import { ReferenceIndex, type ContextCursor, type SourceKind } from "./reference-index.js";

/** A draft: tokens to verify after the last context token, and where they were copied from. */
export interface Draft {
  readonly tokens: readonly number[];
  readonly source?: SourceKind;
  readonly matchLength: number;
}

/**
 * Proposes drafts from the request's context. The decoder tells it every token that enters the
 * context (prompt, then each accepted output token) and asks for a draft before each forward pass.
 */
export interface DraftProposer {
  /** Context tokens in order: the prompt first, then each emitted output token. */
  observe(tokens: readonly number[], kind: "prompt" | "output"): void;
  /** A draft of at most `maxTokens` tokens to follow the context (empty = no draft). */
  propose(maxTokens: number): Draft;
  /** Verification result of the last draft. */
  feedback(draft: Draft, accepted: number): void;
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
    if (match === undefined || maxTokens <= 0) return { tokens: [], matchLength: 0 };
    const candidates = this.index.continuation(match.continuationStart, maxTokens);
    const length = this.policy.draftLength({ matchLength: match.length, available: candidates.length });
    if (length <= 0) return { tokens: [], matchLength: match.length };
    return {
      tokens: candidates.slice(0, length),
      source: this.index.sourceAt(match.continuationStart),
      matchLength: match.length,
    };
  }

  feedback(draft: Draft, accepted: number): void {
    this.policy.observe?.(draft.tokens.length, accepted, {
      matchLength: draft.matchLength,
      available: draft.tokens.length,
    });
  }
}
