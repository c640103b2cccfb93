/**
 * Random cases for the lossless invariant, shared by test/backends/lossless.test.ts (a short run in CI)
 * and `llma fuzz` (long runs). One case, from its seed:
 * - a prompt: a short or long slice of real text from the bundled data, or random token ids;
 * - the plain output: greedy decoding, or (a `sampled` case) plain sampling with a random temperature,
 *   top-k, top-p, min-p and seed;
 * - references built from that true continuation with random edits, plus unrelated text, plus the
 *   output as text (tokenized on its own);
 * - a random policy: the paper's (random n, k; sometimes k beyond the batch of a typical draft) or the
 *   cost-aware "auto" (when the model has a cost curve);
 * - sometimes a stop string taken from the plain output (the plain output is then rerun with it);
 * - sometimes an abort: an AbortSignal fired once a random number of tokens were emitted; the aborted
 *   output must then be a prefix of the plain output.
 * LLMA's output must equal the plain output token for token (text and stop reason too); the case is
 * replayed exactly by its seed.
 */
import { generate } from "../core/generate.js";
import type { DecodeResult } from "../core/decoder.js";
import type { TokenModel } from "../core/model.js";
import { FixedPolicy } from "../core/policy.js";
import { mulberry32 } from "../core/random.js";
import { loadDataset } from "./dataset.js";

/** Integer in [0, bound). */
export function randomInt(random: () => number, bound: number): number {
  return Math.floor(random() * bound);
}

/** A reference made of spans of `truth` with random edits, plus unrelated noise. */
export function editedCopy(random: () => number, truth: readonly number[], vocabularySize: number): number[] {
  const out: number[] = [];
  let i = randomInt(random, 4);
  while (i < truth.length) {
    const r = random();
    if (r < 0.08) out.push(1 + randomInt(random, vocabularySize - 1)); // insertion
    else if (r < 0.14) i++; // deletion
    else if (r < 0.2) {
      out.push(1 + randomInt(random, vocabularySize - 1)); // substitution
      i++;
    } else if (r < 0.23) i += randomInt(random, 10); // skip a span
    else out.push(truth[i++]);
  }
  return out;
}

/** Texts to cut prompts and unrelated references from: the docs and targets of the bundled RAG data. */
export async function fuzzCorpus(path = "bench/data/llma-rag.jsonl"): Promise<string[]> {
  const rag = await loadDataset(path);
  return rag.samples.flatMap((sample) => [...sample.docs, sample.target]);
}

function randomSlice(random: () => number, texts: readonly string[], maxChars: number): string {
  const text = texts[randomInt(random, texts.length)];
  const start = randomInt(random, Math.max(1, text.length - 10));
  return text.slice(start, start + 1 + randomInt(random, maxChars));
}

export interface FuzzFeatures {
  /** Fraction of cases that sample (temperature > 0) instead of decoding greedily (default 0.25). */
  readonly sampled?: number;
  /** Fraction of cases with an abort after a random number of tokens (default 0.15). */
  readonly abort?: number;
  /** Fraction of cases with policy "auto" when the model has a cost curve (default 0.3). */
  readonly auto?: number;
  /** Most generated tokens (default 64). */
  readonly maxTokens?: number;
  /** Random token ids are drawn below this: the model's ordinary text tokens (default 32000, LLaMA-2's; see GgufArchitecture.textTokenCount). */
  readonly vocabularySize?: number;
}

export interface FuzzCaseResult {
  readonly seed: number;
  /** Whether LLMA's output was what it must be (equal to plain, or a prefix of it when aborted). */
  readonly ok: boolean;
  /** What differed, when not ok. */
  readonly problem?: string;
  readonly kind: { readonly sampled: boolean; readonly policy: string; readonly stop: boolean; readonly abortAfter?: number; readonly promptTokens: number };
  readonly generatedTokens: number;
  readonly draftedTokens: number;
  readonly acceptedTokens: number;
  readonly ms: number;
}

