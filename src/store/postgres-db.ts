/**
 * A PostgreSQL database as an llma store: a connection pool (node-postgres), the schema (created under
 * an advisory lock, so replicas starting at the same moment cannot break each other's migration), a
 * bounded wait per operation, and every failure as a StoreError naming the URL without its password.
 *
 * The pool reconnects by itself: when the server goes away, operations fail fast (StoreError
 * "unreachable"); when it is back, the next operation opens a new connection.
 */
import pg, { type Pool, type PoolClient } from "pg";
import { StoreError, type OpenStoreOptions } from "./db.js";

/** Version of the tables below (llma_schema.version); a newer database is refused rather than misread. */
export const PG_SCHEMA_VERSION = 1;

/** Advisory lock keys (pg_advisory_xact_lock(LOCK_SPACE, key)): "llma" and what the lock guards. */
const LOCK_SPACE = 0x6c6c6d61;
export const LOCKS = { migrate: 1, answers: 2, documents: 3 } as const;

/**
 * How long opening a store may take (connecting, checking or creating the tables, waiting for another
 * replica's migration): longer than one request's bounded wait, since a server starts once.
 */
export const OPEN_TIMEOUT_MS = 15_000;

/** The text search configuration: English stemming (as SQLite's porter tokenizer) and no stopword list (the query builder drops stopwords itself). */
export const TEXT_SEARCH_CONFIG = "llma_english";

const SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS llma_schema (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS llma_documents (
     id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     key text NOT NULL UNIQUE,
     source text NOT NULL,
     path text,
     row_index integer,
     hash text NOT NULL,
     added_at bigint NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS llma_documents_path ON llma_documents (path)`,
  `CREATE TABLE IF NOT EXISTS llma_passages (
     id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     doc_id integer NOT NULL REFERENCES llma_documents (id) ON DELETE CASCADE,
     ord integer NOT NULL,
     text text NOT NULL,
     tsv tsvector GENERATED ALWAYS AS (to_tsvector('${TEXT_SEARCH_CONFIG}', text)) STORED)`,
  `CREATE INDEX IF NOT EXISTS llma_passages_doc ON llma_passages (doc_id)`,
  `CREATE INDEX IF NOT EXISTS llma_passages_tsv ON llma_passages USING gin (tsv)`,
  `CREATE TABLE IF NOT EXISTS llma_answers (
     id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     tenant text NOT NULL,
     model text NOT NULL,
     query text NOT NULL,
     norm_query text NOT NULL,
     answer text NOT NULL,
     answer_tokens bytea,
     created_at bigint NOT NULL,
     used_at bigint NOT NULL,
     hits integer NOT NULL DEFAULT 0,
     query_tsv tsvector GENERATED ALWAYS AS (to_tsvector('${TEXT_SEARCH_CONFIG}', query)) STORED,
     UNIQUE (tenant, model, norm_query))`,
  `CREATE INDEX IF NOT EXISTS llma_answers_lru ON llma_answers (used_at, id)`,
  `CREATE INDEX IF NOT EXISTS llma_answers_tenant_lru ON llma_answers (tenant, used_at, id)`,
  `CREATE INDEX IF NOT EXISTS llma_answers_tsv ON llma_answers USING gin (query_tsv)`,
];

export interface PostgresStoreOptions extends OpenStoreOptions {
  /** Most connections the pool opens (default 4). */
  readonly poolSize?: number;
}

/** What a query runs on: the pool (one statement) or a transaction's client. */
export interface Queryable {
  query<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<{ rows: Row[]; rowCount: number | null }>;
}

/** The URL without its password (in the user info or a `password` parameter): what messages and logs show. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    parsed.searchParams.delete("password");
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1@");
  }
}

const UNREACHABLE_CODES = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ECONNRESET", "EPIPE", "ETIMEDOUT", "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004"];
/** node-postgres' own messages for a connection that failed or went away (they carry no code). */
const UNREACHABLE_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended/i;

/** A PostgreSQL (or connection) error as a StoreError naming the URL; StoreErrors and other errors pass through. */
export function postgresError(location: string, error: unknown): Error {
  if (error instanceof StoreError) return error;
  const code = String((error as { code?: unknown }).code ?? "");
  const detail = (error as Error).message || (error as { errors?: Error[] }).errors?.map((e) => e.message).join("; ") || code;
  if (UNREACHABLE_CODES.includes(code) || UNREACHABLE_MESSAGES.test(detail))
    return new StoreError(location, "unreachable", `PostgreSQL store ${location} is unreachable (${code ? `${code}: ` : ""}${detail})`);
  if (code === "28P01" || code === "28000") return new StoreError(location, "auth", `PostgreSQL store ${location} refused the login (${detail})`);
  if (code === "3D000") return new StoreError(location, "not-found", `PostgreSQL store ${location}: ${detail} (create it with createdb, or give another database in the URL)`);
  if (code === "57014") return new StoreError(location, "timeout", `PostgreSQL store ${location}: a statement ran past the bounded wait and was cancelled (${detail})`);
  if (code === "55P03" || code === "40P01") return new StoreError(location, "locked", `PostgreSQL store ${location} is locked by another connection (${detail}); retry`);
  if (code === "25006" || code === "42501") return new StoreError(location, "read-only", `PostgreSQL store ${location} cannot be written (${detail})`);
  return error instanceof Error ? error : new Error(String(error));
}

/** One PostgreSQL database: the pool both store halves share, and the schema they need. */
export class PostgresDatabase implements Queryable {
  /** The URL without its password. */
  readonly location: string;
  readonly timeoutMs: number;
  private readonly pool: Pool;
  private readonly create: boolean;
  /** The schema check/migration under way or done; cleared when it fails, so the next operation retries it. */
  private schema: Promise<void> | undefined;

  constructor(url: string, options: PostgresStoreOptions = {}) {
    this.location = redactUrl(url);
    this.timeoutMs = options.busyTimeoutMs ?? 5000;
    this.create = options.create ?? true;
    const poolSize = options.poolSize ?? 4;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1) throw new RangeError(`busyTimeoutMs must be an integer >= 1, got ${this.timeoutMs}`);
    if (!Number.isInteger(poolSize) || poolSize < 1) throw new RangeError(`poolSize must be an integer >= 1, got ${poolSize}`);
    try {
      new URL(url);
    } catch {
      throw new StoreError(this.location, "not-found", `not a valid PostgreSQL URL: ${this.location} (expected postgres://user:password@host:port/database)`);
    }
    const serverTimeout = Math.max(1, Math.floor(this.timeoutMs * 0.8));
    this.pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      // Connecting may take longer than one operation's wait (each operation still gives up at its deadline).
      connectionTimeoutMillis: Math.max(this.timeoutMs, 5000),
      idleTimeoutMillis: 60_000,
      application_name: "llma",
      // The server cancels a statement (or a lock wait) before the bounded wait is up: a transaction the caller
      // was told failed is rolled back, not committed later, and a slow database never holds a connection for long.
      statement_timeout: serverTimeout,
      lock_timeout: serverTimeout,
    });
    // An idle connection the server closed (a restart): the pool drops it and the next operation opens a new one.
    this.pool.on("error", () => {});
  }

  query<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<{ rows: Row[]; rowCount: number | null }> {
    return this.pool.query<Row>(text, values);
  }

  /** Runs `body` in one transaction on one connection: committed whole, or rolled back (a dropped connection rolls back on the server). */
  async transaction<T>(body: (client: Queryable) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.pool.connect();
    // A connection lost mid-transaction is also emitted as an event: the failing query reports it, so the event is only kept from crashing the process.
    const onError = () => {};
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const result = await body(client);
      await client.query("COMMIT");
      client.off("error", onError);
      client.release();
      return result;
    } catch (error) {
      // A failed transaction's connection is closed, not reused: it may be the connection that failed.
      await client.query("ROLLBACK").catch(() => {});
      client.off("error", onError);
      client.release(true);
      throw error;
    }
  }

  /**
   * Runs `operation` once the schema is in place, within the bounded wait (`busyTimeoutMs`); any
   * failure is a StoreError naming the URL. A transaction the wait gives up on is left to
   * PostgreSQL: it commits whole or not at all (statement_timeout ends it soon).
   */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreError(this.location, "timeout", `PostgreSQL store ${this.location} did not answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    const work = (async () => {
      await this.ensureSchema();
      return operation();
    })();
    work.catch(() => {}); // settled after the deadline: already reported as a timeout
    try {
      return await Promise.race([work, deadline]);
    } catch (error) {
      throw postgresError(this.location, error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Connects and checks (or creates) the tables within OPEN_TIMEOUT_MS (or the bounded wait, when longer): what opening a store does. */
  async open(): Promise<void> {
    const limit = Math.max(this.timeoutMs, OPEN_TIMEOUT_MS);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreError(this.location, "timeout", `PostgreSQL store ${this.location} did not open within ${limit} ms`)), limit);
    });
    const ready = this.ensureSchema();
    ready.catch(() => {});
    try {
      await Promise.race([ready, deadline]);
    } catch (error) {
      throw postgresError(this.location, error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Checks (and with `create`, creates or upgrades) llma's tables; done once, retried after a failure. */
  ensureSchema(): Promise<void> {
    if (!this.schema) {
      this.schema = this.migrate().catch((error: unknown) => {
        this.schema = undefined;
        throw postgresError(this.location, error);
      });
    }
    return this.schema;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async migrate(): Promise<void> {
    const version = async (db: Queryable): Promise<number | undefined> => {
      const { rows } = await db.query<{ exists: boolean }>("SELECT to_regclass('llma_schema') IS NOT NULL AS exists");
      if (!rows[0].exists) return undefined;
      return (await db.query<{ version: number }>("SELECT version FROM llma_schema WHERE id = 1")).rows[0]?.version;
    };
    const check = (found: number | undefined) => {
      if (found !== undefined && found > PG_SCHEMA_VERSION)
        throw new StoreError(this.location, "newer-schema", `PostgreSQL store ${this.location} has schema version ${found}, newer than this llma's ${PG_SCHEMA_VERSION}: upgrade llma`);
    };
    const found = await version(this);
    check(found);
    if (found === PG_SCHEMA_VERSION) return;
    if (!this.create)
      throw new StoreError(this.location, "not-a-store", `PostgreSQL store ${this.location} holds no llma tables (create them with: llma index --store ${this.location} FILE...)`);
    await this.transaction(async (tx) => {
      // The migration (and waiting for another replica's) may take longer than one request's statement timeout.
      await tx.query(`SET LOCAL statement_timeout = ${OPEN_TIMEOUT_MS}`);
      await tx.query(`SET LOCAL lock_timeout = ${OPEN_TIMEOUT_MS}`);
      // One migration at a time across every replica: the second waits here, then finds the work done.
      await lockFor(tx, "migrate");
      const now = await version(tx);
      check(now);
      if (now === PG_SCHEMA_VERSION) return;
      const { rows } = await tx.query<{ configured: boolean }>(
        "SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = $1 AND cfgnamespace = current_schema()::regnamespace) AS configured",
        [TEXT_SEARCH_CONFIG],
      );
      if (!rows[0].configured) {
        await tx.query(`CREATE TEXT SEARCH DICTIONARY ${TEXT_SEARCH_CONFIG}_stem (TEMPLATE = snowball, LANGUAGE = english)`);
        await tx.query(`CREATE TEXT SEARCH CONFIGURATION ${TEXT_SEARCH_CONFIG} (COPY = pg_catalog.english)`);
        await tx.query(
          `ALTER TEXT SEARCH CONFIGURATION ${TEXT_SEARCH_CONFIG} ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH ${TEXT_SEARCH_CONFIG}_stem`,
        );
      }
      for (const statement of SCHEMA) await tx.query(statement);
      await tx.query("INSERT INTO llma_schema (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = excluded.version", [PG_SCHEMA_VERSION]);
    });
  }
}

/** Takes one of llma's advisory locks for the rest of the transaction: writers of one kind go one at a time (exact caps across replicas). */
export async function lockFor(tx: Queryable, lock: keyof typeof LOCKS): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock($1::int, $2::int)", [LOCK_SPACE, LOCKS[lock]]);
}
