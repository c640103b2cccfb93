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
    private readonly model: Pick<TokenModel, "detokenize">,
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

/** Why generation ended. */
export type StopReason = "eos" | "max-tokens" | "stop" | "abort" | "context-full";

export interface OutputOptions<Entry = never> {
  /** Most tokens to generate (0: generation is over before it starts). */
  readonly maxTokens: number;
  /** Generation ends before the first of these strings (which is not part of the text). */
  readonly stop?: readonly string[];
  /** Tokens before the output (the prompt's tail), for correct leading-space decoding. */
  readonly leftContext?: readonly number[];
  /**
   * Tokens that fit in the context after the prompt: the output ends with "context-full" when it fills
   * them (absent: the caller watches the context and calls end("context-full") itself).
   */
  readonly room?: number;
  /**
   * Streamed text, in order: never splits a character, never shows part of a stop string. With
   * per-token entries (see push), each piece carries the entries of the tokens generated since the
   * previous piece; the last call carries the remaining entries even when no text is left to show
   * (tokens of a stop string, or of text not complete yet).
   */
  readonly onText?: (text: string, entries?: readonly Entry[]) => void;
}

/**
 * The output of every decoding path (the LLMA loop in decoder.ts, node-llama-cpp's sampler on the
 * server): one set of rules for when generation ends and what text it streams. An end-of-generation
 * token ends it and is not part of the output; a stop string ends it and is cut from the text (the
 * tokens that wrote it stay in `tokens`); `maxTokens` (or `room`) tokens end it. Streaming goes through
 * OutputText, so no path can show a partial stop string or a broken character.
 */
export class OutputCollector<Entry = never> {
  /** The generated tokens (end-of-generation tokens excluded). */
  readonly tokens: number[] = [];
  /** Per-token entries pushed with the tokens (e.g. log probabilities), in token order. */
  readonly entries: Entry[] = [];
  private readonly output: OutputText;
  private reason: StopReason | undefined;
  private unsentEntries = 0;

  constructor(
    private readonly model: Pick<TokenModel, "detokenize" | "isEndOfGeneration">,
    private readonly options: OutputOptions<Entry>,
  ) {
    const { maxTokens } = options;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new RangeError(`maxTokens must be an integer >= 0, got ${maxTokens}`);
    this.output = new OutputText(model, options.stop ?? [], options.leftContext ?? []);
    if (maxTokens === 0 || options.room === 0) this.reason = maxTokens === 0 ? "max-tokens" : "context-full";
  }

  /** Why generation ended (undefined while it goes on). */
  get stopReason(): StopReason | undefined {
    return this.reason;
  }

  get done(): boolean {
    return this.reason !== undefined;
  }

  /** The text so far, cut before the stop string once one appeared. */
  get text(): string {
    return this.output.text;
  }

  /**
   * Adds one token the model generated (nothing, once generation is over) and returns whether
   * generation is over. `entry` is asked for only when the token becomes part of the output.
   */
  push(token: number, entry?: () => Entry): boolean {
    if (this.reason) return true;
    if (this.model.isEndOfGeneration(token)) {
      this.reason = "eos";
      return true;
    }
    if (entry) this.entries.push(entry());
    this.tokens.push(token);
    const { maxTokens, room } = this.options;
    if (this.output.push(token)) this.reason = "stop";
    else if (room !== undefined && this.tokens.length >= room) this.reason = "context-full";
    else if (this.tokens.length >= maxTokens) this.reason = "max-tokens";
    return this.reason !== undefined;
  }

  /** Adds the tokens of one forward pass in order, up to where generation ends; returns those that became output. */
  pushAll(tokens: readonly number[], entry?: (token: number) => Entry): number[] {
    const added: number[] = [];
    for (const token of tokens) {
      if (this.reason) break;
      const before = this.tokens.length;
      this.push(token, entry && (() => entry(token)));
      if (this.tokens.length > before) added.push(token);
    }
    return added;
  }

  /** Ends generation for a reason the output cannot see (an abort, a full context); the first reason stays. */
  end(reason: StopReason): void {
    this.reason ??= reason;
  }

  /** Sends the text that is safe to show now to onText; with `final`, everything that is left. */
  stream(final = false): void {
    const { onText } = this.options;
    if (!onText) return;
    const piece = this.output.takeStreamable(final);
    const entries = this.entries.length > this.unsentEntries ? this.entries.slice(this.unsentEntries) : undefined;
    if (piece.length > 0 || (final && entries)) {
      onText(piece, entries);
      this.unsentEntries = this.entries.length;
    }
  }
}
