/**
 * The document store: text files, folders and LLMA-schema JSONL files cut into sentence-aware passages,
 * indexed with SQLite FTS5 and searched by BM25. Re-indexing a file replaces its documents (unchanged
 * ones are skipped by content hash), and documents a file no longer holds are removed.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import type Database from "better-sqlite3";
import { parseLlmaRows } from "../data/llma-jsonl.js";
import type { PassageStore } from "./backend.js";
import { guard, openDatabase, type OpenStoreOptions } from "./db.js";
import { chunkText, DEFAULT_MAX_WORDS, DEFAULT_TARGET_WORDS, ftsQuery, type ChunkOptions } from "./text.js";
import type { DocumentInput, DocumentStoreStats, IndexReport, Passage } from "./records.js";

export type { DocumentInput, DocumentStoreStats, IndexReport, Passage } from "./records.js";

export type DocumentStoreOptions = OpenStoreOptions & ChunkOptions;

/** Extensions indexed when walking a folder (a file named explicitly is indexed whatever its name). */
export const TEXT_EXTENSIONS = [".txt", ".md", ".markdown", ".rst", ".text", ".jsonl", ".ndjson"];
const JSONL_EXTENSIONS = [".jsonl", ".ndjson"];

interface Collected {
  docs: DocumentInput[];
  /** Absolute paths of the files read (their stale documents are removed). */
  files: Set<string>;
  skipped: { path: string; reason: string }[];
}

/** The document store in a SQLite file (the embedded default). */
export class DocumentStore implements PassageStore {
  private readonly chunk: Required<ChunkOptions>;
  private readonly owned: boolean;

  /** Use `DocumentStore.open(path)`, or pass a database another store of the same file opened. */
  constructor(
    readonly db: Database.Database,
    readonly path: string,
    options: ChunkOptions & { owned?: boolean } = {},
  ) {
    this.chunk = { targetWords: options.targetWords ?? DEFAULT_TARGET_WORDS, maxWords: options.maxWords ?? DEFAULT_MAX_WORDS };
    this.owned = options.owned ?? false;
  }

  get location(): string {
    return this.path;
  }

  static open(path: string, options: DocumentStoreOptions = {}): DocumentStore {
    return new DocumentStore(openDatabase(path, options), path, { ...options, owned: true });
  }

  /** Indexes files, folders (recursively, the TEXT_EXTENSIONS files) and LLMA JSONL files, all in one transaction. */
  async addPaths(paths: readonly string[]): Promise<IndexReport> {
    return addCollected(this, paths);
  }

  /**
   * Adds documents in one transaction: new keys are chunked and indexed, changed ones replaced,
   * identical ones skipped. Documents whose `path` is in `replaceFiles` but that are not given are removed.
   */
  async add(docs: readonly DocumentInput[], replaceFiles: ReadonlySet<string> = new Set()): Promise<IndexReport> {
    return guard(this.path, () => {
      const db = this.db;
      const find = db.prepare<[string], { id: number; hash: string }>("SELECT id, hash FROM documents WHERE key = ?");
      const remove = db.prepare<[number]>("DELETE FROM documents WHERE id = ?");
      const insertDoc = db.prepare<[string, string, string | null, number | null, string, number]>(
        "INSERT INTO documents (key, source, path, row, hash, added_at) VALUES (?, ?, ?, ?, ?, ?)",
      );
      const insertPassage = db.prepare<[number | bigint, number, string]>("INSERT INTO passages (doc_id, ord, text) VALUES (?, ?, ?)");
      const keysOf = db.prepare<[string], { id: number; key: string }>("SELECT id, key FROM documents WHERE path = ?");
      let added = 0;
      let updated = 0;
      let unchanged = 0;
      let removed = 0;
      let passages = 0;
      db.transaction(() => {
        const now = Date.now();
        const given = new Set<string>();
        for (const doc of docs) {
          const key = doc.key ?? doc.source;
          given.add(key);
          const hash = documentHash(doc.text, this.chunk);
          const existing = find.get(key);
          if (existing?.hash === hash) {
            unchanged++;
            continue;
          }
          if (existing) {
            remove.run(existing.id);
            updated++;
          } else added++;
          const id = insertDoc.run(key, doc.source, doc.path ?? null, doc.row ?? null, hash, now).lastInsertRowid;
          chunkText(doc.text, this.chunk).forEach((text, ord) => {
            insertPassage.run(id, ord, text);
            passages++;
          });
        }
        for (const file of replaceFiles)
          for (const stale of keysOf.all(file))
            if (!given.has(stale.key)) {
              remove.run(stale.id);
              removed++;
            }
      }).immediate();
      return { files: 0, documents: docs.length, added, updated, unchanged, removed, passages, skipped: [] };
    });
  }

