/**
 * Model-free step counting for target-oriented decoding (the paper's Algorithm 2).
 *
 * The output is forced to a known target T: every step proposes a draft, accepts its longest prefix
 * equal to T's next tokens plus one more token, so a step emits >= 1 token. The prompt pass is the
 * first step and yields T[0]; the last step is the one whose "next token" is the end of generation
 * (so plain greedy decoding takes len(T) + 1 steps). This is exactly how src/core/decoder.ts counts
 * `steps` when the model is wrapped in src/core/target.ts's ForcedSequence (test/bench/simulate.test.ts
 * checks the equality against decode()).
 *
 * Because the context is always prompt + T[0..i) after i emitted tokens, what a matcher finds there
 * does not depend on (n, k): n only gates the match, k only caps the draft. So one pass over T per
 * sample records, for every i, the match (its length), how many tokens it could copy and how many of
 * those agree with T[i..]; each (n, k) is then simulated in O(len(T)) by jumping from i to
 * i + accepted + 1.
 */
import { acceptedTokens, NO_DRAFT, type Draft, type DraftProposer } from "../core/proposer.js";
import { ReferenceIndex } from "../core/reference-index.js";
import { StepCounter, type StepCounts } from "../core/step-counts.js";
import type { Verdict } from "../core/verifier.js";
import type { Sample } from "./dataset.js";
import { paperRequest, type TextTokenizer } from "./prompts.js";

export type Matcher = "paper" | "suffix";
export const MATCHERS: readonly Matcher[] = ["paper", "suffix"];

/** The paper's matcher tries n-grams from this length down to n. */
export const PAPER_MAX_NGRAM = 5;
export const MAX_K = 256;
/** Default grid: every n the paper's matcher allows, and a subset of k in 1..64 (dense where it matters). */
export const DEFAULT_N_GRID: readonly number[] = [1, 2, 3, 4, 5];
export const DEFAULT_K_GRID: readonly number[] = [1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64];

/** One sample as token ids, built as the paper builds it (src/bench/prompts.ts's paperRequest). */
export interface TokenizedSample {
  readonly id: number;
  /** The prompt, BOS first (when the vocabulary uses one). */
  readonly prompt: readonly number[];
  /** The documents (each truncated to 768 tokens), each tokenized on its own. */
  readonly references: readonly (readonly number[])[];
  /** The forced output T. */
  readonly target: readonly number[];
}

export function tokenizeSample(tokenizer: TextTokenizer, sample: Sample): TokenizedSample {
  const { prompt, references } = paperRequest(tokenizer, sample);
  return {
    id: sample.id,
    prompt: tokenizer.tokenize(prompt, { bos: true }),
    references: references.map((reference) => tokenizer.tokenize(reference)),
    target: tokenizer.tokenize(sample.target),
  };
}

/**
 * What a matcher finds after i emitted tokens, for i = 1..len(T) (index 0 is unused: the prompt pass
 * carries no draft).
 */
export interface MatchProfile {
  readonly matcher: Matcher;
  readonly targetLength: number;
  /**
   * suffix: the matched context suffix length (0 = none); a draft needs gate >= n.
   * paper: the longest n-gram length (<= 5) of the output's tail found in the docs (0 = none); the
   * paper's matcher uses that longest n-gram whenever it is >= n, so again a draft needs gate >= n.
   */
  readonly gate: Int32Array;
  /** Tokens the match could copy (its continuation, capped at the profile's cap). */
  readonly available: Int32Array;
  /** Leading tokens of that continuation equal to T[i..]. */
  readonly agree: Int32Array;
}

function agreement(continuation: ArrayLike<number>, from: number, count: number, target: readonly number[], i: number): number {
  let a = 0;
  while (a < count && i + a < target.length && continuation[from + a] === target[i + a]) a++;
  return a;
}

