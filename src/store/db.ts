/**
 * Opening an llma store: one SQLite file (better-sqlite3) that holds the document store (passages
 * with an FTS5 index) and the answer cache. WAL mode: readers never block the writer, and a process
 * killed mid-write loses only its uncommitted transaction.
 *
 * Every SQLite failure is turned into a StoreError that names the file and the problem (not a
 * database, corrupt, locked, a directory, missing); a file that is not ours is never written to.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

export type StoreProblem =
  | "not-found"
  | "directory"
  | "not-a-database"
  | "not-a-store"
  | "corrupt"
  | "locked"
  | "read-only"
  | "newer-schema"
  | "io"
  // PostgreSQL stores only: the server cannot be reached (or went away), refused the login, or an operation ran past its bounded wait.
  | "unreachable"
  | "auth"
  | "timeout";

/** A store that cannot be used: `path` is the file (or the PostgreSQL URL without its password), `problem` what is wrong with it. */
export class StoreError extends Error {
  constructor(
    readonly path: string,
    readonly problem: StoreProblem,
    message: string,
  ) {
    super(message);
    this.name = "StoreError";
  }
}

export interface OpenStoreOptions {
  /**
   * Create the file (and llma's tables) when missing (default true). With false the file must already
   * be an llma store: commands that only read (search, rag, cache stats) never create one by mistake.
   */
  readonly create?: boolean;
  /**
   * How long to wait before failing (default 5000 ms). SQLite: for another connection's lock.
   * PostgreSQL: for one whole operation, connecting included (and the server ends a statement past it).
   */
  readonly busyTimeoutMs?: number;
}

