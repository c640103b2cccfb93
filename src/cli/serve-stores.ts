/**
 * The stores of `llma serve`: --store (answer cache) and --docs (document store), each a SQLite file
 * or a PostgreSQL URL. A store that cannot be opened stops the server before the model loads (the
 * error names the file, or the URL without its password), unless --store-optional: then the server
 * starts without that store, and a PostgreSQL one is kept and retried on every request, so the cache
 * is used as soon as the database is up.
 */
import { isPostgresUrl, type AnswerStore, type PassageStore } from "../store/backend.js";
import { StoreError } from "../store/db.js";
import { openAnswerStore, openPassageStore } from "../store/open.js";
import { PostgresDatabase } from "../store/postgres-db.js";
import { PostgresAnswerCache, PostgresDocumentStore } from "../store/postgres.js";

/** SQLite holds the event loop while it waits for a lock: wait briefly, then go without the cache. */
export const SQLITE_SERVER_BUSY_TIMEOUT_MS = 250;
/** A PostgreSQL round trip does not block the event loop, but each request waits for it: bounded at 1 s. */
export const POSTGRES_SERVER_TIMEOUT_MS = 1000;

export interface ServeStoreOptions {
  readonly store?: string;
  readonly docs?: string;
  readonly cacheSize: number;
  /** Start without a store that cannot be opened now (a PostgreSQL one is retried on each request). */
  readonly storeOptional: boolean;
}

export interface ServeStores {
  readonly answerCache?: AnswerStore;
  readonly documents?: PassageStore;
  close(): Promise<void>;
}

const timeoutFor = (location: string) => (isPostgresUrl(location) ? POSTGRES_SERVER_TIMEOUT_MS : SQLITE_SERVER_BUSY_TIMEOUT_MS);

async function optional<T>(location: string, open: () => Promise<T>, later: () => T, optionalStore: boolean, warn: (line: string) => void): Promise<T | undefined> {
  try {
    return await open();
  } catch (error) {
    if (!optionalStore || !(error instanceof StoreError)) throw error;
    if (isPostgresUrl(location) && ["unreachable", "timeout"].includes(error.problem)) {
      warn(`${error.message}; starting without it (--store-optional), retrying on every request`);
      return later();
    }
    warn(`${error.message}; starting without it (--store-optional)`);
    return undefined;
  }
}

export async function openServeStores(options: ServeStoreOptions, warn: (line: string) => void): Promise<ServeStores> {
  const { docs, store } = options;
  const documents =
    docs === undefined
      ? undefined
      : await optional(
          docs,
          () => openPassageStore(docs, { create: false, busyTimeoutMs: timeoutFor(docs) }),
          () => new PostgresDocumentStore(new PostgresDatabase(docs, { create: false, busyTimeoutMs: timeoutFor(docs) }), { owned: true }),
          options.storeOptional,
          warn,
        );
  let answerCache: AnswerStore | undefined;
  try {
    answerCache =
      store === undefined
        ? undefined
        : await optional(
            store,
            () => openAnswerStore(store, { maxEntries: options.cacheSize, busyTimeoutMs: timeoutFor(store) }),
            () => new PostgresAnswerCache(new PostgresDatabase(store, { busyTimeoutMs: timeoutFor(store) }), { maxEntries: options.cacheSize, owned: true }),
            options.storeOptional,
            warn,
          );
  } catch (error) {
    await documents?.close();
    throw error;
  }
  return {
    answerCache,
    documents,
    close: async () => {
      await answerCache?.close();
      await documents?.close();
    },
  };
}
