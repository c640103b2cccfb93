/**
 * The answer cache and the document store on PostgreSQL: the same behaviour as the SQLite files
 * (answers.ts, documents.ts), shared by every `llma serve` replica that points at the database.
 * Tenants are namespaces in every WHERE; one transaction per answer, under an advisory lock so the LRU
 * caps hold exactly across replicas; similar queries and passages ranked by PostgreSQL's full-text
 * search (tsvector, ts_rank_cd) instead of FTS5's BM25.
 */
import {
  checkCaps,
  checkTenant,
  checkTop,
  decodeTokens,
  DEFAULT_TENANT,
  encodeTokens,
  MAX_ANSWER_CHARS,
  type AnswerCacheOptions,
  type AnswerColumns,
  type AnswerCacheStats,
  type AnswerInput,
  type CachedAnswer,
} from "./answers.js";
import type { AnswerStore, PassageStore, SimilarOptions } from "./backend.js";
import { addCollected, checkSearchTop, documentHash, type DocumentInput, type DocumentStoreStats, type IndexReport, type Passage } from "./documents.js";
import { lockFor, PostgresDatabase, TEXT_SEARCH_CONFIG, type PostgresStoreOptions, type Queryable } from "./postgres-db.js";
import { chunkText, DEFAULT_MAX_WORDS, DEFAULT_TARGET_WORDS, normalizeQuery, tsQuery, type ChunkOptions } from "./text.js";

interface AnswerRow extends AnswerColumns {
  score: number;
}

/** Milliseconds, strictly after every stored use (LRU order holds for uses in the same millisecond, across replicas). */
async function clock(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ t: number }>("SELECT coalesce(max(used_at), 0)::float8 AS t FROM llma_answers");
  return Math.max(Date.now(), rows[0].t + 1);
}

export class PostgresAnswerCache implements AnswerStore {
  readonly maxEntries: number;
  readonly maxEntriesPerTenant: number | undefined;

  /** Use `PostgresAnswerCache.open(url)`, or pass a database the document store of the same store opened (`owned`: close it with this). */
  constructor(
    readonly db: PostgresDatabase,
    options: AnswerCacheOptions & { owned?: boolean } = {},
  ) {
    ({ maxEntries: this.maxEntries, maxEntriesPerTenant: this.maxEntriesPerTenant } = checkCaps(options));
    this.owned = options.owned ?? false;
  }

  private readonly owned: boolean;

  get location(): string {
    return this.db.location;
  }

  /** Connects to `url` and checks (with `create`, makes) llma's tables: an unreachable server or a foreign database fails here. */
  static async open(url: string, options: PostgresStoreOptions & AnswerCacheOptions = {}): Promise<PostgresAnswerCache> {
    const db = new PostgresDatabase(url, options);
    const cache = new PostgresAnswerCache(db, { ...options, owned: true });
    try {
      await db.open();
    } catch (error) {
      await db.close();
      throw error;
    }
    return cache;
  }

  async put(input: AnswerInput): Promise<{ id: number; evicted: number }> {
    const tenant = checkTenant(input.tenant ?? DEFAULT_TENANT);
    const norm = normalizeQuery(input.query);
    if (norm === "") throw new RangeError("the query has no words to key the cache on");
    const answer = input.answer.slice(0, MAX_ANSWER_CHARS);
    const tokens = input.tokens ? encodeTokens(input.tokens.slice(0, MAX_ANSWER_CHARS)) : null;
    return this.db.run(() =>
      this.db.transaction(async (tx) => {
        // One writer at a time on every replica: the caps' counts below are exact, evictions never race.
        await lockFor(tx, "answers");
        const now = await clock(tx);
        const { rows } = await tx.query<{ id: number }>(
          `INSERT INTO llma_answers (tenant, model, query, norm_query, answer, answer_tokens, created_at, used_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
           ON CONFLICT (tenant, model, norm_query) DO UPDATE SET query = excluded.query, answer = excluded.answer,
             answer_tokens = excluded.answer_tokens, created_at = excluded.created_at, used_at = excluded.used_at
           RETURNING id`,
          [tenant, input.model, input.query, norm, answer, tokens, now],
        );
        let evicted = 0;
        if (this.maxEntriesPerTenant !== undefined)
          evicted +=
            (
              await tx.query(
                `DELETE FROM llma_answers WHERE id IN (SELECT id FROM llma_answers WHERE tenant = $1 ORDER BY used_at, id
                   LIMIT greatest(0, (SELECT count(*) FROM llma_answers WHERE tenant = $1) - $2::int))`,
                [tenant, this.maxEntriesPerTenant],
              )
            ).rowCount ?? 0;
        evicted +=
          (
            await tx.query(
              `DELETE FROM llma_answers WHERE id IN (SELECT id FROM llma_answers ORDER BY used_at, id
                 LIMIT greatest(0, (SELECT count(*) FROM llma_answers) - $1::int))`,
              [this.maxEntries],
            )
          ).rowCount ?? 0;
        return { id: rows[0].id, evicted };
      }),
    );
  }

