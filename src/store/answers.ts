/**
 * The answer cache: past (query, answer) pairs per tenant and model. A new query looks up the answers
 * of the most similar past queries (BM25 over the queries; an entry whose normalized query is the same
 * comes first) and generation copies from them as references: lossless, so a stale or wrong cached
 * answer costs a rejected draft, never a wrong token.
 *
 * Tenants are namespaces: every lookup is filtered by tenant in SQL, so one tenant's answers are never
 * another's references. The cache holds at most `maxEntries` answers (and optionally
 * `maxEntriesPerTenant` per tenant); beyond that the least recently used are evicted.
 */
import type Database from "better-sqlite3";
import type { AnswerStore, SimilarOptions } from "./backend.js";
import { guard, openDatabase, type OpenStoreOptions } from "./db.js";
import { ftsQuery, normalizeQuery } from "./text.js";
import type { AnswerCacheStats, AnswerInput, CachedAnswer } from "./records.js";

export type { AnswerCacheStats, AnswerInput, CachedAnswer } from "./records.js";

export interface AnswerCacheOptions {
  /** Most answers kept in the file; the least recently used beyond it are evicted (default 10,000). */
  readonly maxEntries?: number;
  /** Most answers kept per tenant (default: no limit besides maxEntries). */
  readonly maxEntriesPerTenant?: number;
}

export const DEFAULT_TENANT = "default";
export const DEFAULT_MAX_ENTRIES = 10_000;
/** Longest answer stored (characters); longer ones are cut (a reference needs no more). */
export const MAX_ANSWER_CHARS = 64 * 1024;

/** A stored answer's columns, as both engines (SQLite here, PostgreSQL in postgres.ts) hold them. */
export interface AnswerColumns {
  id: number;
  tenant: string;
  model: string;
  query: string;
  norm_query: string;
  answer: string;
  answer_tokens: Buffer | null;
  created_at: number;
  used_at: number;
  hits: number;
}

interface Row extends AnswerColumns {
  rank: number;
}

/** Token ids as little-endian int32s. */
function encodeTokens(tokens: readonly number[]): Buffer {
  const buffer = Buffer.alloc(tokens.length * 4);
  tokens.forEach((token, i) => buffer.writeInt32LE(token, i * 4));
  return buffer;
}

function decodeTokens(buffer: Buffer): number[] {
  const tokens: number[] = [];
  for (let i = 0; i + 4 <= buffer.length; i += 4) tokens.push(buffer.readInt32LE(i));
  return tokens;
}

/** Token ids as little-endian int32s (both engines store them so). */
export { encodeTokens, decodeTokens };

export function checkTenant(tenant: string): string {
  if (typeof tenant !== "string" || tenant.length === 0 || tenant.length > 256) throw new RangeError(`tenant must be a string of 1 to 256 characters, got ${JSON.stringify(tenant)}`);
  return tenant;
}

/** Checks a lookup's `top` (an integer >= 0). */
export function checkTop(top: number): number {
  if (!Number.isInteger(top) || top < 0) throw new RangeError(`top must be an integer >= 0, got ${top}`);
  return top;
}

/** Checks the caps (integers >= 1). */
export function checkCaps(options: AnswerCacheOptions): { maxEntries: number; maxEntriesPerTenant: number | undefined } {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxEntriesPerTenant = options.maxEntriesPerTenant;
  for (const [name, value] of [["maxEntries", maxEntries], ["maxEntriesPerTenant", maxEntriesPerTenant]] as const)
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
  return { maxEntries, maxEntriesPerTenant };
}

/** The answer cache in a SQLite file (the embedded default). */
export class AnswerCache implements AnswerStore {
  readonly maxEntries: number;
  readonly maxEntriesPerTenant: number | undefined;
  private readonly owned: boolean;

  /** Use `AnswerCache.open(path)`, or pass a database another store of the same file opened. */
  constructor(
    readonly db: Database.Database,
    readonly path: string,
    options: AnswerCacheOptions & { owned?: boolean } = {},
  ) {
    ({ maxEntries: this.maxEntries, maxEntriesPerTenant: this.maxEntriesPerTenant } = checkCaps(options));
    this.owned = options.owned ?? false;
  }

  get location(): string {
    return this.path;
  }

  static open(path: string, options: OpenStoreOptions & AnswerCacheOptions = {}): AnswerCache {
    return new AnswerCache(openDatabase(path, options), path, { ...options, owned: true });
  }