export interface SuffixProfileOptions {
  /** Also match the prompt (default true, as ReferenceProposer). */
  readonly indexPrompt?: boolean;
  /** Also match the output so far (default true, as ReferenceProposer). */
  readonly indexOutput?: boolean;
}

/** Our matcher: ReferenceIndex over docs (+ prompt + output), longest context suffix, earliest occurrence. */
export function suffixProfile(sample: TokenizedSample, cap: number, options: SuffixProfileOptions = {}): MatchProfile {
  const target = sample.target;
  const length = target.length;
  const gate = new Int32Array(length + 1);
  const available = new Int32Array(length + 1);
  const agree = new Int32Array(length + 1);
  const index = new ReferenceIndex();
  for (const reference of sample.references) index.addReference(reference);
  const cursor = index.cursor();
  const indexPrompt = options.indexPrompt ?? true;
  const indexOutput = options.indexOutput ?? true;
  for (const token of sample.prompt) cursor.push(token, indexPrompt, "prompt");
  for (let i = 1; i <= length; i++) {
    cursor.push(target[i - 1], indexOutput, "output");
    const match = cursor.match();
    if (match === undefined) continue;
    const continuation = index.continuation(match.continuationStart, cap);
    gate[i] = match.length;
    available[i] = continuation.length;
    agree[i] = agreement(continuation, 0, continuation.length, target, i);
  }
  return { matcher: "suffix", targetLength: length, gate, available, agree };
}

/**
 * The first occurrence of every n-gram (n = 1..5) of the documents, each document on its own, in
 * order (an n-gram never spans two documents): the table the paper's code builds (`prepare_ngrams`).
 */
export class NgramTable {
  /** All documents end to end. */
  readonly tokens: Int32Array;
  /** For every position, the end (exclusive) of its document. */
  readonly documentEnd: Int32Array;
  private readonly first: Map<string, number>[] = [];

  constructor(documents: readonly (readonly number[])[], readonly maxN = PAPER_MAX_NGRAM) {
    const total = documents.reduce((sum, document) => sum + document.length, 0);
    this.tokens = new Int32Array(total);
    this.documentEnd = new Int32Array(total);
    for (let n = 0; n <= maxN; n++) this.first.push(new Map());
    let offset = 0;
    for (const document of documents) {
      const end = offset + document.length;
      this.tokens.set(document, offset);
      this.documentEnd.fill(end, offset, end);
      for (let n = 1; n <= maxN; n++) {
        const table = this.first[n];
        for (let start = offset; start + n <= end; start++) {
          const key = NgramTable.key(this.tokens, start, n);
          if (!table.has(key)) table.set(key, start);
        }
      }
      offset = end;
    }
  }

  private static key(tokens: ArrayLike<number>, start: number, n: number): string {
    let key = String(tokens[start]);
    for (let j = 1; j < n; j++) key += `,${tokens[start + j]}`;
    return key;
  }

  /** Start of the first occurrence in the documents of tokens[end - n, end), or -1. */
  firstOccurrence(tokens: readonly number[], end: number, n: number): number {
    if (n < 1 || n > this.maxN || end < n) return -1;
    return this.first[n].get(NgramTable.key(tokens, end - n, n)) ?? -1;
  }

  /** How many tokens follow the n-gram at `start` in its document, capped at `cap`. */
  followingCount(start: number, n: number, cap: number): number {
    return Math.max(0, Math.min(cap, this.documentEnd[start] - (start + n)));
  }
}