  async similar(query: string, options: SimilarOptions = {}): Promise<CachedAnswer[]> {
    const tenant = checkTenant(options.tenant ?? DEFAULT_TENANT);
    const top = checkTop(options.top ?? 3);
    const match = tsQuery(query);
    if (match === undefined || top === 0) return [];
    const norm = normalizeQuery(query);
    const model = options.model;
    return this.db.run(async () => {
      // Tenant (and model) in the WHERE: another tenant's rows are never read, let alone returned.
      const { rows } = await this.db.query<AnswerRow>(
        `SELECT a.id, a.tenant, a.model, a.query, a.norm_query, a.answer, a.answer_tokens, a.created_at::float8 AS created_at,
           a.used_at::float8 AS used_at, a.hits, ts_rank_cd(a.query_tsv, q)::float8 AS score
         FROM llma_answers a, to_tsquery('${TEXT_SEARCH_CONFIG}', $1) q
         WHERE a.query_tsv @@ q AND a.tenant = $2 AND ($3::text IS NULL OR a.model = $3)
         ORDER BY (a.norm_query = $4) DESC, score DESC, a.id LIMIT $5::int`,
        [match, tenant, model ?? null, norm, top],
      );
      if (rows.length > 0 && (options.touch ?? true)) {
        const now = await clock(this.db);
        await this.db.query("UPDATE llma_answers SET used_at = $1, hits = hits + 1 WHERE id = ANY($2::int[])", [now, rows.map((r) => r.id)]);
      }
      return rows.map((r) => ({
        id: r.id,
        tenant: r.tenant,
        model: r.model,
        query: r.query,
        answer: r.answer,
        ...(r.answer_tokens && model !== undefined ? { tokens: decodeTokens(r.answer_tokens) } : {}),
        createdAt: r.created_at,
        usedAt: r.used_at,
        hits: r.hits,
        score: r.score,
        exact: r.norm_query === norm,
      }));
    });
  }

  async stats(tenant?: string): Promise<AnswerCacheStats> {
    if (tenant !== undefined) checkTenant(tenant);
    return this.db.run(async () => {
      const filter = "WHERE ($1::text IS NULL OR tenant = $1)";
      const args = [tenant ?? null];
      const tenants = await this.db.query<{ tenant: string; entries: number; hits: number }>(
        `SELECT tenant, count(*)::int AS entries, sum(hits)::int AS hits FROM llma_answers ${filter} GROUP BY tenant ORDER BY tenant COLLATE "C"`,
        args,
      );
      const range = (
        await this.db.query<{ oldest: number | null; newest: number | null; entries: number }>(
          `SELECT min(used_at)::float8 AS oldest, max(used_at)::float8 AS newest, count(*)::int AS entries FROM llma_answers ${filter}`,
          args,
        )
      ).rows[0];
      return { entries: range.entries, maxEntries: this.maxEntries, tenants: tenants.rows, oldest: range.oldest, newest: range.newest };
    });
  }

  async clear(tenant?: string): Promise<number> {
    if (tenant !== undefined) checkTenant(tenant);
    return this.db.run(async () => (await this.db.query("DELETE FROM llma_answers WHERE ($1::text IS NULL OR tenant = $1)", [tenant ?? null])).rowCount ?? 0);
  }

  async close(): Promise<void> {
    if (this.owned) await this.db.close();
  }
}

export class PostgresDocumentStore implements PassageStore {
  private readonly chunk: Required<ChunkOptions>;
  private readonly owned: boolean;

  constructor(
    readonly db: PostgresDatabase,
    options: ChunkOptions & { owned?: boolean } = {},
  ) {
    this.chunk = { targetWords: options.targetWords ?? DEFAULT_TARGET_WORDS, maxWords: options.maxWords ?? DEFAULT_MAX_WORDS };
    this.owned = options.owned ?? false;
  }

  get location(): string {
    return this.db.location;
  }

  static async open(url: string, options: PostgresStoreOptions & ChunkOptions = {}): Promise<PostgresDocumentStore> {
    const db = new PostgresDatabase(url, options);
    const store = new PostgresDocumentStore(db, { ...options, owned: true });
    try {
      await db.open();
    } catch (error) {
      await db.close();
      throw error;
    }
    return store;
  }

