/**
 * The records the stores hold and return (answers, documents, passages), apart from the engines that
 * hold them: backend.ts's interfaces and both engines (SQLite, PostgreSQL) use them, so they depend on
 * nothing.
 */
export interface CachedAnswer {
  readonly id: number;
  readonly tenant: string;
  readonly model: string;
  readonly query: string;
  readonly answer: string;
  /** The answer's tokens as the model generated them (when stored): a better reference than the text, whose re-tokenization may differ. */
  readonly tokens?: number[];
  readonly createdAt: number;
  readonly usedAt: number;
  readonly hits: number;
  /** Text-rank similarity of its query to the lookup's (higher is better; SQLite: BM25, PostgreSQL: ts_rank_cd). */
  readonly score: number;
  /** Its query normalizes to the lookup's (same words, case and punctuation aside). */
  readonly exact: boolean;
}

export interface AnswerInput {
  readonly query: string;
  readonly answer: string;
  /** The model that wrote the answer (e.g. the GGUF's file name). */
  readonly model: string;
  /** The answer's tokens as generated (valid for `model` only; lookups that give a model return them). */
  readonly tokens?: readonly number[];
  /** Namespace (default DEFAULT_TENANT). */
  readonly tenant?: string;
}

export interface AnswerCacheStats {
  readonly entries: number;
  readonly maxEntries: number;
  readonly tenants: readonly { readonly tenant: string; readonly entries: number; readonly hits: number }[];
  readonly oldest: number | null;
  readonly newest: number | null;
}

/** One document to index. */
export interface DocumentInput {
  readonly text: string;
  /** Shown with search results: a file path, or `file.jsonl#row` for a row's documents. */
  readonly source: string;
  /** Identity for re-indexing (default: source). Adding a key again replaces that document. */
  readonly key?: string;
  /** The file it came from (absolute); documents of a re-indexed file that it no longer holds are removed. */
  readonly path?: string;
  /** 0-based line of a JSONL file. */
  readonly row?: number;
}

export interface IndexReport {
  /** Files read. */
  readonly files: number;
  /** Documents given (added + updated + unchanged). */
  readonly documents: number;
  readonly added: number;
  readonly updated: number;
  readonly unchanged: number;
  /** Documents removed because their file no longer holds them. */
  readonly removed: number;
  /** Passages written. */
  readonly passages: number;
  /** Files in folders that were not indexed, and why. */
  readonly skipped: readonly { readonly path: string; readonly reason: string }[];
}

export interface Passage {
  readonly id: number;
  readonly documentId: number;
  readonly source: string;
  readonly path: string | null;
  readonly row: number | null;
  /** Position of the passage in its document (0-based). */
  readonly ord: number;
  readonly text: string;
  /** Text relevance (higher is better; SQLite: BM25, PostgreSQL: ts_rank_cd). */
  readonly score: number;
}

export interface DocumentStoreStats {
  readonly documents: number;
  readonly passages: number;
  readonly files: number;
}
