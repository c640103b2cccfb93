/**
 * Measures the backend's cost curve: how long one forward pass over T tokens takes, for T = 1..64.
 * It is the cost-aware policy's prior (core/cost-model.ts's PassCostModel learns the real costs from
 * the passes it runs): measured once per (model file, threads, context, batch, KV type) and cached as
 * JSON in llma's cache directory (./cache-dir.ts) when the measurement was steady; the cache speeds up start-up but cannot lock
 * in a wrong curve, since every process refines it online.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { CostPoint } from "../core/cost-model.js";
import type { TokenSequence } from "../core/model.js";
import { costCurveCacheFile } from "./cache-dir.js";

/**
 * What calibrating needs of a model (LlamaCppModel is one): sequences to time passes on, and the
 * settings its curve depends on, which key the cache.
 */
export interface CalibrationTarget {
  /** The GGUF file (its size and modification time key the cache too). */
  readonly path: string;
  readonly threads: number;
  readonly contextSize: number;
  readonly batchSize: number;
  readonly gpu: string | false;
  readonly kvCacheType: string;
  createSequence(): Promise<TokenSequence>;
}

export const CALIBRATION_POINTS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];

/**
 * Two halves of a calibration's rounds whose curves differ in shape by more than this factor at some
 * width mean the estimate is not reproducible (the machine was too busy for this many rounds): the
 * calibration measures more rounds, and if it stays unsteady its curve serves this process (the online
 * cost model corrects it) but is not cached. (It once compared the repeats' own spread instead; on this
 * shared machine one-token passes of 0.7 to 42 ms in a row made every calibration "noisy", though
 * the fastest-pass estimate of its shape was reproducible.)
 */
const UNSTEADY = 1.5;

export interface MeasuredCurve {
  readonly points: CostPoint[];
  /** The largest factor between the two halves' curves' shapes (see disagreementOf); 1 is perfect agreement. */
  readonly disagreement: number;
  /** Attempts measured (an unsteady attempt is followed by another, up to `attempts`; the curve pools them all). */
  readonly attempts: number;
}

/**
 * Times passes of T tokens after a realistic prefix. Widths are interleaved (every round times each
 * width once, in an order that changes per round), and every wide pass is paired with a one-token pass
 * timed right before it, so a stretch of load lands on both passes of a pair instead of bending the
 * curve's shape.
 *
 * No width is priced at its median: on a shared machine noise only ever adds time, and it adds more
 * to a wide pass than to a one-token one (a 3 ms pass often runs inside one time slice, a 40 ms one is
 * preempted almost surely). Per-width medians taken beside two `yes` processes priced T=2..24 at 12x
 * T=1 on the tiny shape (truly ~1.2-3x), and the policy, believing it, drafted nothing on a cache hit.
 * Of the errors left, a curve too flat is the cheap one: the policy drafts, times those passes and
 * corrects it within a few passes; a curve too steep stops drafting, and only exploration (budgeted)
 * finds it out. So a width's ratio to a one-token pass is the lower of two estimates, each robust to
 * one kind of noise: the fastest wide pass over the fastest of the one-token passes paired with it
 * (preemption: what passes cost when they run, which is what a pass's share of the machine scales),
 * and the median of the per-pair ratios (a load that comes and goes over seconds).
 */
export async function measureCostCurve(
  model: CalibrationTarget,
  options: { points?: readonly number[]; repeats?: number; prefixTokens?: number; attempts?: number; budgetMs?: number } = {},
): Promise<MeasuredCurve> {
  const points = (options.points ?? CALIBRATION_POINTS).filter((t) => t <= model.batchSize && t < model.contextSize / 2);
  // 5 rounds an attempt: a noisy attempt's rounds are pooled with the next one's, so a busy machine
  // gets 10-15 (on simulated preemption, 7 rounds alone left one seed in ten a width ~5x too steep).
  const repeats = options.repeats ?? 5;
  const attempts = options.attempts ?? 3;
  // No attempt starts past this: a busy machine's calibration only serves as this process's prior,
  // which its passes correct, and a user waits for it (3 attempts took 30-50 s on the tiny shape
  // beside two `yes` processes).
  const budgetMs = options.budgetMs ?? 20_000;
  const started = performance.now();
  const sequence = await model.createSequence();
  try {
    // Ordinary text tokens (ids past the control and byte tokens), deterministic.
    const token = (i: number) => 300 + ((i * 7919) % 20_000);
    // Attention cost grows with the cache: time passes behind a prompt of typical RAG length.
    const prefix = Array.from({ length: Math.min(options.prefixTokens ?? 1024, Math.floor(model.contextSize / 4)) }, (_, i) => token(i));
    await sequence.evaluate(prefix, prefix.length - 1);
    const timed = async (tokens: number, offset: number): Promise<number> => {
      const batch = Array.from({ length: tokens }, (_, k) => token(prefix.length + k + offset));
      const t0 = performance.now();
      await sequence.evaluate(batch);
      const ms = performance.now() - t0;
      await sequence.truncate(prefix.length);
      return ms;
    };
    // Warm-up: one untimed pass of every width. The first passes after a load run on a freshly mapped
    // file (page faults) and cold kernels: on the 1.1B shape a timed first round measured a one-token
    // pass at 4x what it costs in decoding (237 vs 59 ms), which made the prior's curve far too flat.
    for (const tokens of points) await timed(tokens, 0);
    // The rounds of an unsteady attempt are kept: more rounds make the fastest of each width likelier
    // to be a pass that ran unpreempted.
    const samples: PairedSamples = { ones: [], wide: points.map(() => []), pairedOnes: points.map(() => []) };
    let disagreement = Infinity;
    let attempt = 0;
    while (attempt < attempts && disagreement > UNSTEADY && (attempt === 0 || performance.now() - started < budgetMs)) {
      attempt++;
      for (let r = 0; r < repeats; r++) {
        for (let j = 0; j < points.length; j++) {
          const i = (j * 5 + r * 3) % points.length; // another order every round
          const one = await timed(1, r + 1);
          samples.ones.push(one);
          if (points[i] === 1) continue;
          samples.wide[i].push(await timed(points[i], r));
          samples.pairedOnes[i].push(one);
        }
      }
      disagreement = disagreementOf(points, samples);
    }
    return { points: curveFromSamples(points, samples), disagreement, attempts: attempt };
  } finally {
    sequence.dispose();
  }
}

