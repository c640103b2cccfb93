/**
 * The exactness probe: does a batched forward pass of width w give exactly what one-token passes give,
 * on THIS model with THESE settings on THIS machine?
 *
 * llma is lossless only if it does: a drafted token is accepted when it equals the model's choice
 * computed inside a batched verification pass, and that must be the choice plain decoding (one token per
 * pass) would make. llama.cpp does not promise it: kernels are picked by batch shape and cache length
 * (on the CPU an F16 KV cache takes another flash-attention kernel for one-token passes once the cache
 * holds more than 256 cells; GPU backends diverge by width). So llma measures it instead of assuming it.
 *
 * How: behind a prefix of `anchor` cached tokens (past 256 and past 1,024 cells where the context
 * allows: the CPU kernels' thresholds), the same m tokens are evaluated once one token per pass (the
 * reference: plain decoding) and once per width w in chunks of w. Whole runs are compared, position by
 * position, because in real decoding later positions attend to KV cells that earlier batched passes
 * wrote: a kernel that writes the cache differently shows up only downstream. At every position the
 * greedy token is compared, and the probability of it (a softmax over the whole vocabulary, so its bits
 * change when any logit's bits do) wherever `bitsEvery` says.
 */
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { GgufFileType, type Llama, type LlamaContextSequence, type LlamaModel, type Token } from "node-llama-cpp";
import type { PassExactness, TokenSequence } from "../core/model.js";
import { exactnessCacheFile } from "./cache-dir.js";

/**
 * What the probe needs of a model (LlamaCppModel is one): the settings that decide which kernels run,
 * which key the cached verdict, and a free sequence with node-llama-cpp's own underneath, since the
 * probe compares the probabilities controlledEvaluate returns. Defined here, not imported, so this
 * module and the backend that uses it form no import cycle.
 */
export interface ExactnessTarget {
  readonly path: string;
  readonly threads: number;
  readonly kvCacheType: string;
  readonly flashAttention: boolean;
  readonly contextSize: number;
  readonly batchSize: number;
  readonly llama: Pick<Llama, "gpu" | "llamaCppRelease">;
  readonly model: Pick<LlamaModel, "fileInfo">;
  createProbeSequence(): Promise<TokenSequence & { readonly sequence: LlamaContextSequence }>;
}

/**
 * Pass widths checked by default (a verification pass is 1 + draft tokens wide). 3 is there because
 * llama.cpp's CPU backend repacks Q4_K weights and multiplies batches of 4 or more rows with a tiled
 * kernel that sums in another order than its one-row kernel: Q4_K_M models are exact up to 3-token
 * passes only (measured on every architecture here), and drafts of 1-2 tokens are most of what pays
 * on a CPU anyway.
 */
export const PROBE_WIDTHS: readonly number[] = [2, 3, 4, 8, 16, 32, 64];
/** Cache lengths the compared runs start at: past the CPU kernels' 256- and 1,024-cell thresholds. */
export const PROBE_ANCHORS: readonly number[] = [272, 1040];
/**
 * The probe a load runs (and `llma check`): one anchor, past the 256-cell threshold where the known
 * inexact case (an F16 KV cache on the CPU) parts ways. Filling 1,040 cells and running there too made
 * the probe take about twice as long (162 s on the 1.1B shape on a busy 2-core machine); the exactness
 * matrix (`llma exactness`) keeps both anchors.
 */
export const LOAD_PROBE_ANCHORS: readonly number[] = [272];
/** Bump when what the probe measures changes, so cached verdicts of an older probe are not reused. */
export const PROBE_VERSION = 1;
const DEFAULT_BITS_EVERY = 3;

export interface WidthVerdict {
  readonly width: number;
  /** The greedy token at every position equals the one-token run's. */
  readonly argmaxEqual: boolean;
  /** The probability of the greedy token is bit-identical at every checked position (logits equal). */
  readonly bitsEqual: boolean;
  /** The first position that differs: cells already cached before it, and what differed. */
  readonly firstDiff?: { readonly cachedTokens: number; readonly kind: "argmax" | "bits" };
}

/** The settings a verdict holds for (it is cached under them). */
export interface ProbeSettings {
  readonly threads: number;
  readonly kvCacheType: string;
  readonly flashAttention: boolean;
  /** What node-llama-cpp runs on: false (CPU) or the GPU backend ("cuda", "metal", "vulkan"). */
  readonly backend: string | false;
  readonly contextSize: number;
  readonly batchSize: number;
}

