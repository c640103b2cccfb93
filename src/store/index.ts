/** The store: documents (full-text passages) and the answer cache in one SQLite file or one PostgreSQL database; persistence only (RAG on top of it is `llma/rag`). */
export { openDatabase, StoreError, SCHEMA_VERSION, type OpenStoreOptions, type StoreProblem } from "./db.js";
export { chunkText, splitSentences, ftsQuery, tsQuery, normalizeQuery, type ChunkOptions } from "./text.js";
export { DocumentStore, parseJsonlDocuments, TEXT_EXTENSIONS, type DocumentInput, type IndexReport, type Passage, type DocumentStoreStats, type DocumentStoreOptions } from "./documents.js";
export { AnswerCache, DEFAULT_TENANT, DEFAULT_MAX_ENTRIES, type AnswerInput, type CachedAnswer, type AnswerCacheOptions, type AnswerCacheStats } from "./answers.js";
export { isPostgresUrl, type AnswerStore, type PassageStore, type SimilarOptions } from "./backend.js";
export { PostgresAnswerCache, PostgresDocumentStore } from "./postgres.js";
export { PostgresDatabase, PG_SCHEMA_VERSION, redactUrl, type PostgresStoreOptions } from "./postgres-db.js";
export { openStore, openAnswerStore, openPassageStore, type OpenLocationOptions } from "./open.js";
export { LlmaStore, type LlmaStoreOptions, type Store } from "./store.js";