/** Calibration timings: every one-token pass; per width, its passes and the one-token pass timed right before each. */
export interface PairedSamples {
  readonly ones: number[];
  readonly wide: number[][];
  readonly pairedOnes: number[][];
}

/** The quantile of the one-token passes that sets the curve's level (the online model corrects the level within a few passes). */
const LEVEL_QUANTILE = 0.25;

/** The curve a calibration's timings imply (see measureCostCurve). */
export function curveFromSamples(points: readonly number[], samples: PairedSamples): CostPoint[] {
  const one = quantile(samples.ones, LEVEL_QUANTILE);
  const curve: CostPoint[] = [];
  points.forEach((tokens, i) => {
    if (tokens === 1) return void curve.push({ tokens, ms: one });
    const wide = samples.wide[i];
    if (wide.length === 0) return;
    // The fastest of each (as many passes on both sides: the same bias), and the median pair.
    const fastest = Math.min(...wide) / Math.min(...samples.pairedOnes[i]);
    const pair = quantile(wide.map((ms, k) => ms / samples.pairedOnes[i][k]), 0.5);
    curve.push({ tokens, ms: one * Math.max(1, Math.min(fastest, pair)) });
  });
  // A longer pass never costs less. What noise is left only ever raised a point, so the curve is the
  // lower envelope: a point above a wider one comes down to it (raising the wider one instead would
  // spread one preempted width's error to every width past it).
  for (let i = curve.length - 2; i >= 1; i--) if (curve[i].ms > curve[i + 1].ms) curve[i] = { tokens: curve[i].tokens, ms: curve[i + 1].ms };
  return curve;
}

/**
 * How reproducible a calibration's shape is: the curves of its even and its odd rounds (interleaved,
 * so a stretch of load lands on both), compared as ratios to their one-token cost; the largest factor
 * between them at any width.
 */
export function disagreementOf(points: readonly number[], samples: PairedSamples): number {
  const half = (parity: number): CostPoint[] =>
    curveFromSamples(points, {
      ones: samples.ones,
      wide: samples.wide.map((w) => w.filter((_, k) => k % 2 === parity)),
      pairedOnes: samples.pairedOnes.map((w) => w.filter((_, k) => k % 2 === parity)),
    });
  const [even, odd] = [half(0), half(1)];
  let worst = 1;
  for (const p of even) {
    const q = odd.find((o) => o.tokens === p.tokens);
    if (q) worst = Math.max(worst, p.ms / q.ms, q.ms / p.ms); // both halves share the one-token level
  }
  return worst;
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/** Whether a measured curve is steady enough to be cached as the prior for later processes. */
export function steadyEnough(curve: MeasuredCurve): boolean {
  return curve.disagreement <= UNSTEADY;
}

/** How curves are measured now (see measureCostCurve); part of the cache key. */
const CURVE_METHOD = "paired-low-quantile";

interface CacheFile {
  [key: string]: { measuredAt: string; points: CostPoint[]; disagreement?: number };
}

/** The cached curve for this model and settings, measuring it on first use. */
export async function costCurveFor(
  model: CalibrationTarget,
  options: { cacheFile?: string; refresh?: boolean; onMeasure?: () => void } = {},
): Promise<CostPoint[]> {
  const file = options.cacheFile ?? costCurveCacheFile();
  const info = await stat(model.path);
  // CURVE_METHOD keys the cache too: a curve measured the older way (per-width medians) is measured again.
  const key = JSON.stringify([CURVE_METHOD, resolve(model.path), info.size, Math.round(info.mtimeMs), model.threads, model.contextSize, model.batchSize, model.gpu, model.kvCacheType]);
  let cache: CacheFile = {};
  try {
    cache = JSON.parse(await readFile(file, "utf8")) as CacheFile;
  } catch {
    // missing or unreadable: measure afresh
  }
  const hit = cache[key];
  if (hit && !options.refresh && Array.isArray(hit.points) && hit.points.some((p) => p.tokens === 1)) return hit.points;
  options.onMeasure?.();
  const measured = await measureCostCurve(model);
  // A noisy calibration serves this process as a prior (corrected online) but is never cached: the
  // next process measures again rather than inherit a curve of the wrong shape.
  if (!steadyEnough(measured)) return measured.points;
  const points = measured.points;
  cache[key] = { measuredAt: new Date().toISOString(), points, disagreement: Number(measured.disagreement.toFixed(3)) } as CacheFile[string];
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(cache, null, 1)}\n`);
  await rename(tmp, file);
  return points;
}
