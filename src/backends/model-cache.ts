/**
 * On-disk cache of the random-weight GGUF models written by ./gguf-writer.ts: each (shape, quant, seed,
 * writer version) is generated once and reused afterwards.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { defaultModelDir } from "./cache-dir.js";
import {
  DEFAULT_SEED,
  GGUF_WRITER_VERSION,
  planGgufModel,
  resolveQuant,
  resolveShape,
  writeGgufModel,
} from "./gguf-writer.js";
import type { Quant } from "./gguf-writer.js";

export interface EnsureModelOptions {
  /** A name from `SHAPES`. */
  shape: string;
  quant: Quant;
  seed?: number;
  /** Cache directory; defaults to `$LLMA_MODEL_DIR`, else `<cache dir>/models` (see ./cache-dir.ts). */
  dir?: string;
  /** Write progress in [0, 1]; only called when the file has to be generated. */
  onProgress?: (fraction: number) => void;
}

/** File name of a cached model; it encodes everything that determines the file's bytes. */
export function modelFileName(shape: string, quant: Quant, seed: number = DEFAULT_SEED): string {
  return `${shape}-${quant}-seed${seed}-v${GGUF_WRITER_VERSION}.gguf`;
}

interface InFlight {
  promise: Promise<string>;
  listeners: Set<(fraction: number) => void>;
}

const inFlight = new Map<string, InFlight>();

/**
 * Returns the path of the cached model file for (shape, quant, seed), writing it first if it is
 * missing or has the wrong size. Concurrent calls for the same file share one write.
 */
export async function ensureModel(opts: EnsureModelOptions): Promise<string> {
  resolveShape(opts.shape);
  const quant = resolveQuant(opts.quant);
  const seed = opts.seed ?? DEFAULT_SEED;
  const path = resolve(opts.dir ?? defaultModelDir(), modelFileName(opts.shape, quant, seed));

  let entry = inFlight.get(path);
  if (!entry) {
    const listeners = new Set<(fraction: number) => void>();
    const promise = (async () => {
      const expected = planGgufModel(opts.shape, quant, seed).totalBytes;
      const st = await stat(path).catch(() => undefined);
      if (st?.isFile() && st.size === expected) return path;
      await writeGgufModel({
        shape: opts.shape,
        quant,
        seed,
        out: path,
        onProgress: (f) => {
          for (const l of listeners) l(f);
        },
      });
      return path;
    })();
    entry = { promise, listeners };
    inFlight.set(path, entry);
    // Keep successful results memoized; forget failures so a later call can retry.
    promise.catch(() => {
      if (inFlight.get(path) === entry) inFlight.delete(path);
    });
  }
  const onProgress = opts.onProgress;
  if (onProgress) entry.listeners.add(onProgress);
  try {
    return await entry.promise;
  } finally {
    if (onProgress) entry.listeners.delete(onProgress);
  }
}
