/** Where llma writes its caches: the user's cache directory, LLMA_CACHE_DIR, LLMA_MODEL_DIR. */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { costCurveCacheFile, defaultModelDir, exactnessCacheFile, llmaCacheDir } from "../../src/backends/cache-dir.js";

const saved = { cache: process.env.LLMA_CACHE_DIR, models: process.env.LLMA_MODEL_DIR, xdg: process.env.XDG_CACHE_HOME };
function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
afterEach(() => {
  restore("LLMA_CACHE_DIR", saved.cache);
  restore("LLMA_MODEL_DIR", saved.models);
  restore("XDG_CACHE_HOME", saved.xdg);
});

describe("cache directory", () => {
  it("test runs point LLMA_CACHE_DIR at the checkout's .cache/llma (vitest.config.ts)", () => {
    expect(saved.cache).toBe(resolve(".cache", "llma"));
    expect(defaultModelDir()).toBe(resolve(".cache", "llma", "models"));
  });

  it("defaults to the user's cache directory, not the working directory", () => {
    delete process.env.LLMA_CACHE_DIR;
    delete process.env.LLMA_MODEL_DIR;
    const dir = llmaCacheDir();
    expect(dir.startsWith(process.cwd())).toBe(false);
    if (process.platform === "linux") {
      delete process.env.XDG_CACHE_HOME;
      expect(llmaCacheDir()).toBe(join(homedir(), ".cache", "llma"));
      process.env.XDG_CACHE_HOME = "/var/cache-of-someone";
      expect(llmaCacheDir()).toBe("/var/cache-of-someone/llma");
    }
    expect(defaultModelDir()).toBe(join(llmaCacheDir(), "models"));
    expect(costCurveCacheFile()).toBe(join(llmaCacheDir(), "cost-curves.json"));
    expect(exactnessCacheFile()).toBe(join(llmaCacheDir(), "exactness.json"));
  });

  it("LLMA_CACHE_DIR moves every cache; LLMA_MODEL_DIR moves the models only", () => {
    process.env.LLMA_CACHE_DIR = "rel/cache";
    delete process.env.LLMA_MODEL_DIR;
    expect(llmaCacheDir()).toBe(resolve("rel/cache"));
    expect(defaultModelDir()).toBe(resolve("rel/cache/models"));
    expect(costCurveCacheFile()).toBe(resolve("rel/cache/cost-curves.json"));
    process.env.LLMA_MODEL_DIR = "/models/here";
    expect(defaultModelDir()).toBe("/models/here");
    expect(exactnessCacheFile()).toBe(resolve("rel/cache/exactness.json"));
    // An empty value is unset, not the working directory.
    process.env.LLMA_CACHE_DIR = "";
    process.env.LLMA_MODEL_DIR = "";
    expect(llmaCacheDir().startsWith(process.cwd())).toBe(false);
  });
});
