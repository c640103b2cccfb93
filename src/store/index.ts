/** The store: documents (FTS5/BM25 passages) and the answer cache in one SQLite file, and RAG on top. */
export { openDatabase, StoreError, SCHEMA_VERSION, type OpenStoreOptions, type StoreProblem } from "./db.js";
export { chunkText, splitSentences, ftsQuery, normalizeQuery, type ChunkOptions } from "./text.js";
export { DocumentStore, parseJsonlDocuments, TEXT_EXTENSIONS, type DocumentInput, type IndexReport, type Passage, type DocumentStoreStats, type DocumentStoreOptions } from "./documents.js";
export { AnswerCache, DEFAULT_TENANT, DEFAULT_MAX_ENTRIES, type AnswerInput, type CachedAnswer, type AnswerCacheOptions, type AnswerCacheStats } from "./answers.js";
export { LlmaStore, type LlmaStoreOptions } from "./store.js";
export { ragAnswer, ragPrompt, fitPassages, type RagRequest, type RagResult } from "./rag.js";