export interface ExactnessVerdict extends PassExactness {
  /** Every checked width is exact. */
  readonly exact: boolean;
  readonly widths: readonly WidthVerdict[];
  /** Largest checked width W such that every checked width <= W is exact (1: none is). */
  readonly exactUpTo: number;
  /** Time the probe took (when it was measured, for a cached verdict). */
  readonly ms: number;
  /** Cache lengths the runs started at, and tokens per run. */
  readonly anchors: readonly number[];
  readonly runTokens: number;
  /** Positions whose probability bits were compared per run (the greedy token is compared at all). */
  readonly bitsPositions: number;
  readonly settings: ProbeSettings;
  /** Whether this verdict came from the cache file. */
  readonly cached?: boolean;
  /** The weights' type (general.file_type, e.g. MOSTLY_F16): the remedy depends on it. */
  readonly weights?: string | null;
}

export interface ProbeOptions {
  /** Pass widths to check (default PROBE_WIDTHS, capped by the batch size). */
  readonly widths?: readonly number[];
  /** Cache lengths the runs start at (default LOAD_PROBE_ANCHORS; those that do not fit are dropped). */
  readonly anchors?: readonly number[];
  /**
   * Compare probability bits at every n-th position of a run and at its last (default 3). Getting them
   * costs a sort of the vocabulary per position in node-llama-cpp (~3 ms for 32k tokens here, which made
   * the probe take twice as long with every position); the greedy token is compared everywhere. 3 is
   * coprime to the power-of-two widths, so across a run's chunks every offset inside a chunk is checked.
   */
  readonly bitsEvery?: number;
}

/** Ordinary token ids (past the control and byte tokens when the vocabulary is large enough), deterministic. */
function probeToken(vocabulary: number): (i: number) => number {
  const offset = vocabulary > 1200 ? 300 : 0;
  const span = Math.max(1, Math.min(20_000, vocabulary - offset));
  return (i) => offset + ((i * 7919) % span);
}

interface PositionResult {
  readonly token: number;
  readonly bits?: number;
}

/** Runs the probe on one of the model's sequences (it must be free) and returns the verdict. */
export async function probeExactness(model: ExactnessTarget, options: ProbeOptions = {}): Promise<ExactnessVerdict> {
  const started = performance.now();
  const bitsEvery = options.bitsEvery ?? DEFAULT_BITS_EVERY;
  if (!Number.isInteger(bitsEvery) || bitsEvery < 1) throw new RangeError(`bitsEvery must be an integer >= 1, got ${bitsEvery}`);
  const plan = probePlan(model, options);
  const { widths, anchors, runTokens } = plan;
  const vocabulary = model.model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 32_000;
  const token = probeToken(vocabulary);
  const verdicts = new Map<number, WidthVerdict>(widths.map((width) => [width, { width, argmaxEqual: true, bitsEqual: true }]));

  const sequence = await model.createProbeSequence();
  const inner = sequence.sequence;
  const wantsBits = (offset: number) => offset % bitsEvery === 0 || offset === runTokens - 1;
  /** Evaluates the run's tokens from `anchor` in passes of `width`, then rolls the cache back to `anchor`. */
  const run = async (anchor: number, width: number): Promise<PositionResult[]> => {
    const results: PositionResult[] = [];
    for (let offset = 0; offset < runTokens; offset += width) {
      const items = Array.from({ length: Math.min(width, runTokens - offset) }, (_, j): [Token, { generateNext: { token: true; confidence: boolean } }] => [
        token(anchor + offset + j) as Token,
        { generateNext: { token: true, confidence: wantsBits(offset + j) } },
      ]);
      const evaluated = await inner.controlledEvaluate(items);
      for (const item of evaluated) {
        if (item?.next?.token == null) throw new Error("the backend returned no prediction during the exactness probe");
        results.push({ token: item.next.token, bits: item.next.confidence });
      }
    }
    await sequence.truncate(anchor);
    return results;
  };
  try {
    await sequence.truncate(0);
    for (const anchor of anchors) {
      // Extend the shared prefix to this anchor in one batched pass: both runs start from the same cells.
      if (sequence.length < anchor) await sequence.evaluate(Array.from({ length: anchor - sequence.length }, (_, i) => token(sequence.length + i)), anchor - sequence.length);
      const reference = await run(anchor, 1);
      for (const width of widths) {
        const verdict = verdicts.get(width)!;
        if (verdict.firstDiff) continue; // already known not exact: save the time
        const chunked = await run(anchor, width);
        verdicts.set(width, compareRuns(width, anchor, reference, chunked));
      }
    }
  } finally {
    await sequence.truncate(0).catch(() => undefined);
    sequence.dispose();
  }
  const widthVerdicts = widths.map((width) => verdicts.get(width)!);
  const exactWidth = (v: WidthVerdict) => v.argmaxEqual && v.bitsEqual;
  let exactUpTo = 1;
  for (const verdict of widthVerdicts) {
    if (!exactWidth(verdict)) break;
    exactUpTo = verdict.width;
  }
  return {
    exact: widthVerdicts.every(exactWidth),
    widths: widthVerdicts,
    exactUpTo,
    ms: Math.round(performance.now() - started),
    anchors,
    runTokens,
    bitsPositions: Array.from({ length: runTokens }, (_, i) => i).filter(wantsBits).length,
    settings: probeSettings(model),
  };
}

