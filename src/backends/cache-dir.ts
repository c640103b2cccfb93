/**
 * Where llma keeps what it writes on its own: test models, measured cost curves and exactness verdicts.
 * The user's cache directory (env-paths: ~/.cache/llma on Linux, ~/Library/Caches/llma on macOS,
 * %LOCALAPPDATA%\llma\Cache on Windows), never the current directory: llma may be a dependency of
 * someone else's app, whose working directory is not llma's to fill.
 */
import { join, resolve } from "node:path";
import envPaths from "env-paths";

/** `$LLMA_CACHE_DIR` when set (resolved against the working directory), else the user's cache directory for "llma". */
export function llmaCacheDir(): string {
  const fromEnv = process.env.LLMA_CACHE_DIR;
  if (fromEnv !== undefined && fromEnv.trim() !== "") return resolve(fromEnv);
  return envPaths("llma", { suffix: "" }).cache;
}

/** Where the test models are written: `$LLMA_MODEL_DIR` when set (resolved against the working directory), else `<cache dir>/models`. */
export function defaultModelDir(): string {
  const fromEnv = process.env.LLMA_MODEL_DIR;
  if (fromEnv !== undefined && fromEnv.trim() !== "") return resolve(fromEnv);
  return join(llmaCacheDir(), "models");
}

/** The cost-curve cache (backends/calibrate.ts). */
export function costCurveCacheFile(): string {
  return join(llmaCacheDir(), "cost-curves.json");
}

/** The exactness-verdict cache (backends/exactness.ts). */
export function exactnessCacheFile(): string {
  return join(llmaCacheDir(), "exactness.json");
}
