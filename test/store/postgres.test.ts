/**
 * What only the PostgreSQL store has to get right, on the tests' real server: the database down at
 * start (an error naming the URL, never the password), down mid-run and back (fails fast, then
 * reconnects), slow (a bounded wait), a connection dropped inside an answer's transaction (nothing
 * half-written), replicas migrating at the same moment, exact LRU caps with two replicas writing at
 * once, a newer or missing schema refused.
 */
import pg, { type PoolClient } from "pg";
import { describe, expect, it } from "vitest";
import { StoreError } from "../../src/store/db.js";
import { openStore } from "../../src/store/open.js";
import { PG_SCHEMA_VERSION, PostgresDatabase, redactUrl } from "../../src/store/postgres-db.js";
import { PostgresAnswerCache } from "../../src/store/postgres.js";
import { freshDatabase, startPostgres, stopPostgres } from "../helpers/postgres.js";
import { createServer } from "node:net";

async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    return error as StoreError;
  }
  throw new Error("expected a StoreError, the promise resolved");
}

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** The test's own connections to the database (another replica, an administrator). */
class Admin {
  private readonly pool: InstanceType<typeof pg.Pool>;
  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 2 });
    this.pool.on("error", () => {});
  }
  async query<Row = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query<Row>(text, values)).rows;
  }
  /** Runs `body` inside a transaction on one connection (rolled back at the end). */
  async inTransaction(body: (client: PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await body(client);
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
  }
  end(): Promise<void> {
    return this.pool.end();
  }
}
const admin = (url: string) => new Admin(url);

