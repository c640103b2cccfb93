import type { DraftContext, DraftPlan, DraftPolicy, Placement } from "./policy.js";
import { ReferenceIndex, type ContextCursor, type SourceKind } from "./reference-index.js";
import type { Verdict } from "./verifier.js";

/** A draft: tokens to verify after the last context token, and what the policy knew when choosing it. */
export interface Draft {
  readonly tokens: readonly number[];
  /** The policy's view of the match (what it learns from once the draft is verified); absent when nothing matched. */
  readonly context?: DraftContext;
  /** Text position the tokens were copied from (for continuing a copy). */
  readonly start?: number;
  /** Which of the proposer's references the tokens were copied from (its index in the references given); absent: not a reference. */
  readonly reference?: number;
  /** Drafted to test an uncertain cost estimate rather than because it is expected to pay (see DraftPlan). */
  readonly exploratory?: boolean;
}

export const NO_DRAFT: Draft = { tokens: [] };

/**
 * Proposes drafts from the request's context, which it keeps: every token that enters the context
 * reaches it once, in order. Each verification pass is two calls, as node-llama-cpp's TokenPredictor
 * is (predictTokens, then pushTokens): `propose` before the pass, `accept` after it. `accept` is where
 * the decoder first knows the tokens the pass added (the accepted prefix of the draft, then the model's
 * own next token), so it both reports the verdict (for the policy to learn) and extends the context with
 * them; a separate append per pass would be a third call that can only follow it. `append` takes the
 * tokens that come from no draft: the prompt, then the prompt pass's token.
 */
export interface DraftProposer {
  /** Context tokens no pass verified: the prompt ("prompt"), then the first generated token ("output"). */
  append(tokens: readonly number[], kind: "prompt" | "output"): void;
  /** A draft of at most `maxTokens` tokens to follow the context (empty = no draft). */
  propose(maxTokens: number): Draft;
  /**
   * After every forward pass: the draft it carried (maybe empty, or proposed by no call when the pass had
   * no room for one) and the verdict; `draft.tokens[0, verdict.accepted)` then `verdict.next` follow
   * the context, as output.
   */
  accept(draft: Draft, verdict: Verdict): void;
}

/** The output tokens a verified pass adds to the context: the accepted draft prefix, then the model's token. */
export function acceptedTokens(draft: Draft, verdict: Verdict): number[] {
  return [...draft.tokens.slice(0, verdict.accepted), verdict.next];
}

export interface ReferenceProposerOptions {
  /** Reference token sequences (retrieved documents, cached answers, earlier turns...). */
  readonly references: readonly (readonly number[])[];
  /** An index that already holds references (e.g. from indexReferences, which yields and reports progress); `references` are added to it. */
  readonly index?: ReferenceIndex;
  readonly policy: DraftPolicy;
  /** Also copy from the prompt (default true). */
  readonly indexPrompt?: boolean;
  /** Also copy from the output generated so far (default true). */
  readonly indexOutput?: boolean;
}

/**
 * How far past the last accepted copy position the proposer looks for where the output rejoins its
 * source after an edit (a changed word is a few tokens; a rewritten clause more).
 */
const REJOIN_WINDOW = 16;
/** Text positions [from, to] where the output may rejoin the source it last copied from. */
interface RejoinWindow {
  readonly from: number;
  readonly to: number;
}

/**
 * Tokens the output must have copied from one source (one copy, continued or rejoined) before a
 * departure from it opens a rejoin window. A rejoin is likely where the output was following a text
 * and an edit interrupted it; after a one-token copy of a common word it is not. On the no-overlap
 * control (answers that share nothing with their documents) "near" drafts after such copies were
 * priced at what the edited set had taught and accepted 13 tokens of 77 (the five bench sets in a row
 * on the virtual clock, 1.1B shape's curve, 8 samples each). With 2, 30 samples a set: control 0.979x
 * -> 0.988x, the other sets within 0.6%; 4 and 6 cost the edited and RAG sets 1-2%.
 */
const REJOIN_MIN_COPY = 2;

/** Longest backward comparison when scoring a rejoin position (the length buckets stop mattering beyond). */
const REJOIN_MATCH_CAP = 32;

/**
 * LLMA's copy mechanism: longest match of the context suffix in the references, copy what follows.
 * A second candidate comes from where the last copy stopped: after the output departs from a
 * reference (an edited word, an inserted phrase) it usually rejoins that same reference a few tokens
 * further on, while the globally longest match of a short suffix points at its first occurrence
 * anywhere. When the policy can price candidates ({@link DraftPolicy.plan}) the one with the better
 * expected tokens per millisecond is drafted; the paper's fixed policy keeps the paper's single match.
 */
export class ReferenceProposer implements DraftProposer {
  readonly index: ReferenceIndex;
  private readonly cursor: ContextCursor;
  private readonly policy: DraftPolicy;
  private readonly indexPrompt: boolean;
  private readonly indexOutput: boolean;
  /** Every context token so far (prompt, then output), for comparing against a rejoin position. */
  private readonly context: number[] = [];
  /** Text position where a fully accepted copy would continue (-1: none). */
  private continuesAt = -1;
  /** Text position of the first reference token the output did not follow in the last accepted copy (-1: none). */
  private anchor = -1;
  /** Context length at which the output left `anchor`. */
  private anchorContextLength = 0;
  /** Context length when the pending draft was proposed. */
  private proposedAt = 0;
  /** Tokens accepted so far in the current copy: drafts that continued it or rejoined it after a departure. */
  private copied = 0;

