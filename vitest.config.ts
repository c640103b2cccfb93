import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A real PostgreSQL server for the shared-store tests (LLMA_TEST_PG_URL); stopped after the run.
    globalSetup: ["test/helpers/postgres-global-setup.ts"],
    // Model-backed tests share 2 CPU cores: run files one after another, never in parallel.
    fileParallelism: false,
    // Generous: CI's machine is shared and can be several times slower than a quiet one; a limit is
    // there to end a hung test, never to measure speed.
    testTimeout: 300_000,
    // expect.poll waits for a page or a process to get somewhere: 1 s (vitest's default) is not enough
    // for Chromium or a spawned server on a loaded machine.
    expect: { poll: { timeout: 30_000 } },
    hookTimeout: 300_000,
    // Hermetic runs: test models, cost curves and exactness verdicts go to the checkout's .cache/llma
    // (git-ignored), not the user's cache directory; spawned CLIs inherit it. An LLMA_CACHE_DIR set
    // by the caller wins.
    env: { LLMA_CACHE_DIR: process.env.LLMA_CACHE_DIR ?? fileURLToPath(new URL(".cache/llma", import.meta.url)) },
  },
});
