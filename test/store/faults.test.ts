/**
 * Faults while the server runs with an answer cache: the cache file's write lock held by another
 * connection, then the file removed. The server keeps answering, with the same text (the cache only speeds greedy requests up).
 */
import Database from "better-sqlite3";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { buildApp, type LlmaServer } from "../../src/server/app.js";
import { AnswerCache } from "../../src/store/answers.js";

let dir: string;
let path: string;
let model: LlamaCppModel;
let server: LlmaServer;
let cache: AnswerCache;

async function ask(query: string): Promise<{ status: number; text: string; cached?: number }> {
  const response = await server.app.inject({ method: "POST", url: "/v1/completions", payload: { model: "tiny", prompt: query, max_tokens: 24 } });
  const json = response.json() as { choices: { text: string }[]; llma?: { cached_references?: number } };
  return { status: response.statusCode, text: json.choices?.[0]?.text ?? "", cached: json.llma?.cached_references };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "llma-faults-"));
  path = join(dir, "cache.db");
  cache = AnswerCache.open(path, { busyTimeoutMs: 250 }); // the server's busy timeout (SERVER_BUSY_TIMEOUT_MS)
  model = await LlamaCppModel.load({ model: await ensureModel({ shape: "tiny", quant: "Q8_0" }), threads: 1 });
  server = buildApp({ model, modelName: "tiny", policy: "paper", answerCache: cache });
});
afterAll(async () => {
  await server?.close(1000);
  await model?.dispose();
  cache?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("answer cache faults while serving", () => {
  it("a locked cache file: requests still succeed with the same text, without the cache; afterwards the cache works again", async () => {
    const first = await ask("where does real insulin come from");
    expect(first.status).toBe(200);
    // Another connection holds the write lock (WAL: readers go on, the server's cache writes time out
    // after its 250 ms busy timeout and are skipped with a warning).
    const holder = new Database(path);
    holder.exec("BEGIN IMMEDIATE");
    holder.prepare("DELETE FROM answers WHERE 0").run();
    try {
      const locked = await ask("where does real insulin come from");
      expect(locked.status).toBe(200);
      expect(locked.text).toBe(first.text);
      const t0 = performance.now();
      const other = await ask("what is the capital of france");
      expect(other.status).toBe(200);
      expect(performance.now() - t0).toBeLessThan(10_000); // one busy timeout, not a hang
    } finally {
      holder.exec("COMMIT");
      holder.close();
    }
    const again = await ask("where does real insulin come from");
    expect(again.status).toBe(200);
    expect(again.text).toBe(first.text);
    expect(again.cached).toBeGreaterThan(0);
    // The answer the lock kept out was not cached; asked again now, it is.
    expect((await ask("what is the capital of france")).status).toBe(200);
    expect((await ask("what is the capital of france")).cached).toBeGreaterThan(0);
  });

  it("the cache file removed: the server keeps serving, with the same text", async () => {
    const before = await ask("how tall is the eiffel tower");
    for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
    expect(existsSync(path)).toBe(false);
    for (let i = 0; i < 3; i++) {
      const after = await ask("how tall is the eiffel tower");
      expect(after.status).toBe(200);
      expect(after.text).toBe(before.text);
    }
    expect((await ask("a question never asked")).status).toBe(200);
  });
});