/** Version of the tables below; a newer file is refused rather than misread. */
export const SCHEMA_VERSION = 1;
const APPLICATION_ID = 0x6c6c6d61; // "llma": marks the file as an llma store (PRAGMA application_id)
const SQLITE_HEADER = "SQLite format 3\0";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS documents (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  source TEXT NOT NULL,
  path TEXT,
  row INTEGER,
  hash TEXT NOT NULL,
  added_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
  id INTEGER PRIMARY KEY,
  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ord INTEGER NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
  text, content='passages', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS passages_ai AFTER INSERT ON passages BEGIN
  INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS passages_ad AFTER DELETE ON passages BEGIN
  INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;

CREATE TABLE IF NOT EXISTS answers (
  id INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  model TEXT NOT NULL,
  query TEXT NOT NULL,
  norm_query TEXT NOT NULL,
  answer TEXT NOT NULL,
  answer_tokens BLOB,
  created_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL,
  hits INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS answers_key ON answers(tenant, model, norm_query);
CREATE INDEX IF NOT EXISTS answers_lru ON answers(used_at, id);
CREATE INDEX IF NOT EXISTS answers_tenant_lru ON answers(tenant, used_at, id);
CREATE VIRTUAL TABLE IF NOT EXISTS answers_fts USING fts5(
  query, content='answers', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS answers_ai AFTER INSERT ON answers BEGIN
  INSERT INTO answers_fts(rowid, query) VALUES (new.id, new.query);
END;
CREATE TRIGGER IF NOT EXISTS answers_ad AFTER DELETE ON answers BEGIN
  INSERT INTO answers_fts(answers_fts, rowid, query) VALUES ('delete', old.id, old.query);
END;
CREATE TRIGGER IF NOT EXISTS answers_au AFTER UPDATE OF query ON answers BEGIN
  INSERT INTO answers_fts(answers_fts, rowid, query) VALUES ('delete', old.id, old.query);
  INSERT INTO answers_fts(rowid, query) VALUES (new.id, new.query);
END;
`;

/** SQLite's error for `error`, as a StoreError naming `path` (other errors pass through). */
export function storeError(path: string, error: unknown): Error {
  if (error instanceof StoreError) return error;
  const code = (error as { code?: string }).code ?? "";
  const detail = (error as Error).message;
  if (code === "SQLITE_NOTADB") return new StoreError(path, "not-a-database", `store ${path} is not a SQLite database (${detail}); the file was left untouched`);
  if (code.startsWith("SQLITE_CORRUPT"))
    return new StoreError(path, "corrupt", `store ${path} is corrupt (${detail}); the file was left untouched: restore it from a copy, or index into a new file`);
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
    return new StoreError(path, "locked", `store ${path} is locked by another connection (${detail}); retry when it is done, or raise the busy timeout`);
  if (code.startsWith("SQLITE_READONLY")) return new StoreError(path, "read-only", `store ${path} cannot be written (${detail})`);
  if (code.startsWith("SQLITE_CANTOPEN")) return new StoreError(path, "io", `cannot open store ${path} (${detail})`);
  if (code.startsWith("SQLITE_IOERR") || code === "SQLITE_FULL") return new StoreError(path, "io", `I/O error on store ${path} (${detail})`);
  return error instanceof Error ? error : new Error(String(error));
}

/** Runs `fn`, turning SQLite errors into StoreErrors that name `path`. */
export function guard<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw storeError(path, error);
  }
}

/** Checks the path before SQLite touches it: a directory, a missing file or a non-SQLite file is refused here. */
function checkPath(path: string, mustExist: boolean): "missing" | "empty" | "sqlite" {
  let size: number;
  try {
    const info = statSync(path);
    if (info.isDirectory()) throw new StoreError(path, "directory", `store path ${path} is a directory, not a database file (give a file name, e.g. ${path.replace(/\/+$/, "")}/llma.db)`);
    if (!info.isFile()) throw new StoreError(path, "not-a-database", `store path ${path} is not a regular file`);
    size = info.size;
  } catch (error) {
    if (error instanceof StoreError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      if (mustExist) throw new StoreError(path, "not-found", `store file not found: ${path} (create it with: llma index --store ${path} FILE...)`);
      let parent: ReturnType<typeof statSync> | undefined;
      try {
        parent = statSync(dirname(path));
      } catch {
        parent = undefined;
      }
      if (!parent?.isDirectory()) throw new StoreError(path, "not-found", `cannot create store ${path}: directory ${dirname(path)} does not exist`);
      return "missing";
    }
    throw new StoreError(path, "io", `cannot read store ${path}: ${(error as Error).message}`);
  }
  if (size === 0) return "empty";
  const header = Buffer.alloc(16);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new StoreError(path, "io", `cannot read store ${path}: ${(error as Error).message}`);
  }
  try {
    readSync(fd, header, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (size < 100 || header.toString("latin1") !== SQLITE_HEADER)
    throw new StoreError(path, "not-a-database", `store ${path} is not a SQLite database (it does not start with the SQLite header); the file was left untouched`);
  return "sqlite";
}

/**
 * Opens (creating when allowed) the llma store at `path`: WAL journal, foreign keys, busy timeout,
 * the schema. A SQLite file that holds other tables but not llma's is refused, not modified.
 */
export function openDatabase(path: string, options: OpenStoreOptions = {}): Database.Database {
  const mustExist = !(options.create ?? true);
  const state = checkPath(path, mustExist);
  if (mustExist && state === "empty") throw new StoreError(path, "not-a-store", `store ${path} is an empty file, not an llma store (create it with: llma index --store ${path} FILE...)`);
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: mustExist, timeout: options.busyTimeoutMs ?? 5000 });
  } catch (error) {
    throw storeError(path, error);
  }
  try {
    db.pragma("foreign_keys = ON");
    const applicationId = db.pragma("application_id", { simple: true }) as number;
    const version = db.pragma("user_version", { simple: true }) as number;
    const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_schema").get() as { n: number }).n;
    if (applicationId !== APPLICATION_ID && tables > 0)
      throw new StoreError(path, "not-a-store", `store ${path} is a SQLite database but not an llma store (it holds other tables); the file was left untouched`);
    if (version > SCHEMA_VERSION)
      throw new StoreError(path, "newer-schema", `store ${path} has schema version ${version}, newer than this llma's ${SCHEMA_VERSION}: upgrade llma`);
    if (mustExist && tables === 0)
      throw new StoreError(path, "not-a-store", `store ${path} is an empty database, not an llma store (create it with: llma index --store ${path} FILE...)`);
    // WAL: commits append to the -wal file; a crash leaves every committed transaction readable.
    // synchronous=NORMAL is durable across process crashes (a power loss may drop the last commits).
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal") throw new StoreError(path, "io", `store ${path}: could not switch to WAL mode (journal_mode is ${String(mode)})`);
    db.pragma("synchronous = NORMAL");
    if (applicationId !== APPLICATION_ID || version < SCHEMA_VERSION) {
      db.transaction(() => {
        db.exec(SCHEMA);
        db.pragma(`application_id = ${APPLICATION_ID}`);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    }
    return db;
  } catch (error) {
    db.close();
    throw storeError(path, error);
  }
}