/** The paper's matcher, precomputed: the longest matching n-gram (<= 5) of the output's tail. */
export function paperProfile(sample: TokenizedSample, cap: number, table = new NgramTable(sample.references)): MatchProfile {
  const target = sample.target;
  const length = target.length;
  const gate = new Int32Array(length + 1);
  const available = new Int32Array(length + 1);
  const agree = new Int32Array(length + 1);
  for (let i = 1; i <= length; i++) {
    // If an n-gram occurs in the docs, so does its (n-1)-token suffix: the longest hit decides.
    for (let n = Math.min(PAPER_MAX_NGRAM, i); n >= 1; n--) {
      const start = table.firstOccurrence(target, i, n);
      if (start < 0) continue;
      const from = start + n;
      const count = table.followingCount(start, n, cap);
      gate[i] = n;
      available[i] = count;
      agree[i] = agreement(table.tokens, from, count, target, i);
      break;
    }
  }
  return { matcher: "paper", targetLength: length, gate, available, agree };
}

/**
 * Draft length at a position: suffix copies up to k tokens; the paper's code copies k - 1
 * (`doc_token_id_list[i][j+prefix_n : j+prefix_n+block_K-1]` in LMOps llma/src/decode.py), so that
 * a step evaluates k tokens in all (the last one plus the copy).
 */
export function draftLength(matcher: Matcher, gate: number, available: number, n: number, k: number): number {
  if (gate < n) return 0;
  return Math.max(0, Math.min(matcher === "paper" ? k - 1 : k, available));
}

export interface SampleCounts extends StepCounts {
  readonly targetTokens: number;
  /** Plain greedy decoding: one step per target token plus the step that yields the end. */
  readonly greedySteps: number;
}

/** Forced decoding of one sample at (n, k), counted as decode() counts it (core/step-counts.ts). */
export function simulateProfile(profile: MatchProfile, n: number, k: number): SampleCounts {
  const length = profile.targetLength;
  const counter = new StepCounter();
  counter.pass(); // the prompt pass, which yields T[0] (or the end, for an empty target)
  let i = 1;
  while (i <= length) {
    // After i tokens: this step's draft is checked against T[i..] and its next token is T[i + accepted]
    // (the end of generation once i + accepted = len(T)).
    const drafted = draftLength(profile.matcher, profile.gate[i], profile.available[i], n, k);
    const accepted = Math.min(drafted, profile.agree[i]);
    counter.pass(drafted, accepted);
    i += accepted + 1;
  }
  return { targetTokens: length, greedySteps: length + 1, ...counter.counts() };
}

export interface GridPoint {
  readonly matcher: Matcher;
  readonly n: number;
  readonly k: number;
}

export interface PointResult extends GridPoint {
  readonly samples: number;
  readonly targetTokens: number;
  readonly greedySteps: number;
  readonly llmaSteps: number;
  /** targetTokens / llmaSteps. */
  readonly tokensPerStep: number;
  /** greedySteps / llmaSteps. */
  readonly stepReduction: number;
  readonly draftedTokens: number;
  readonly acceptedTokens: number;
  /** acceptedTokens / draftedTokens (null without drafts). */
  readonly acceptanceRate: number | null;
  /** Share of steps that carried a draft. */
  readonly draftStepShare: number;
}

export interface Grid {
  readonly matchers: readonly Matcher[];
  readonly n: readonly number[];
  readonly k: readonly number[];
}