function firstDifference(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Runs one random case (see the module comment); never throws for a divergence, reports it. */
export async function runFuzzCase(model: TokenModel, texts: readonly string[], seed: number, features: FuzzFeatures = {}): Promise<FuzzCaseResult> {
  const started = performance.now();
  const random = mulberry32(seed);
  const vocabularySize = features.vocabularySize ?? 32_000;
  // Short and long prompts: llama.cpp's attention kernels change past 256 cached tokens (and for
  // passes of 64+ tokens), exactly where batched and one-by-one evaluation could part ways.
  const kind = random();
  const prompt =
    kind < 0.5
      ? randomSlice(random, texts, 400)
      : kind < 0.8
        ? Array.from({ length: 2 + randomInt(random, 6) }, () => randomSlice(random, texts, 1200)).join("\n")
        : [...model.tokenize("", { bos: true }), ...Array.from({ length: 1 + randomInt(random, 40) }, () => 3 + randomInt(random, vocabularySize - 10))];
  const maxTokens = 1 + randomInt(random, features.maxTokens ?? 64);
  const sampled = random() < (features.sampled ?? 0.25);
  const sampling = sampled
    ? {
        temperature: 0.3 + random(),
        topK: random() < 0.5 ? undefined : 1 + randomInt(random, 60),
        topP: random() < 0.6 ? undefined : 0.7 + random() * 0.3,
        minP: random() < 0.7 ? undefined : random() * 0.1,
        seed: randomInt(random, 2 ** 32),
      }
    : {};
  let plain = await generate(model, { prompt, method: "greedy", maxTokens, ...sampling });
  const references: (string | number[])[] = [];
  for (let r = randomInt(random, 3); r > 0; r--) references.push(editedCopy(random, plain.tokens, vocabularySize));
  if (random() < 0.5) references.push(randomSlice(random, texts, 600));
  if (random() < 0.3) references.push(plain.text); // as text: tokenized on its own
  if (random() < 0.05) references.push(""); // empty references are ignored
  let stop: string[] = [];
  if (random() < 0.25 && plain.text.length > 4) {
    const at = randomInt(random, plain.text.length - 2);
    stop = [plain.text.slice(at, at + 1 + randomInt(random, 3))];
    plain = await generate(model, { prompt, method: "greedy", maxTokens, stop, ...sampling });
  }
  const useAuto = model.costCurve !== undefined && random() < (features.auto ?? 0.3);
  const policy = useAuto ? "auto" : new FixedPolicy(1 + randomInt(random, 3), random() < 0.8 ? randomInt(random, 33) : 64 + randomInt(random, 40));
  const abortAfter = random() < (features.abort ?? 0.15) ? 1 + randomInt(random, Math.max(1, plain.tokens.length)) : undefined;
  const controller = new AbortController();
  let emitted = 0;
  const llma: DecodeResult = await generate(model, {
    prompt,
    references,
    maxTokens,
    stop,
    policy,
    indexPrompt: random() < 0.7,
    indexOutput: random() < 0.7,
    ...sampling,
    signal: abortAfter !== undefined ? controller.signal : undefined,
    onTokens: (tokens) => {
      emitted += tokens.length;
      if (abortAfter !== undefined && emitted >= abortAfter) controller.abort();
    },
  });

  let problem: string | undefined;
  if (llma.stopReason === "abort") {
    if (abortAfter === undefined) problem = "aborted without an abort";
    else if (llma.tokens.length > plain.tokens.length || firstDifference(llma.tokens, plain.tokens) < llma.tokens.length)
      problem = `aborted output is not a prefix of the plain output (differs at token ${firstDifference(llma.tokens, plain.tokens)})`;
    else if (llma.tokens.length < Math.min(abortAfter, plain.tokens.length)) problem = `aborted after ${llma.tokens.length} tokens, before ${abortAfter}`;
  } else if (firstDifference(llma.tokens, plain.tokens) !== llma.tokens.length || llma.tokens.length !== plain.tokens.length)
    problem = `tokens differ at ${firstDifference(llma.tokens, plain.tokens)} (llma ${llma.tokens.length}, plain ${plain.tokens.length})`;
  else if (llma.text !== plain.text) problem = "same tokens, different text";
  else if (llma.stopReason !== plain.stopReason) problem = `stop reason ${llma.stopReason}, plain ${plain.stopReason}`;

  return {
    seed,
    ok: problem === undefined,
    ...(problem !== undefined ? { problem } : {}),
    kind: {
      sampled,
      policy: typeof policy === "string" ? policy : policy.name,
      stop: stop.length > 0,
      ...(abortAfter !== undefined ? { abortAfter } : {}),
      promptTokens: llma.stats.promptTokens,
    },
    generatedTokens: llma.tokens.length,
    draftedTokens: llma.stats.draftedTokens,
    acceptedTokens: llma.stats.acceptedTokens,
    ms: performance.now() - started,
  };
}
