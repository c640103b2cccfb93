/**
 * Durability: a child process writing to a store (answers one per transaction, documents in batches
 * of 20 per transaction) is SIGKILLed mid-write, three times over. Reopening finds every row the
 * child reported committed, the database passes PRAGMA integrity_check, and both FTS5 indexes pass
 * their own integrity checks.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlmaStore } from "../../src/store/store.js";
import { ensureBuilt } from "../helpers/cli.js";

const WRITER = `
import { writeSync } from "node:fs";
const [storeModule, path, start] = process.argv.slice(2);
const { LlmaStore } = await import(storeModule);
const store = LlmaStore.open(path);
const filler = "Some words that make the row long enough to span pages. ".repeat(30);
for (let i = Number(start); ; i++) {
  await store.answers.put({ query: "question " + i + " about subject" + i, answer: "answer " + i + " " + filler, model: "m", tenant: "t" + (i % 3) });
  writeSync(1, "answer " + i + "\\n");
  await store.documents.add(Array.from({ length: 20 }, (_, j) => ({ text: "Document " + i + "-" + j + " on topic" + i + "x" + j + ". " + filler, source: "s" + i + "-" + j })));
  writeSync(1, "docs " + i + "\\n");
}
`;

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "llma-durability-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the writer until it has reported `commits` commits, then SIGKILLs it; returns what it reported. */
function writeThenKill(script: string, path: string, start: number, commits: number): Promise<string[]> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script, resolve("dist/src/store/index.js"), path, String(start)], { stdio: ["ignore", "pipe", "pipe"] });
    let buffered = "";
    let stderr = "";
    const lines: string[] = [];
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (data: string) => {
      buffered += data;
      const complete = buffered.split("\n");
      buffered = complete.pop()!;
      lines.push(...complete);
      if (lines.length >= commits && !child.killed) child.kill("SIGKILL");
    });
    child.stderr.on("data", (data) => (stderr += String(data)));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`the writer exited with ${code} before it was killed:\n${stderr}`));
      else resolvePromise(lines);
    });
  });
}

describe("durability", () => {
  it("every committed row survives SIGKILL mid-write; integrity_check passes", async () => {
    const script = join(dir, "writer.mjs");
    writeFileSync(script, WRITER);
    const path = join(dir, "durable.db");
    const committed: string[] = [];
    let start = 0;
    for (let round = 0; round < 3; round++) {
      const lines = await writeThenKill(script, path, start, 60 + round * 25);
      committed.push(...lines);
      start += 1000;
    }
    const answers = committed.filter((l) => l.startsWith("answer ")).map((l) => Number(l.split(" ")[1]));
    const docs = committed.filter((l) => l.startsWith("docs ")).map((l) => Number(l.split(" ")[1]));
    expect(answers.length).toBeGreaterThan(90);

    const store = LlmaStore.open(path, { create: false });
    try {
      expect(store.db.pragma("integrity_check", { simple: true })).toBe("ok");
      store.db.exec("INSERT INTO passages_fts(passages_fts) VALUES ('integrity-check')");
      store.db.exec("INSERT INTO answers_fts(answers_fts) VALUES ('integrity-check')");
      expect(store.db.pragma("foreign_key_check")).toEqual([]);
      const queries = new Set(store.db.prepare<[], { query: string }>("SELECT query FROM answers").all().map((r) => r.query));
      for (const i of answers) expect(queries.has(`question ${i} about subject${i}`), `answer ${i}`).toBe(true);
      const sources = new Set(store.db.prepare<[], { source: string }>("SELECT source FROM documents").all().map((r) => r.source));
      for (const i of docs) for (let j = 0; j < 20; j++) expect(sources.has(`s${i}-${j}`), `document s${i}-${j}`).toBe(true);
      // Batches are all or nothing: every document batch present is complete.
      const perBatch = store.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM documents GROUP BY substr(source, 1, instr(source, '-'))").all();
      expect(perBatch.every((b) => b.n === 20)).toBe(true);
      // The FTS index answers for the last committed rows.
      const last = docs[docs.length - 1];
      expect((await store.documents.search(`topic${last}x7`, { top: 1 }))[0].source).toBe(`s${last}-7`);
      const lastAnswer = answers[answers.length - 1];
      expect((await store.answers.similar(`subject${lastAnswer}`, { tenant: `t${lastAnswer % 3}`, top: 1 }))[0].query).toBe(`question ${lastAnswer} about subject${lastAnswer}`);
      console.log(`durability: 3 SIGKILLs; ${answers.length} committed answers and ${docs.length} committed batches of 20 documents all found; ${(await store.documents.stats()).documents} documents, ${(await store.answers.stats()).entries} answers in the file`);
    } finally {
      store.close();
    }
  });
});