describe("PostgreSQL store", () => {
  it("the database down at start: a StoreError naming the URL without its password, fast", async () => {
    const port = await closedPort();
    const url = `postgres://llma:s3cret-pw@127.0.0.1:${port}/llma?application_name=x`;
    const started = performance.now();
    const error = await rejection(PostgresAnswerCache.open(url, { busyTimeoutMs: 2000 }));
    expect(performance.now() - started).toBeLessThan(4500); // the 2 s bound plus a loaded machine's lag, never a TCP timeout
    expect(error.problem).toBe("unreachable");
    expect(error.path).toBe(`postgres://llma@127.0.0.1:${port}/llma?application_name=x`);
    expect(error.message).toContain(`PostgreSQL store postgres://llma@127.0.0.1:${port}/llma`);
    expect(error.message).not.toContain("s3cret-pw");
    expect((await rejection(openStore(url, { busyTimeoutMs: 2000 }))).message).not.toContain("s3cret-pw");
    expect(redactUrl("postgresql://u:p@h/db?password=p2&sslmode=disable")).toBe("postgresql://u@h/db?sslmode=disable");
    // A database that does not exist on a server that does: not-found, named.
    const missing = new URL(await freshDatabase());
    missing.pathname = "/no_such_database_here";
    expect(await rejection(PostgresAnswerCache.open(missing.toString()))).toMatchObject({ problem: "not-found" });
  });

  it("a database without llma's tables is refused with create: false; a newer schema is refused", async () => {
    const url = await freshDatabase();
    const error = await rejection(openStore(url, { create: false }));
    expect(error.problem).toBe("not-a-store");
    expect(error.message).toMatch(/holds no llma tables \(create them with: llma index --store postgres:\/\//);
    const store = await openStore(url);
    await store.close();
    const sql = admin(url);
    try {
      await sql.query("UPDATE llma_schema SET version = $1", [PG_SCHEMA_VERSION + 1]);
      expect(await rejection(openStore(url))).toMatchObject({ problem: "newer-schema", message: expect.stringMatching(/newer than this llma's 1: upgrade llma/) });
    } finally {
      await sql.end();
    }
  });

  it("replicas starting at the same moment: every migration succeeds, one schema", async () => {
    const url = await freshDatabase();
    const dbs = Array.from({ length: 6 }, () => new PostgresDatabase(url));
    try {
      await Promise.all(dbs.map((db) => db.open()));
      const sql = admin(url);
      try {
        expect(await sql.query("SELECT version FROM llma_schema")).toEqual([{ version: PG_SCHEMA_VERSION }]);
      } finally {
        await sql.end();
      }
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });

  it("two replicas writing at once: the LRU cap holds exactly, every answer whole", async () => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([PostgresAnswerCache.open(url, { maxEntries: 10 }), PostgresAnswerCache.open(url, { maxEntries: 10 })]);
    try {
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).put({ query: `question ${i} topic${i}`, answer: `answer ${i}`, model: "m", tokens: [i, i + 1] })));
      expect((await a.stats()).entries).toBe(10);
      const kept = await b.similar("question", { top: 20, touch: false, model: "m" });
      expect(kept).toHaveLength(10);
      for (const hit of kept) {
        const i = Number(/question (\d+)/.exec(hit.query)![1]);
        expect(hit.answer).toBe(`answer ${i}`);
        expect(hit.tokens).toEqual([i, i + 1]);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("slow (an answer's lock held elsewhere): the write gives up within its bounded wait, then works", async () => {
    const url = await freshDatabase();
    const cache = await PostgresAnswerCache.open(url, { busyTimeoutMs: 300 });
    const sql = admin(url);
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      // Another replica's writer holds the answers lock (an open transaction that does not finish).
      const holder = sql.inTransaction(async (tx) => {
        await tx.query("SELECT pg_advisory_xact_lock($1::int, 2)", [0x6c6c6d61]);
        holding();
        await released;
      });
      await held;
      const started = performance.now();
      const error = await rejection(cache.put({ query: "what is slow", answer: "this", model: "m" }));
      const waited = performance.now() - started;
      expect(["timeout", "locked"]).toContain(error.problem);
      expect(waited).toBeLessThan(3000); // the 300 ms bound plus a loaded machine's lag
      release();
      await holder;
      expect((await cache.stats()).entries).toBe(0);
      await cache.put({ query: "what is slow", answer: "this", model: "m" });
      expect((await cache.similar("slow"))[0].answer).toBe("this");
    } finally {
      await sql.end();
      await cache.close();
    }
  });

  it("a connection dropped inside an answer's transaction: nothing of it is written; the next write reconnects", async () => {
    const url = await freshDatabase();
    const cache = await PostgresAnswerCache.open(url, { maxEntries: 3, busyTimeoutMs: 20_000 });
    const sql = admin(url);
    try {
      for (let i = 0; i < 3; i++) await cache.put({ query: `question ${i} topic${i}`, answer: `answer ${i}`, model: "m" });
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locking!: () => void;
      const locked = new Promise<void>((resolve) => (locking = resolve));
      // Lock the LRU victim's row: the put's eviction (after its INSERT) waits on it, mid-transaction.
      const holder = sql.inTransaction(async (tx) => {
        await tx.query("SELECT id FROM llma_answers WHERE query = 'question 0 topic0' FOR UPDATE");
        locking();
        await released;
      });
      await locked;
      const write = cache.put({ query: "question 3 topic3", answer: "answer 3", model: "m" });
      // The put fails as soon as its connection is terminated, which may be before the terminate query's
      // own answer arrives here: handled now (the failure is checked below), never an unhandled rejection.
      write.catch(() => {});
      let pid: number | undefined;
      for (let tries = 0; tries < 100 && pid === undefined; tries++) {
        const rows = await sql.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE application_name = 'llma' AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM llma_answers%'",
        );
        pid = rows[0]?.pid;
        if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(pid, "the put's transaction never waited on the locked row").toBeDefined();
      await sql.query("SELECT pg_terminate_backend($1)", [pid]);
      const error = await rejection(write);
      expect(error.problem).toBe("unreachable");
      release();
      await holder;
      // The INSERT before the drop was rolled back with the rest: still the 3 old answers.
      expect((await sql.query<{ query: string }>("SELECT query FROM llma_answers ORDER BY query")).map((r) => r.query)).toEqual(["question 0 topic0", "question 1 topic1", "question 2 topic2"]);
      expect(await cache.put({ query: "question 3 topic3", answer: "answer 3", model: "m" })).toMatchObject({ evicted: 1 });
      expect((await cache.stats()).entries).toBe(3);
    } finally {
      await sql.end();
      await cache.close();
    }
  });

  it("the server stopped mid-run: operations fail fast (unreachable), and work again once it is back", async () => {
    const url = await freshDatabase();
    const cache = await PostgresAnswerCache.open(url, { busyTimeoutMs: 1000 });
    try {
      await cache.put({ query: "where does real insulin come from", answer: "Pigs.", model: "m" });
      stopPostgres();
      try {
        for (let i = 0; i < 3; i++) {
          const started = performance.now();
          const error = await rejection(cache.similar("insulin"));
          expect(["unreachable", "timeout"]).toContain(error.problem);
          expect(performance.now() - started).toBeLessThan(3000); // the 1 s bound plus a loaded machine's lag
        }
        expect((await rejection(cache.put({ query: "q", answer: "a", model: "m" }))).problem).toMatch(/unreachable|timeout/);
      } finally {
        startPostgres();
      }
      expect((await cache.similar("insulin"))[0].answer).toBe("Pigs.");
      await cache.put({ query: "q", answer: "a", model: "m" });
      expect((await cache.stats()).entries).toBe(2);
    } finally {
      await cache.close();
    }
  });
});