  constructor(options: ReferenceProposerOptions) {
    this.index = options.index ?? new ReferenceIndex();
    for (const reference of options.references) this.index.addReference(reference);
    this.cursor = this.index.cursor();
    this.policy = options.policy;
    this.indexPrompt = options.indexPrompt ?? true;
    this.indexOutput = options.indexOutput ?? true;
  }

  append(tokens: readonly number[], kind: "prompt" | "output"): void {
    const indexIt = kind === "prompt" ? this.indexPrompt : this.indexOutput;
    for (const token of tokens) {
      this.cursor.push(token, indexIt, kind);
      this.context.push(token);
    }
  }

  propose(maxTokens: number): Draft {
    this.proposedAt = this.context.length;
    if (maxTokens <= 0) return NO_DRAFT;
    const match = this.cursor.match();
    const window = this.rejoinWindow();
    let best: { draft: Draft; plan?: DraftPlan } | undefined;
    if (match !== undefined) best = this.candidate(match.continuationStart, match.length, maxTokens, window);
    const rejoin = this.policy.plan === undefined || window === undefined ? undefined : this.rejoinPosition(window);
    if (rejoin !== undefined && rejoin.start !== match?.continuationStart) {
      const other = this.candidate(rejoin.start, rejoin.length, maxTokens, window);
      if (other !== undefined && (best === undefined || (other.plan?.rate ?? 0) > (best.plan?.rate ?? 0))) best = other;
    }
    return best?.draft ?? NO_DRAFT;
  }

  accept(draft: Draft, verdict: Verdict): void {
    this.learn(draft, verdict.accepted);
    this.append(acceptedTokens(draft, verdict), "output");
  }

  /** What a verified draft teaches: the policy's acceptance, where a copy continues, where the output left its source. */
  private learn(draft: Draft, accepted: number): void {
    if (draft.context === undefined || draft.start === undefined) {
      this.continuesAt = -1;
      return;
    }
    this.policy.accept?.(draft.tokens.length, accepted, draft.context);
    const sameCopy = draft.context.placement === "continuing" || draft.context.placement === "near";
    this.copied = (sameCopy ? this.copied : 0) + accepted;
    // A whole draft accepted: if the model's next token also follows in the reference, the copy continues there.
    this.continuesAt = draft.tokens.length > 0 && accepted === draft.tokens.length ? draft.start + accepted + 1 : -1;
    // Accepted tokens confirm the place: the output left (or will leave) the reference at start + accepted.
    if (accepted > 0 && this.copied >= REJOIN_MIN_COPY) {
      this.anchor = draft.start + accepted;
      this.anchorContextLength = this.proposedAt + accepted;
    }
  }

  private candidate(start: number, matchLength: number, maxTokens: number, window: RejoinWindow | undefined): { draft: Draft; plan?: DraftPlan } | undefined {
    const tokens = this.index.continuation(start, maxTokens);
    if (tokens.length === 0) return undefined;
    const context: DraftContext = {
      matchLength,
      available: tokens.length,
      source: this.index.sourceAt(start),
      placement: this.placementOf(start, window),
    };
    const plan = this.policy.plan?.(context);
    const length = plan?.length ?? this.policy.draftLength(context);
    const exploratory = plan?.exploratory === true && length > 0 ? { exploratory: true } : {};
    const reference = this.index.referenceAt(start);
    return { draft: { tokens: tokens.slice(0, length), context, start, ...exploratory, ...(reference !== undefined ? { reference } : {}) }, plan };
  }

  private placementOf(start: number, window: RejoinWindow | undefined): Placement {
    if (start === this.continuesAt) return "continuing";
    return window !== undefined && start >= window.from && start <= window.to ? "near" : "elsewhere";
  }

  private rejoinWindow(): RejoinWindow | undefined {
    if (this.anchor < 0) return undefined;
    const since = this.context.length - this.anchorContextLength;
    if (since > REJOIN_WINDOW) return undefined;
    return { from: this.anchor, to: this.anchor + since + REJOIN_WINDOW };
  }

  /** The position after the last copy where the context's suffix matches longest (earliest on ties). */
  private rejoinPosition(window: RejoinWindow): { start: number; length: number } | undefined {
    let best: { start: number; length: number } | undefined;
    const context = this.context;
    for (let start = window.from; start <= window.to; start++) {
      if (this.index.tokenAt(start) < 0) break; // end of that source
      let length = 0;
      // tokenAt is -1 at a source boundary, which no context token equals: matches never cross sources.
      while (length < REJOIN_MATCH_CAP && length < context.length && this.index.tokenAt(start - 1 - length) === context[context.length - 1 - length]) length++;
      if (length > 0 && (best === undefined || length > best.length)) best = { start, length };
    }
    return best;
  }
}
