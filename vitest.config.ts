import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Model-backed tests share 2 CPU cores: run files one after another, never in parallel.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Hermetic runs: test models, cost curves and exactness verdicts go to the checkout's .cache/llma
    // (git-ignored), not the user's cache directory; spawned CLIs inherit it. An LLMA_CACHE_DIR set
    // by the caller wins.
    env: { LLMA_CACHE_DIR: process.env.LLMA_CACHE_DIR ?? fileURLToPath(new URL(".cache/llma", import.meta.url)) },
  },
});