function compareRuns(width: number, anchor: number, reference: readonly PositionResult[], chunked: readonly PositionResult[]): WidthVerdict {
  let argmaxEqual = true;
  let bitsEqual = true;
  let firstDiff: WidthVerdict["firstDiff"];
  for (let i = 0; i < reference.length; i++) {
    const argmax = reference[i].token === chunked[i].token;
    // Object.is: bit-level equality of the floats (distinguishes nothing else here: they are never NaN).
    const bits = reference[i].bits === undefined || Object.is(reference[i].bits, chunked[i].bits);
    if (!argmax) argmaxEqual = false;
    if (!bits) bitsEqual = false;
    if (!firstDiff && (!argmax || !bits)) firstDiff = { cachedTokens: anchor + i, kind: argmax ? "bits" : "argmax" };
  }
  return { width, argmaxEqual, bitsEqual, ...(firstDiff ? { firstDiff } : {}) };
}

/** Widths, anchors and run length that fit this model's batch and context. */
export function probePlan(model: Pick<ExactnessTarget, "batchSize" | "contextSize">, options: ProbeOptions = {}): { widths: number[]; anchors: number[]; runTokens: number } {
  for (const width of options.widths ?? [])
    if (!Number.isInteger(width) || width < 2) throw new RangeError(`probe widths must be integers >= 2, got ${width}`);
  const widths = [...new Set(options.widths ?? PROBE_WIDTHS)].filter((w) => w <= model.batchSize).sort((a, b) => a - b);
  // A run must hold the widest chunk; the context must hold the anchor, the run and the cell node-llama-cpp keeps free.
  let runTokens = Math.max(1, ...widths);
  let anchors = (options.anchors ?? LOAD_PROBE_ANCHORS).filter((anchor) => anchor + runTokens < model.contextSize);
  if (anchors.length === 0) {
    // A small context: start right after a short prefix, with runs as long as fit.
    runTokens = Math.min(runTokens, Math.max(1, model.contextSize - 17));
    anchors = [Math.max(1, Math.min(16, model.contextSize - runTokens - 1))];
  }
  return { widths: widths.filter((w) => w <= runTokens), anchors, runTokens };
}

export function probeSettings(model: ExactnessTarget): ProbeSettings {
  return {
    threads: model.threads,
    kvCacheType: model.kvCacheType,
    flashAttention: model.flashAttention,
    backend: model.llama.gpu,
    contextSize: model.contextSize,
    batchSize: model.batchSize,
  };
}

interface CacheFile {
  [key: string]: { measuredAt: string; verdict: ExactnessVerdict };
}


/**
 * The cached verdict for this model file and these settings, probing on first use. The key holds all
 * that decides which kernels run: the file (path, size, mtime), threads, KV type, flash attention, the
 * backend, context and batch size, the llama.cpp release and what the probe checks.
 */