  /**
   * Stores an answer (replacing the tenant's answer by the same model to the same normalized query),
   * then evicts the least recently used beyond the caps. Returns its id and how many were evicted.
   */
  async put(input: AnswerInput): Promise<{ id: number; evicted: number }> {
    const tenant = checkTenant(input.tenant ?? DEFAULT_TENANT);
    const norm = normalizeQuery(input.query);
    if (norm === "") throw new RangeError("the query has no words to key the cache on");
    const answer = input.answer.slice(0, MAX_ANSWER_CHARS);
    const tokens = input.tokens ? encodeTokens(input.tokens.slice(0, MAX_ANSWER_CHARS)) : null;
    return guard(this.path, () =>
      this.db
        .transaction(() => {
          const now = this.clock();
          const { id } = this.db
            .prepare<[string, string, string, string, string, Buffer | null, number, number], { id: number }>(
              `INSERT INTO answers (tenant, model, query, norm_query, answer, answer_tokens, created_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(tenant, model, norm_query) DO UPDATE SET query = excluded.query, answer = excluded.answer,
                 answer_tokens = excluded.answer_tokens, created_at = excluded.created_at, used_at = excluded.used_at
               RETURNING id`,
            )
            .get(tenant, input.model, input.query, norm, answer, tokens, now, now)!;
          let evicted = 0;
          if (this.maxEntriesPerTenant !== undefined)
            evicted += this.db
              .prepare(
                `DELETE FROM answers WHERE id IN (SELECT id FROM answers WHERE tenant = ? ORDER BY used_at, id
                   LIMIT max(0, (SELECT count(*) FROM answers WHERE tenant = ?) - ?))`,
              )
              .run(tenant, tenant, this.maxEntriesPerTenant).changes;
          evicted += this.db
            .prepare("DELETE FROM answers WHERE id IN (SELECT id FROM answers ORDER BY used_at, id LIMIT max(0, (SELECT count(*) FROM answers) - ?))")
            .run(this.maxEntries).changes;
          return { id, evicted };
        })
        .immediate(),
    );
  }

  /**
   * The tenant's `top` (default 3) cached answers whose queries are most similar to `query`: an exact
   * (normalized) match first, then by BM25. Only the tenant's answers, and only `model`'s when given.
   * The answers returned count as used (LRU) unless `touch` is false.
   */
  async similar(query: string, options: SimilarOptions = {}): Promise<CachedAnswer[]> {
    const tenant = checkTenant(options.tenant ?? DEFAULT_TENANT);
    const top = checkTop(options.top ?? 3);
    const match = ftsQuery(query);
    if (match === undefined || top === 0) return [];
    const norm = normalizeQuery(query);
    return guard(this.path, () => {
      const rows = this.db
        .prepare<unknown[], Row>(
          `SELECT a.*, answers_fts.rank AS rank FROM answers_fts JOIN answers a ON a.id = answers_fts.rowid
           WHERE answers_fts MATCH ? AND a.tenant = ? ${options.model !== undefined ? "AND a.model = ?" : ""}
           ORDER BY (a.norm_query = ?) DESC, answers_fts.rank LIMIT ?`,
        )
        .all(...[match, tenant, ...(options.model !== undefined ? [options.model] : []), norm, top]);
      if (rows.length > 0 && (options.touch ?? true)) {
        const touch = this.db.prepare<[number, number]>("UPDATE answers SET used_at = ?, hits = hits + 1 WHERE id = ?");
        this.db.transaction(() => {
          const now = this.clock();
          for (const row of rows) touch.run(now, row.id);
        })();
      }
      return rows.map((r) => ({
        id: r.id,
        tenant: r.tenant,
        model: r.model,
        query: r.query,
        answer: r.answer,
        ...(r.answer_tokens && options.model !== undefined ? { tokens: decodeTokens(r.answer_tokens) } : {}),
        createdAt: r.created_at,
        usedAt: r.used_at,
        hits: r.hits,
        score: -r.rank,
        exact: r.norm_query === norm,
      }));
    });
  }

  /** Entries in all, per tenant (or only `tenant`'s), the oldest and newest use. */
  async stats(tenant?: string): Promise<AnswerCacheStats> {
    if (tenant !== undefined) checkTenant(tenant);
    return guard(this.path, () => {
      const filter = tenant !== undefined ? "WHERE tenant = ?" : "";
      const args = tenant !== undefined ? [tenant] : [];
      const tenants = this.db
        .prepare<unknown[], { tenant: string; entries: number; hits: number }>(
          `SELECT tenant, count(*) AS entries, sum(hits) AS hits FROM answers ${filter} GROUP BY tenant ORDER BY tenant`,
        )
        .all(...args);
      const range = this.db
        .prepare<unknown[], { oldest: number | null; newest: number | null; entries: number }>(
          `SELECT min(used_at) AS oldest, max(used_at) AS newest, count(*) AS entries FROM answers ${filter}`,
        )
        .get(...args)!;
      return { entries: range.entries, maxEntries: this.maxEntries, tenants, oldest: range.oldest, newest: range.newest };
    });
  }

  /** Removes every answer (or only `tenant`'s); returns how many. */
  async clear(tenant?: string): Promise<number> {
    if (tenant !== undefined) checkTenant(tenant);
    return guard(this.path, () =>
      this.db.transaction(() => {
        const removed =
          tenant !== undefined ? this.db.prepare("DELETE FROM answers WHERE tenant = ?").run(tenant).changes : this.db.prepare("DELETE FROM answers").run().changes;
        return removed;
      }).immediate(),
    );
  }

  async close(): Promise<void> {
    if (this.owned && this.db.open) this.db.close();
  }

  /** Milliseconds, strictly after every stored use: LRU order holds even for uses in the same millisecond. */
  private clock(): number {
    const latest = (this.db.prepare("SELECT max(used_at) AS t FROM answers").get() as { t: number | null }).t ?? 0;
    return Math.max(Date.now(), latest + 1);
  }
}
