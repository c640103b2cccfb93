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
 * Repeats whose spread (upper over lower quartile) exceeds this mean the machine was
 * busy while measuring: such a curve is measured again, and if it stays noisy it is used for this
 * process (the online cost model corrects it) but not cached.
 */
const NOISY_SPREAD = 1.6;

export interface MeasuredCurve {
  readonly points: CostPoint[];
  /** Largest spread of the repeats at any width (upper quartile / lower quartile). */
  readonly spread: number;
  /** Rounds measured (a noisy round is repeated up to `attempts` times). */
  readonly attempts: number;
}

/**
 * Times passes of T tokens after a realistic prefix. Widths are interleaved (every round times each
 * width once, in an order that changes per round), so a burst of load on a shared machine lands on
 * several widths alike instead of bending the curve's shape; each width keeps the median of its repeats.
 */
export async function measureCostCurve(
  model: CalibrationTarget,
  options: { points?: readonly number[]; repeats?: number; prefixTokens?: number; attempts?: number } = {},
): Promise<MeasuredCurve> {
  const points = (options.points ?? CALIBRATION_POINTS).filter((t) => t <= model.batchSize && t < model.contextSize / 2);
  const repeats = options.repeats ?? 7;
  const attempts = options.attempts ?? 3;
  const sequence = await model.createSequence();
  try {
    // Ordinary text tokens (ids past the control and byte tokens), deterministic.
    const token = (i: number) => 300 + ((i * 7919) % 20_000);
    // Attention cost grows with the cache: time passes behind a prompt of typical RAG length.
    const prefix = Array.from({ length: Math.min(options.prefixTokens ?? 1024, Math.floor(model.contextSize / 4)) }, (_, i) => token(i));
    await sequence.evaluate(prefix, prefix.length - 1);
    // Warm-up: one untimed pass of every width. The first passes after a load run on a freshly mapped
    // file (page faults) and cold kernels: on the 1.1B shape a timed first round measured a one-token
    // pass at 4x what it costs in decoding (237 vs 59 ms), which made the prior's curve far too flat.
    for (const tokens of points) {
      await sequence.evaluate(Array.from({ length: tokens }, (_, k) => token(prefix.length + k)));
      await sequence.truncate(prefix.length);
    }
    let best: MeasuredCurve | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const times = points.map(() => [] as number[]);
      for (let r = 0; r < repeats; r++) {
        for (let j = 0; j < points.length; j++) {
          const i = (j * 5 + r * 3) % points.length; // another order every round
          const batch = Array.from({ length: points[i] }, (_, k) => token(prefix.length + k + r));
          const t0 = performance.now();
          await sequence.evaluate(batch);
          times[i].push(performance.now() - t0);
          await sequence.truncate(prefix.length);
        }
      }
      const curve = points.map((tokens, i) => ({ tokens, ms: quantile(times[i], 0.5) }));
      // A longer pass never costs less: smooth out what noise is left.
      for (let i = 1; i < curve.length; i++) if (curve[i].ms < curve[i - 1].ms) curve[i] = { tokens: curve[i].tokens, ms: curve[i - 1].ms };
      const spread = Math.max(...times.map((t) => quantile(t, 0.75) / quantile(t, 0.25)));
      if (!best || spread < best.spread) best = { points: curve, spread, attempts: attempt };
      if (spread <= NOISY_SPREAD) break;
    }
    return best!;
  } finally {
    sequence.dispose();
  }
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
  return curve.spread <= NOISY_SPREAD;
}

interface CacheFile {
  [key: string]: { measuredAt: string; points: CostPoint[]; spread?: number };
}

/** The cached curve for this model and settings, measuring it on first use. */
export async function costCurveFor(
  model: CalibrationTarget,
  options: { cacheFile?: string; refresh?: boolean; onMeasure?: () => void } = {},
): Promise<CostPoint[]> {
  const file = options.cacheFile ?? costCurveCacheFile();
  const info = await stat(model.path);
  const key = JSON.stringify([resolve(model.path), info.size, Math.round(info.mtimeMs), model.threads, model.contextSize, model.batchSize, model.gpu, model.kvCacheType]);
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
  cache[key] = { measuredAt: new Date().toISOString(), points, spread: Number(measured.spread.toFixed(3)) } as CacheFile[string];
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(cache, null, 1)}\n`);
  await rename(tmp, file);
  return points;
}