  addPaths(paths: readonly string[]): Promise<IndexReport> {
    return addCollected(this, paths);
  }

  async add(docs: readonly DocumentInput[], replaceFiles: ReadonlySet<string> = new Set()): Promise<IndexReport> {
    // Chunk before the transaction: it holds the documents lock only for the writes.
    const prepared = docs.map((doc) => ({ doc, key: doc.key ?? doc.source, hash: documentHash(doc.text, this.chunk) }));
    return this.db.run(() =>
      this.db.transaction(async (tx) => {
        await lockFor(tx, "documents");
        const keys = [...new Set(prepared.map((p) => p.key))];
        const existing = new Map<string, { id: number; hash: string }>();
        for (const row of (await tx.query<{ id: number; key: string; hash: string }>("SELECT id, key, hash FROM llma_documents WHERE key = ANY($1::text[])", [keys])).rows)
          existing.set(row.key, { id: row.id, hash: row.hash });
        let added = 0;
        let updated = 0;
        let unchanged = 0;
        let removed = 0;
        const passages: { doc_id: number; ord: number; text: string }[] = [];
        const now = Date.now();
        const given = new Set<string>();
        for (const { doc, key, hash } of prepared) {
          given.add(key);
          const found = existing.get(key);
          if (found?.hash === hash) {
            unchanged++;
            continue;
          }
          if (found) {
            await tx.query("DELETE FROM llma_documents WHERE id = $1", [found.id]);
            updated++;
          } else added++;
          const { rows } = await tx.query<{ id: number }>(
            "INSERT INTO llma_documents (key, source, path, row_index, hash, added_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            [key, doc.source, doc.path ?? null, doc.row ?? null, hash, now],
          );
          const id = rows[0].id;
          existing.set(key, { id, hash });
          chunkText(doc.text, this.chunk).forEach((text, ord) => passages.push({ doc_id: id, ord, text }));
        }
        // Every passage in one statement (three arrays, not one parameter per value).
        if (passages.length > 0)
          await tx.query("INSERT INTO llma_passages (doc_id, ord, text) SELECT * FROM unnest($1::int[], $2::int[], $3::text[])", [
            passages.map((p) => p.doc_id),
            passages.map((p) => p.ord),
            passages.map((p) => p.text),
          ]);
        if (replaceFiles.size > 0)
          for (const stale of (await tx.query<{ id: number; key: string }>("SELECT id, key FROM llma_documents WHERE path = ANY($1::text[])", [[...replaceFiles]])).rows)
            if (!given.has(stale.key)) {
              await tx.query("DELETE FROM llma_documents WHERE id = $1", [stale.id]);
              removed++;
            }
        return { files: 0, documents: docs.length, added, updated, unchanged, removed, passages: passages.length, skipped: [] };
      }),
    );
  }

  async search(query: string, options: { top?: number } = {}): Promise<Passage[]> {
    const top = checkSearchTop(options.top ?? 10);
    const match = tsQuery(query);
    if (match === undefined) return [];
    return this.db.run(async () =>
      (
        await this.db.query<{ id: number; doc_id: number; ord: number; text: string; source: string; path: string | null; row_index: number | null; score: number }>(
          `SELECT p.id, p.doc_id, p.ord, p.text, d.source, d.path, d.row_index, ts_rank_cd(p.tsv, q)::float8 AS score
           FROM llma_passages p JOIN llma_documents d ON d.id = p.doc_id, to_tsquery('${TEXT_SEARCH_CONFIG}', $1) q
           WHERE p.tsv @@ q ORDER BY score DESC, p.id LIMIT $2::int`,
          [match, top],
        )
      ).rows.map((r) => ({ id: r.id, documentId: r.doc_id, source: r.source, path: r.path, row: r.row_index, ord: r.ord, text: r.text, score: r.score })),
    );
  }

  async stats(): Promise<DocumentStoreStats> {
    return this.db.run(async () => {
      const row = (
        await this.db.query<DocumentStoreStats>(
          `SELECT (SELECT count(*)::int FROM llma_documents) AS documents, (SELECT count(*)::int FROM llma_passages) AS passages,
             (SELECT count(DISTINCT coalesce(path, source))::int FROM llma_documents) AS files`,
        )
      ).rows[0];
      return { documents: row.documents, passages: row.passages, files: row.files };
    });
  }

  async close(): Promise<void> {
    if (this.owned) await this.db.close();
  }
}
