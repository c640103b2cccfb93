/**
 * `llma index`, `llma rag` and `llma cache` end to end on the tiny model: one JSON document on stdout
 * with answer, sources and stats; the second ask copies from the cached answer; named errors for bad
 * store files (nothing printed on stdout, the file unchanged).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { AnswerCache } from "../../src/store/answers.js";
import { ensureBuilt, llma } from "../helpers/cli.js";

let model: string;
let dir: string;
let db: string;
const QUERY = "where does real insulin come from";
const rag = (...extra: string[]) =>
  llma("rag", "--store", db, "--model", model, "--query", QUERY, "--top", "3", "--max-tokens", "32", "--n", "1", "--k", "20", "--threads", "1", "--json", ...extra);

beforeAll(async () => {
  ensureBuilt();
  model = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  dir = mkdtempSync(join(tmpdir(), "llma-store-cli-"));
  db = join(dir, "rag.db");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("llma index / rag / cache", () => {
  it("index, then rag --json: one JSON document with answer, sources and stats; the second ask uses the cache", () => {
    const index = llma("index", "--store", db, "bench/data/llma-rag.jsonl", "--json");
    expect(index.code, index.stderr).toBe(0);
    expect(JSON.parse(index.stdout)).toMatchObject({ files: 1, documents: 1000, added: 1000, passages: 1000, total: { documents: 1000, passages: 1000 } });

    const first = rag("--compare-greedy");
    expect(first.code, first.stderr).toBe(0);
    const answer = JSON.parse(first.stdout); // throws unless stdout is exactly one JSON document
    expect(answer.query).toBe(QUERY);
    expect(typeof answer.answer).toBe("string");
    expect(answer.answer.length).toBeGreaterThan(0);
    expect(answer.sources).toHaveLength(3);
    expect(answer.sources[0]).toMatchObject({ rank: 1, source: "bench/data/llma-rag.jsonl#0", row: 0 });
    expect(answer.sources[0].score).toBeGreaterThan(0);
    expect(answer.stats).toMatchObject({ generatedTokens: 32 });
    expect(answer.identical).toBe(true);
    expect(answer.cache).toMatchObject({ enabled: true, tenant: "default", references: [] });
    expect(answer.cache.storedAs).toBeGreaterThan(0);

    const again = rag();
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout);
    expect(second.answer).toBe(answer.answer);
    expect(second.cache.references).toMatchObject([{ id: answer.cache.storedAs, query: QUERY, exact: true }]);
    expect(second.stats.acceptedTokens).toBeGreaterThan(answer.stats.acceptedTokens);
    expect(second.stats.steps).toBeLessThan(answer.stats.steps);

    const stats = llma("cache", "stats", "--store", db, "--json");
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ entries: 1, tenants: [{ tenant: "default", entries: 1, hits: 1 }] });
  });

  it("plain text output: the answer, then the sources; --no-cache neither reads nor writes the cache", async () => {
    const run = llma("rag", "--store", db, "--model", model, "--query", "where is whiteville tennessee", "--top", "2", "--max-tokens", "8", "--n", "1", "--k", "4", "--threads", "1", "--no-cache");
    expect(run.code, run.stderr).toBe(0);
    const cache = AnswerCache.open(db, { create: false });
    expect((await cache.stats()).entries).toBe(1);
    cache.close();
    expect(run.stdout).toMatch(/\n\nsources:\n {2}\[1\] bench\/data\/llma-rag\.jsonl#6 {2}score \d+\.\d\d\n {2}\[2\] /);
  });

  it("bad store files: named errors, nothing on stdout, the file unchanged", () => {
    const random = join(dir, "random.db");
    const bytes = randomBytes(4096);
    writeFileSync(random, bytes);
    const folder = join(dir, "folder");
    mkdirSync(folder);
    const missing = join(dir, "missing.db");
    // (test/store/errors.test.ts checks every problem through the library; here, that the CLI reports them.)
    const cases: [string[], string][] = [
      [["rag", "--store", missing, "--model", model, "--query", "q"], `store file not found: ${missing}`],
      [["index", "--store", folder, "bench/data/llma-rag.jsonl"], `store path ${folder} is a directory, not a database file`],
      [["cache", "stats", "--store", random], `store ${random} is not a SQLite database`],
    ];
    for (const [args, message] of cases) {
      const run = llma(...args);
      expect(run.code, args.join(" ")).toBe(1);
      expect(run.stderr).toContain(`llma: error: ${message}`);
      expect(run.stdout).toBe("");
    }
    expect(readFileSync(random).equals(bytes)).toBe(true);
  });

  it("a store another process holds an exclusive lock on: locked, named", () => {
    const holder = new Database(db);
    holder.pragma("locking_mode = EXCLUSIVE");
    holder.exec("BEGIN EXCLUSIVE");
    holder.prepare("DELETE FROM answers").run();
    try {
      const run = llma("cache", "stats", "--store", db);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`llma: error: store ${db} is locked by another connection (database is locked)`);
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
    }
    // Released: nothing was lost, and the cache clears.
    const cleared = llma("cache", "clear", "--store", db, "--tenant", "default");
    expect(cleared.stdout).toBe(`removed 1 cached answer(s) of tenant default from ${db}\n`);
  });

  it("rag explains itself with an example", () => {
    const run = llma("rag", "--help");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Example:\n {2}llma index --store rag.db/);
  });
});
