/**
 * The store's two halves as interfaces, so one caller serves either engine: SQLite (one file, the
 * embedded default: answers.ts, documents.ts) or PostgreSQL (one database many `llma serve` replicas
 * share: postgres.ts). Both are Promise-returning; both keep tenants apart in SQL, cap the answers by
 * LRU, rank an exact normalized match first, and search passages with the engine's own full-text index.
 */
import type { AnswerCacheStats, AnswerInput, CachedAnswer, DocumentInput, DocumentStoreStats, IndexReport, Passage } from "./records.js";

export interface SimilarOptions {
  readonly tenant?: string;
  readonly model?: string;
  readonly top?: number;
  /** Count the answers returned as used (LRU; default true). */
  readonly touch?: boolean;
}

/** The answer cache: past (query, answer) pairs per tenant and model. */
export interface AnswerStore {
  /** The SQLite file, or the PostgreSQL URL without its password. */
  readonly location: string;
  readonly maxEntries: number;
  readonly maxEntriesPerTenant: number | undefined;
  /** Stores an answer in one transaction (replacing the same normalized query's), then evicts beyond the caps. */
  put(input: AnswerInput): Promise<{ id: number; evicted: number }>;
  /** The tenant's most similar cached answers: an exact normalized match first, then by text rank. */
  similar(query: string, options?: SimilarOptions): Promise<CachedAnswer[]>;
  stats(tenant?: string): Promise<AnswerCacheStats>;
  /** Removes every answer (or only `tenant`'s); returns how many. */
  clear(tenant?: string): Promise<number>;
  close(): Promise<void>;
}

/** The document store: passages with a full-text index. */
export interface PassageStore {
  readonly location: string;
  /** Indexes files, folders and LLMA JSONL files in one transaction. */
  addPaths(paths: readonly string[]): Promise<IndexReport>;
  /** Adds documents in one transaction (see DocumentStore.add). */
  add(docs: readonly DocumentInput[], replaceFiles?: ReadonlySet<string>): Promise<IndexReport>;
  search(query: string, options?: { top?: number }): Promise<Passage[]>;
  stats(): Promise<DocumentStoreStats>;
  close(): Promise<void>;
}

/** A PostgreSQL URL (`postgres://` or `postgresql://`); anything else is a SQLite file path. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}
