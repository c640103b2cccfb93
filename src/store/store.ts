/** One store, both halves: the document store and the answer cache, in one SQLite file or one PostgreSQL database. */
import type Database from "better-sqlite3";
import { AnswerCache, type AnswerCacheOptions } from "./answers.js";
import type { AnswerStore, PassageStore } from "./backend.js";
import { openDatabase, type OpenStoreOptions } from "./db.js";
import { DocumentStore } from "./documents.js";
import type { ChunkOptions } from "./text.js";

export type LlmaStoreOptions = OpenStoreOptions & ChunkOptions & AnswerCacheOptions;

/** Either engine's store: what `openStore` returns. */
export interface Store {
  /** The SQLite file, or the PostgreSQL URL without its password. */
  readonly location: string;
  readonly documents: PassageStore;
  readonly answers: AnswerStore;
  close(): Promise<void>;
}

/** The store in one SQLite file (the embedded default), both halves on one connection. */
export class LlmaStore implements Store {
  readonly documents: DocumentStore;
  readonly answers: AnswerCache;

  private constructor(
    readonly db: Database.Database,
    readonly path: string,
    options: LlmaStoreOptions,
  ) {
    this.documents = new DocumentStore(db, path, options);
    this.answers = new AnswerCache(db, path, options);
  }

  get location(): string {
    return this.path;
  }

  /**
   * Opens the store file at `path` (created unless `create: false`): WAL mode, FTS5 tables. Problems
   * with the file (a directory, missing, not a database, corrupt, locked) are StoreErrors naming it.
   */
  static open(path: string, options: LlmaStoreOptions = {}): LlmaStore {
    return new LlmaStore(openDatabase(path, options), path, options);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
