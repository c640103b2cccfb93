/**
 * A store file that cannot be used gives a StoreError naming the file and the problem, and the file is
 * left as it was: random bytes, a corrupt SQLite file, another program's SQLite database, a directory,
 * a missing file for commands that only read, and a file another connection holds an exclusive lock on
 * (which works again, with nothing lost, once the lock is gone).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreError } from "../../src/store/db.js";
import { LlmaStore } from "../../src/store/store.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llma-store-errors-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function storeError(fn: () => unknown): Promise<StoreError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    return error as StoreError;
  }
  throw new Error("expected a StoreError, nothing was thrown");
}

async function filled(path: string): Promise<void> {
  const store = LlmaStore.open(path);
  await store.documents.add(Array.from({ length: 200 }, (_, i) => ({ text: `Document ${i} is about topic${i}. ${"Filler words here. ".repeat(20)}`, source: `doc${i}` })));
  await store.answers.put({ query: "what is topic1", answer: "Topic one.", model: "m" });
  await store.close(); // checkpoints the WAL into the main file
}

describe("store errors", () => {
  it("random bytes: not a SQLite database; the file is untouched and no -wal/-shm appear", async () => {
    const path = join(dir, "random.db");
    const bytes = randomBytes(8192);
    writeFileSync(path, bytes);
    for (const create of [true, false]) {
      const error = await storeError(async () => LlmaStore.open(path, { create }));
      expect(error.problem).toBe("not-a-database");
      expect(error.message).toBe(`store ${path} is not a SQLite database (it does not start with the SQLite header); the file was left untouched`);
    }
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(existsSync(`${path}-wal`) || existsSync(`${path}-shm`)).toBe(false);
  });

  it("a SQLite file with corrupt pages: corrupt, named; its bytes are unchanged", async () => {
    const path = join(dir, "corrupt.db");
    await filled(path);
    const original = readFileSync(path);
    const damaged = Buffer.concat([original.subarray(0, 4096), randomBytes(original.length - 4096)]);
    writeFileSync(path, damaged);
    const error = await storeError(async () => {
      const store = LlmaStore.open(path, { create: false });
      try {
        await store.documents.search("topic1");
        await store.answers.stats();
      } finally {
        await store.close();
      }
    });
    expect(["corrupt", "not-a-database"]).toContain(error.problem);
    expect(error.message).toContain(`store ${path} `);
    expect(error.message).toMatch(/corrupt|not a database/);
    expect(readFileSync(path).equals(damaged)).toBe(true);
  });

  it("another program's SQLite database is refused, not modified", async () => {
    const path = join(dir, "other.db");
    const other = new Database(path);
    other.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('x');");
    other.close();
    const before = readFileSync(path);
    const error = await storeError(async () => LlmaStore.open(path));
    expect(error.problem).toBe("not-a-store");
    expect(error.message).toBe(`store ${path} is a SQLite database but not an llma store (it holds other tables); the file was left untouched`);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it("a directory, a missing file (read-only use), a missing parent directory", async () => {
    const folder = join(dir, "folder");
    mkdirSync(folder);
    expect(await storeError(async () => LlmaStore.open(folder))).toMatchObject({
      problem: "directory",
      message: `store path ${folder} is a directory, not a database file (give a file name, e.g. ${folder}/llma.db)`,
    });
    const missing = join(dir, "missing.db");
    expect(await storeError(async () => LlmaStore.open(missing, { create: false }))).toMatchObject({
      problem: "not-found",
      message: `store file not found: ${missing} (create it with: llma index --store ${missing} FILE...)`,
    });
    expect(existsSync(missing)).toBe(false);
    const orphan = join(dir, "no", "such", "dir", "x.db");
    expect((await storeError(async () => LlmaStore.open(orphan))).message).toBe(`cannot create store ${orphan}: directory ${join(dir, "no", "such", "dir")} does not exist`);
    const empty = join(dir, "empty.db");
    writeFileSync(empty, "");
    expect((await storeError(async () => LlmaStore.open(empty, { create: false }))).problem).toBe("not-a-store");
    expect(statSync(empty).size).toBe(0);
  });

  it("an exclusive lock held by another connection: locked, named; after it is released everything is there", async () => {
    const path = join(dir, "locked.db");
    await filled(path);
    const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const holder = new Database(path);
    holder.pragma("locking_mode = EXCLUSIVE");
    holder.exec("BEGIN EXCLUSIVE");
    holder.prepare("INSERT INTO answers (tenant, model, query, norm_query, answer, created_at, used_at) VALUES ('t', 'm', 'held', 'held', 'a', 0, 0)").run();
    try {
      for (const create of [true, false]) {
        const error = await storeError(async () => LlmaStore.open(path, { create, busyTimeoutMs: 50 }));
        expect(error.problem).toBe("locked");
        expect(error.message).toMatch(new RegExp(`^store ${escaped} is locked by another connection \\(database is locked\\)`));
      }
    } finally {
      holder.exec("COMMIT");
      holder.close();
    }

    // A writer holding the write lock of an open store: writes fail, named; reads go on (WAL).
    const store = LlmaStore.open(path, { busyTimeoutMs: 50 });
    const writer = new Database(path);
    writer.exec("BEGIN IMMEDIATE");
    try {
      const write = await storeError(async () => await store.answers.put({ query: "what is topic2", answer: "Topic two.", model: "m" }));
      expect(write.problem).toBe("locked");
      expect(write.message).toMatch(new RegExp(`^store ${escaped} is locked by another connection`));
      expect((await store.documents.search("topic7", { top: 1 }))[0].source).toBe("doc7");
    } finally {
      writer.exec("COMMIT");
      writer.close();
    }
    // Released: the connection writes again, and nothing committed was lost.
    await store.answers.put({ query: "what is topic2", answer: "Topic two.", model: "m" });
    expect((await store.documents.stats()).documents).toBe(200);
    expect((await store.answers.stats()).entries).toBe(3);
    expect(store.db.pragma("integrity_check", { simple: true })).toBe("ok");
    await store.close();
  });
});
