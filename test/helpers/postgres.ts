/**
 * The tests' PostgreSQL (started by postgres-global-setup.ts): a fresh database per call, stopping and
 * starting the server (faults), and the two store backends for suites that run on both engines.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { AnswerCache, type AnswerCacheOptions } from "../../src/store/answers.js";
import type { AnswerStore, PassageStore } from "../../src/store/backend.js";
import type { OpenStoreOptions } from "../../src/store/db.js";
import { DocumentStore } from "../../src/store/documents.js";
import { PostgresAnswerCache, PostgresDocumentStore } from "../../src/store/postgres.js";
import type { ChunkOptions } from "../../src/store/text.js";

/** The admin URL of the tests' server; throws (the test fails) with the reason when it could not be started. */
export function pgUrl(): string {
  const url = process.env.LLMA_TEST_PG_URL;
  if (url) return url;
  throw new Error(`the tests' PostgreSQL server is not running: ${process.env.LLMA_TEST_PG_ERROR ?? "LLMA_TEST_PG_URL is not set (run through vitest, whose globalSetup starts it)"}`);
}

let databases = 0;

/** A new, empty database on the tests' server; its URL. */
export async function freshDatabase(): Promise<string> {
  const admin = new pg.Pool({ connectionString: pgUrl(), max: 1 });
  const name = `llma_test_${process.pid}_${Date.now().toString(36)}_${databases++}`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(pgUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

interface PgCtl {
  pgCtl: string;
  data: string;
  log: string;
  options: string;
  runAs: string | null;
}

function pgCtl(args: string[]): void {
  const ctl = JSON.parse(process.env.LLMA_TEST_PG_CTL ?? "null") as PgCtl | null;
  if (!ctl) throw new Error(`cannot control the tests' PostgreSQL server: ${process.env.LLMA_TEST_PG_ERROR ?? "LLMA_TEST_PG_CTL is not set"}`);
  const command = [ctl.pgCtl, "-D", ctl.data, ...args.flatMap((a) => (a === "$LOG" ? [ctl.log] : a === "$OPTIONS" ? [ctl.options] : [a]))];
  const full = ctl.runAs ? ["runuser", "-u", ctl.runAs, "--", ...command] : command;
  const result = spawnSync(full[0], full.slice(1), { encoding: "utf8", timeout: 60_000 });
  if (result.status !== 0) throw new Error(`${command.join(" ")} failed: ${(result.stderr || result.stdout).trim()}`);
}

/** Stops the tests' server (fast: open connections are cut, open transactions roll back). */
export function stopPostgres(): void {
  pgCtl(["-m", "fast", "-w", "stop"]);
}

/** Starts it again on the same port and data. */
export function startPostgres(): void {
  pgCtl(["-l", "$LOG", "-o", "$OPTIONS", "-w", "-t", "60", "start"]);
}

/** One store engine, as the shared suites open it. */
export interface StoreBackend {
  readonly name: "sqlite" | "postgresql";
  answers(options?: AnswerCacheOptions & OpenStoreOptions): Promise<AnswerStore>;
  documents(options?: ChunkOptions & OpenStoreOptions): Promise<PassageStore>;
}

let files = 0;
let tempDir: string | undefined;
const sqliteFile = () => join((tempDir ??= mkdtempSync(join(tmpdir(), "llma-store-suite-"))), `store-${files++}.db`);

/** Both engines: every call opens a fresh store (a new SQLite file, a new PostgreSQL database). */
export const STORE_BACKENDS: readonly StoreBackend[] = [
  {
    name: "sqlite",
    answers: async (options = {}) => AnswerCache.open(sqliteFile(), options),
    documents: async (options = {}) => DocumentStore.open(sqliteFile(), options),
  },
  {
    name: "postgresql",
    answers: async (options = {}) => PostgresAnswerCache.open(await freshDatabase(), options),
    documents: async (options = {}) => PostgresDocumentStore.open(await freshDatabase(), options),
  },
];