  /** The `top` passages that best match free text by BM25 (the text is quoted term by term, never FTS syntax). */
  async search(query: string, options: { top?: number } = {}): Promise<Passage[]> {
    const top = checkSearchTop(options.top ?? 10);
    const match = ftsQuery(query);
    if (match === undefined) return [];
    return guard(this.path, () =>
      this.db
        .prepare<[string, number], { id: number; doc_id: number; ord: number; text: string; source: string; path: string | null; row: number | null; rank: number }>(
          `SELECT p.id, p.doc_id, p.ord, p.text, d.source, d.path, d.row, passages_fts.rank AS rank
           FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid JOIN documents d ON d.id = p.doc_id
           WHERE passages_fts MATCH ? ORDER BY passages_fts.rank LIMIT ?`,
        )
        .all(match, top)
        .map((r) => ({ id: r.id, documentId: r.doc_id, source: r.source, path: r.path, row: r.row, ord: r.ord, text: r.text, score: -r.rank })),
    );
  }

  async stats(): Promise<DocumentStoreStats> {
    return guard(this.path, () => {
      const row = this.db
        .prepare<[], DocumentStoreStats>(
          "SELECT (SELECT count(*) FROM documents) AS documents, (SELECT count(*) FROM passages) AS passages, (SELECT count(DISTINCT coalesce(path, source)) FROM documents) AS files",
        )
        .get()!;
      return { documents: row.documents, passages: row.passages, files: row.files };
    });
  }

  async close(): Promise<void> {
    if (this.owned && this.db.open) this.db.close();
  }
}

/** Content hash of a document under these chunk settings: unchanged documents are skipped on re-indexing. */
export function documentHash(text: string, chunk: Required<ChunkOptions>): string {
  return createHash("sha256").update(`${chunk.targetWords}/${chunk.maxWords}\0${text}`).digest("hex");
}

/** Checks a search's `top` (an integer >= 1). */
export function checkSearchTop(top: number): number {
  if (!Number.isInteger(top) || top < 1) throw new RangeError(`top must be an integer >= 1, got ${top}`);
  return top;
}

/** Reads `paths` (files, folders, JSONL) and adds their documents to `store` in one call: what addPaths does on either engine. */
export async function addCollected(store: Pick<PassageStore, "add">, paths: readonly string[]): Promise<IndexReport> {
  const collected: Collected = { docs: [], files: new Set(), skipped: [] };
  for (const path of paths) await collect(path, true, collected);
  const report = await store.add(collected.docs, collected.files);
  return { ...report, files: collected.files.size, skipped: collected.skipped };
}

async function collect(path: string, explicit: boolean, out: Collected): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`file or folder not found: ${path}`);
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
  if (info.isDirectory()) {
    const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const child = join(path, entry.name);
      if (entry.isDirectory()) await collect(child, false, out);
      else if (entry.isFile()) {
        if (TEXT_EXTENSIONS.includes(extname(entry.name).toLowerCase())) await collect(child, false, out);
        else out.skipped.push({ path: child, reason: `not a text file extension (${TEXT_EXTENSIONS.join(" ")})` });
      }
    }
    return;
  }
  if (!info.isFile()) {
    if (explicit) throw new Error(`${path} is not a regular file or folder`);
    return;
  }
  const absolute = resolve(path);
  const buffer = await readFile(path);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(buffer);
    if (text.includes("\0")) throw new Error("NUL byte");
  } catch {
    if (explicit) throw new Error(`${path} is not UTF-8 text (binary files cannot be indexed)`);
    out.skipped.push({ path, reason: "not UTF-8 text" });
    return;
  }
  out.files.add(absolute);
  if (JSONL_EXTENSIONS.includes(extname(path).toLowerCase())) {
    out.docs.push(...parseJsonlDocuments(text, path, absolute));
    return;
  }
  if (text.trim() !== "") out.docs.push({ text, source: path, key: absolute, path: absolute });
}

/**
 * Documents of a JSONL file in the LLMA schema (data/llma-jsonl.ts): every non-empty doc of every row,
 * with `file#row` (0-based line) as its source. Errors name the file, line and field.
 */
export function parseJsonlDocuments(content: string, path: string, absolute = resolve(path)): DocumentInput[] {
  const docs: DocumentInput[] = [];
  for (const { line: row, docs: rowDocs } of parseLlmaRows(content, path))
    rowDocs.forEach((text, i) => {
      if (text.trim() !== "") docs.push({ text, source: `${path}#${row}`, key: `${absolute}#${row}.${i}`, path: absolute, row });
    });
  return docs;
}
