/**
 * Measures the backend's cost curve: how long one forward pass over T tokens takes, for T = 1..64.
 * The cost-aware policy needs it to know whether a draft is worth verifying on this machine. Measured
 * once per (model file, threads, context, batch) and cached as JSON next to the models.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { CostPoint } from "../core/cost-model.js";
import type { LlamaCppModel } from "./llama-cpp.js";
import { defaultModelDir } from "./model-cache.js";

export const CALIBRATION_POINTS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];

/** Times passes of T tokens after a realistic prefix; each repeated, the fastest kept. */
export async function measureCostCurve(
  model: LlamaCppModel,
  options: { points?: readonly number[]; repeats?: number; prefixTokens?: number } = {},
): Promise<CostPoint[]> {
  const points = (options.points ?? CALIBRATION_POINTS).filter((t) => t <= model.batchSize && t < model.contextSize / 2);
  const repeats = options.repeats ?? 5;
  const sequence = await model.createSequence();
  try {
    // Ordinary text tokens (ids past the control and byte tokens), deterministic.
    const token = (i: number) => 300 + ((i * 7919) % 20_000);
    // Attention cost grows with the cache: time passes behind a prompt of typical RAG length.
    const prefix = Array.from({ length: Math.min(options.prefixTokens ?? 1024, Math.floor(model.contextSize / 4)) }, (_, i) => token(i));
    await sequence.evaluate(prefix, prefix.length - 1);
    await sequence.evaluate([token(1)]); // warm-up of the single-token path
    await sequence.truncate(prefix.length);
    const curve: CostPoint[] = [];
    for (const tokens of points) {
      const times: number[] = [];
      for (let r = 0; r < repeats; r++) {
        const batch = Array.from({ length: tokens }, (_, i) => token(prefix.length + i + r));
        const t0 = performance.now();
        await sequence.evaluate(batch);
        times.push(performance.now() - t0);
        await sequence.truncate(prefix.length);
      }
      // Noise only ever adds time: the fastest repeat is the best estimate of what the pass costs.
      curve.push({ tokens, ms: Math.min(...times) });
    }
    // A longer pass never costs less: smooth out what noise is left.
    for (let i = 1; i < curve.length; i++) if (curve[i].ms < curve[i - 1].ms) curve[i] = { tokens: curve[i].tokens, ms: curve[i - 1].ms };
    return curve;
  } finally {
    sequence.dispose();
  }
}

interface CacheFile {
  [key: string]: { measuredAt: string; points: CostPoint[] };
}

/** The cached curve for this model and settings, measuring it on first use. */
export async function costCurveFor(
  model: LlamaCppModel,
  options: { cacheFile?: string; refresh?: boolean; onMeasure?: () => void } = {},
): Promise<CostPoint[]> {
  const file = options.cacheFile ?? join(defaultModelDir(), "cost-curves.json");
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
  const points = await measureCostCurve(model);
  cache[key] = { measuredAt: new Date().toISOString(), points };
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(cache, null, 1)}\n`);
  await rename(tmp, file);
  return points;
}
