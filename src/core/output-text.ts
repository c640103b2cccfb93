import type { TokenModel } from "./model.js";

const REPLACEMENT_CHARACTER = "\uFFFD";
/** Tokens of left context given to the detokenizer so leading spaces decode as in the full text. */
const DETOKENIZE_CONTEXT = 8;

/**
 * The text of the generated tokens, built incrementally: never emits a broken multi-byte character
 * (tokens that end inside one wait for the rest), finds stop strings, and holds back the tail that
 * could still become a stop string so streamed text never shows part of one.
 */
export class OutputText {
  private committedTokens: number[] = [];
  private pendingTokens: number[] = [];
  private textSoFar = "";
  private streamed = 0;
  private stopIndex = -1;
  private readonly longestStop: number;

  constructor(
    private readonly model: TokenModel,
    private readonly stops: readonly string[],
    /** Tokens before the output (the prompt's tail), for correct leading-space decoding. */
    private readonly leftContext: readonly number[] = [],
  ) {
    for (const stop of stops) if (stop.length === 0) throw new Error("stop strings must not be empty");
    this.longestStop = stops.reduce((longest, stop) => Math.max(longest, stop.length), 0);
  }

  /** Adds one generated token; returns true when a stop string has appeared. */
  push(token: number): boolean {
    if (this.stopIndex >= 0) return true;
    this.pendingTokens.push(token);
    const context = this.committedTokens.length > 0 ? this.committedTokens : this.leftContext;
    const piece = this.model.detokenize(this.pendingTokens, context.slice(-DETOKENIZE_CONTEXT));
    if (piece.endsWith(REPLACEMENT_CHARACTER) && this.pendingTokens.length < 8) return false; // incomplete character
    this.commit(piece);
    return this.stopIndex >= 0;
  }

  /** Whether a stop string ended the text. */
  get stopped(): boolean {
    return this.stopIndex >= 0;
  }

  /** The full text so far (cut before the stop string, once one appeared). */
  get text(): string {
    return this.stopIndex >= 0 ? this.textSoFar.slice(0, this.stopIndex) : this.textSoFar;
  }

  /** New text safe to show now; with `final`, everything that is left (pending bytes included). */
  takeStreamable(final = false): string {
    if (final && this.pendingTokens.length > 0 && this.stopIndex < 0) {
      const context = this.committedTokens.length > 0 ? this.committedTokens : this.leftContext;
      this.commit(this.model.detokenize(this.pendingTokens, context.slice(-DETOKENIZE_CONTEXT)));
    }
    const text = this.text;
    const safeEnd = final || this.stopIndex >= 0 ? text.length : Math.max(this.streamed, text.length - Math.max(0, this.longestStop - 1));
    const piece = text.slice(this.streamed, safeEnd);
    this.streamed = safeEnd;
    return piece;
  }

  private commit(piece: string): void {
    const searchFrom = Math.max(0, this.textSoFar.length - this.longestStop + 1);
    this.textSoFar += piece;
    this.committedTokens.push(...this.pendingTokens);
    if (this.committedTokens.length > 64) this.committedTokens = this.committedTokens.slice(-DETOKENIZE_CONTEXT);
    this.pendingTokens = [];
    if (this.stops.length === 0) return;
    let earliest = -1;
    for (const stop of this.stops) {
      const at = this.textSoFar.indexOf(stop, searchFrom);
      if (at >= 0 && (earliest < 0 || at < earliest)) earliest = at;
    }
    this.stopIndex = earliest;
  }
}
