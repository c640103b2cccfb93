/**
 * Opening a store by location: a `postgres://` / `postgresql://` URL is a PostgreSQL database (shared
 * by replicas), anything else a SQLite file (the embedded default, unchanged). What `--store` and
 * `--docs` take, and the library's entry points for either engine.
 */
import { AnswerCache } from "./answers.js";
import { isPostgresUrl, type AnswerStore, type PassageStore } from "./backend.js";
import { DocumentStore } from "./documents.js";
import { PostgresDatabase, type PostgresStoreOptions } from "./postgres-db.js";
import { PostgresAnswerCache, PostgresDocumentStore } from "./postgres.js";
import { LlmaStore, type LlmaStoreOptions, type Store } from "./store.js";

export type OpenLocationOptions = LlmaStoreOptions & Pick<PostgresStoreOptions, "poolSize">;

/** Both halves at `location`: one SQLite connection, or one PostgreSQL pool. */
export async function openStore(location: string, options: OpenLocationOptions = {}): Promise<Store> {
  if (!isPostgresUrl(location)) return LlmaStore.open(location, options);
  const db = new PostgresDatabase(location, options);
  try {
    await db.open();
  } catch (error) {
    await db.close();
    throw error;
  }
  const documents = new PostgresDocumentStore(db, options);
  const answers = new PostgresAnswerCache(db, options);
  return { location: db.location, documents, answers, close: () => db.close() };
}

/** The answer cache at `location` (SQLite file or PostgreSQL URL). */
export async function openAnswerStore(location: string, options: OpenLocationOptions = {}): Promise<AnswerStore> {
  return isPostgresUrl(location) ? PostgresAnswerCache.open(location, options) : AnswerCache.open(location, options);
}

/** The document store at `location` (SQLite file or PostgreSQL URL). */
export async function openPassageStore(location: string, options: OpenLocationOptions = {}): Promise<PassageStore> {
  return isPostgresUrl(location) ? PostgresDocumentStore.open(location, options) : DocumentStore.open(location, options);
}
