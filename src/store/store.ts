/** One store file, both halves: the document store and the answer cache on one SQLite connection. */
import type Database from "better-sqlite3";
import { AnswerCache, type AnswerCacheOptions } from "./answers.js";
import { openDatabase, type OpenStoreOptions } from "./db.js";
import { DocumentStore } from "./documents.js";
import type { ChunkOptions } from "./text.js";

export type LlmaStoreOptions = OpenStoreOptions & ChunkOptions & AnswerCacheOptions;

export class LlmaStore {
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

  /**
   * Opens the store file at `path` (created unless `create: false`): WAL mode, FTS5 tables. Problems
   * with the file (a directory, missing, not a database, corrupt, locked) are StoreErrors naming it.
   */
  static open(path: string, options: LlmaStoreOptions = {}): LlmaStore {
    return new LlmaStore(openDatabase(path, options), path, options);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