/** Checks a grid against the matchers' ranges; throws an Error naming the problem. */
export function validateGrid(grid: Grid): void {
  if (grid.matchers.length === 0 || grid.n.length === 0 || grid.k.length === 0) throw new Error("the grid is empty");
  for (const matcher of grid.matchers)
    if (!MATCHERS.includes(matcher)) throw new Error(`unknown matcher ${JSON.stringify(matcher)}: expected one of ${MATCHERS.join(", ")}`);
  const maxN = grid.matchers.includes("paper") ? PAPER_MAX_NGRAM : 64;
  for (const n of grid.n)
    if (!Number.isInteger(n) || n < 1 || n > maxN)
      throw new Error(`n must be an integer between 1 and ${maxN}${maxN === PAPER_MAX_NGRAM ? " for the paper matcher" : ""}, got ${n}`);
  for (const k of grid.k) if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new Error(`k must be an integer between 1 and ${MAX_K}, got ${k}`);
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Every grid point over a set of samples (counts summed over samples, ratios of the sums). */
export function simulateSamples(samples: readonly TokenizedSample[], grid: Grid): PointResult[] {
  validateGrid(grid);
  const cap = Math.max(...grid.k);
  const results: PointResult[] = [];
  for (const matcher of grid.matchers) {
    const profiles = samples.map((sample) => (matcher === "paper" ? paperProfile(sample, cap) : suffixProfile(sample, cap)));
    for (const n of grid.n)
      for (const k of grid.k) {
        let targetTokens = 0;
        let greedySteps = 0;
        const total = new StepCounter();
        for (const profile of profiles) {
          const counts = simulateProfile(profile, n, k);
          targetTokens += counts.targetTokens;
          greedySteps += counts.greedySteps;
          total.add(counts);
        }
        const { steps, draftSteps, draftedTokens, acceptedTokens } = total;
        results.push({
          matcher,
          n,
          k,
          samples: samples.length,
          targetTokens,
          greedySteps,
          llmaSteps: steps,
          tokensPerStep: steps > 0 ? round(targetTokens / steps, 4) : 0,
          stepReduction: steps > 0 ? round(greedySteps / steps, 4) : 0,
          draftedTokens,
          acceptedTokens,
          acceptanceRate: draftedTokens > 0 ? round(acceptedTokens / draftedTokens, 4) : null,
          draftStepShare: steps > 0 ? round(draftSteps / steps, 4) : 0,
        });
      }
  }
  return results;
}

/** Per matcher and n, the k with the largest step reduction (the smallest such k on ties). */
export function bestPoints(points: readonly PointResult[]): PointResult[] {
  const best = new Map<string, PointResult>();
  for (const point of points) {
    const key = `${point.matcher}/${point.n}`;
    const current = best.get(key);
    if (!current || point.stepReduction > current.stepReduction || (point.stepReduction === current.stepReduction && point.k < current.k))
      best.set(key, point);
  }
  return [...best.values()];
}

/**
 * The paper's matcher as a DraftProposer, so decode() can run it: the last n-gram of the GENERATED
 * tokens (never the prompt), lengths 5 down to n, first occurrence in the docs (each document on its
 * own, in order), copy what follows. A direct transcription of `match_prefix` in LMOps
 * llma/src/decode.py with a plain scan instead of the n-gram dictionary (O(doc tokens) per step), kept
 * independent of {@link paperProfile} so the two check each other.
 */
export class PaperProposer implements DraftProposer {
  private readonly generated: number[] = [];

  /**
   * @param k as in the paper: a step evaluates k tokens, so the draft holds k - 1 copied tokens
   */
  constructor(
    private readonly references: readonly (readonly number[])[],
    readonly n: number,
    readonly k: number,
  ) {
    validateGrid({ matchers: ["paper"], n: [n], k: [k] });
  }

  append(tokens: readonly number[], kind: "prompt" | "output"): void {
    if (kind === "output") this.generated.push(...tokens);
  }

  propose(maxTokens: number): Draft {
    const generated = this.generated;
    for (let n = PAPER_MAX_NGRAM; n >= this.n; n--) {
      if (generated.length < n) continue;
      const tail = generated.slice(generated.length - n);
      for (const document of this.references)
        for (let j = 0; j + n <= document.length; j++) {
          let same = 0;
          while (same < n && document[j + same] === tail[same]) same++;
          if (same < n) continue;
          // The paper copies k - 1 tokens (see draftLength); the decoder may allow fewer.
          const tokens = document.slice(j + n, j + n + Math.max(0, Math.min(this.k - 1, maxTokens)));
          return { tokens, context: { matchLength: n, available: tokens.length, source: "reference" } };
        }
    }
    return NO_DRAFT;
  }

  accept(draft: Draft, verdict: Verdict): void {
    this.generated.push(...acceptedTokens(draft, verdict));
  }
}
