/**
 * Collects the native memory that node-llama-cpp leaves to the garbage collector. Its controlledEvaluate
 * (3.21) creates a native sampler per call whose vocabulary-sized candidate buffer (384 KB for 32k
 * tokens) is freed only when the collector finalizes the sampler's JS wrapper, not on dispose(). V8
 * does not see that memory and, with a small JS heap, rarely collects: a server with 4 busy slots grew
 * by ~3 MB per request (5.4 GB after 60 s of 16 clients). So after every ~64 MB of such buffers this
 * runs a major collection itself (a minor one leaves these wrappers alive, measured; a major one takes
 * ~5 ms on this heap, well under 1% of the passes that produced the garbage).
 *
 * V8's gc() is reached without changing the host process: only when the first collection is due,
 * --expose-gc is switched on just long enough to create one fresh vm context (which then holds a gc
 * function) and switched off again, so neither the host's global scope nor any later context gets a
 * `gc`. `collectNativeGarbage: false` (LlamaCppOptions) turns this off entirely.
 */
import v8 from "node:v8";
import vm from "node:vm";

export const NATIVE_GARBAGE_LIMIT = 64 * 2 ** 20;

/** V8's gc() from a context created with --expose-gc on for that moment only; undefined where the runtime refuses. */
function scopedGcFunction(): (() => void) | undefined {
  try {
    v8.setFlagsFromString("--expose-gc");
    try {
      return vm.runInNewContext("gc") as () => void;
    } finally {
      v8.setFlagsFromString("--no-expose-gc");
    }
  } catch {
    return undefined; // a runtime without it keeps node-llama-cpp's behaviour
  }
}

/** One model's count of uncollected native bytes (each model counts its own, no process-wide state). */
export class NativeGarbageCollector {
  private pending = 0;
  private gc?: (() => void) | null;
  /** Major collections run so far. */
  collections = 0;

  constructor(
    readonly enabled: boolean,
    readonly limit: number = NATIVE_GARBAGE_LIMIT,
  ) {}

  /** Counts `bytes` more native garbage; collects once `limit` bytes have piled up. */
  report(bytes: number): void {
    if (!this.enabled) return;
    this.pending += bytes;
    if (this.pending < this.limit) return;
    this.pending = 0;
    if (this.gc === undefined) this.gc = scopedGcFunction() ?? null;
    if (this.gc) {
      this.gc();
      this.collections++;
    }
  }
}
