import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A real PostgreSQL server for the shared-store tests (LLMA_TEST_PG_URL); stopped after the run.
    globalSetup: ["test/helpers/postgres-global-setup.ts"],
    // Model-backed tests share 2 CPU cores: run files one after another, never in parallel.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