export async function exactnessFor(
  model: ExactnessTarget,
  options: ProbeOptions & { cacheFile?: string; refresh?: boolean; onProbe?: () => void } = {},
): Promise<ExactnessVerdict> {
  const file = options.cacheFile ?? exactnessCacheFile();
  const info = await stat(model.path);
  const plan = probePlan(model, options);
  const key = JSON.stringify([
    PROBE_VERSION,
    resolve(model.path),
    info.size,
    Math.round(info.mtimeMs),
    probeSettings(model),
    model.llama.llamaCppRelease.release,
    plan,
    options.bitsEvery ?? DEFAULT_BITS_EVERY,
  ]);
  const hit = (await readCache(file))[key];
  if (hit && !options.refresh && Array.isArray(hit.verdict?.widths)) return { ...hit.verdict, weights: weightsOf(model), cached: true };
  options.onProbe?.();
  const verdict = await probeExactness(model, options);
  // Re-read: another process may have added verdicts meanwhile; write a whole new file, then rename.
  const cache = await readCache(file);
  cache[key] = { measuredAt: new Date().toISOString(), verdict };
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(cache, null, 1)}\n`);
  await rename(tmp, file);
  return { ...verdict, weights: weightsOf(model), cached: false };
}

/** The model's general.file_type by name (MOSTLY_Q8_0, MOSTLY_F16, ...), or null when the file does not say. */
function weightsOf(model: ExactnessTarget): string | null {
  const fileType = model.model.fileInfo.metadata?.general?.file_type;
  return typeof fileType === "number" ? (GgufFileType[fileType] ?? `file type ${fileType}`) : null;
}

async function readCache(file: string): Promise<CacheFile> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as unknown;
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as CacheFile) : {};
  } catch {
    return {}; // missing or unreadable: probe afresh
  }
}

/** What to change to get exact passes, in words (empty when the verdict is exact). */
export function exactnessAdvice(verdict: ExactnessVerdict): string[] {
  if (verdict.exact) return [];
  const { settings } = verdict;
  const advice: string[] = [];
  if (!settings.flashAttention) advice.push("turn flash attention on: without it the attention matmuls take batch-size-dependent paths");
  if (settings.kvCacheType === "F16" || settings.kvCacheType === "F32")
    advice.push(
      `use --kv-type Q8_0 (or BF16): an ${settings.kvCacheType} KV cache takes other CPU flash-attention kernels by batch width and cache length (not exact past 256 cells)`,
    );
  if (verdict.weights && /Q4_K/.test(verdict.weights) && settings.backend === false)
    advice.push(
      `use Q5_K_M, Q6_K, Q8_0 or Q4_0 weights: llama.cpp's CPU backend multiplies batches of 4+ rows of ${verdict.weights} weights (their Q4_K tensors, repacked at load) with another kernel than one row (exact up to 3-token passes here)`,
    );
  if (verdict.weights && /F16|F32|BF16/.test(verdict.weights))
    advice.push(`use Q8_0 or Q4_0 weights: ${verdict.weights} weights take another matrix-multiplication path in batched passes than in one-token passes on this CPU`);
  if (settings.backend !== false) advice.push(`run on the CPU (without --gpu): the ${settings.backend} backend's kernels differ by batch width`);
  if (advice.length === 0) advice.push("try another weight type (Q8_0 or Q4_0 weights are exact on llama.cpp's CPU backend with a Q8_0 KV cache)");
  return advice;
}

/** One sentence on what the verdict means for decoding in this mode, or undefined when nothing is lost. */
export function exactnessWarning(verdict: ExactnessVerdict, mode: "strict" | "relaxed"): string | undefined {
  if (verdict.exact) return undefined;
  const failed = verdict.widths.find((w) => !(w.argmaxEqual && w.bitsEqual));
  const where = failed?.firstDiff ? ` (width ${failed.width} first differs after ${failed.firstDiff.cachedTokens} cached tokens, ${failed.firstDiff.kind === "argmax" ? "greedy token" : "logit bits"})` : "";
  const { settings } = verdict;
  const setup = `KV ${settings.kvCacheType}, ${settings.threads} thread(s), flash attention ${settings.flashAttention ? "on" : "off"}, ${settings.backend === false ? "CPU" : settings.backend}`;
  const fix = `To change it: ${exactnessAdvice(verdict).join("; ")}.`;
  if (mode === "relaxed")
    return `batched passes of this model are not bit-identical to one-token passes${where} [${setup}]; exactness "relaxed": drafts are verified anyway, so the output is NOT guaranteed identical to plain decoding. ${fix}`;
  const effect =
    verdict.exactUpTo < 2
      ? "so llma verifies no drafts and decodes plainly: no speed-up"
      : `so llma verifies drafts only in passes of at most ${verdict.exactUpTo} tokens: less speed-up`;
  return `batched passes of this model are not bit-identical to one-token passes${where} [${setup}]; exactness "strict" (the default) keeps the output identical, ${effect}. ${fix} (Or exactness "relaxed": faster, output not guaranteed identical.)`;
}
