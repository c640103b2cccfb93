/**
 * Large references on the command line: tokenizing and indexing them is shown (a line on a non-TTY
 * stderr, a bar on a terminal) and Ctrl-C stops it within a second or so, exit 130.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { indexingProgressDisplay, PROGRESS_MIN_CHARS } from "../../src/cli/indexing-progress.js";
import { ensureBuilt, llma } from "../helpers/cli.js";
import { largeText } from "../helpers/large-text.js";

let model: string;
let dir: string;
let big: string;
beforeAll(async () => {
  ensureBuilt();
  model = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  dir = mkdtempSync(join(tmpdir(), "llma-indexing-"));
  big = join(dir, "big.txt");
  writeFileSync(big, largeText(5_000_000, 11)); // ~5 MB: seconds of tokenizing and indexing
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("llma generate with a large reference", () => {
  it("SIGINT once indexing has begun: exits 130 within a slice (well before the work would end), saying what was interrupted", async () => {
    const child = spawn("node", ["bin/llma.js", "generate", "-m", model, "-p", "Hello", "--ref", big, "-n", "4", "-t", "1", "--policy", "paper", "--json"]);
    let stderr = "";
    let stdout = "";
    let sentAt = 0;
    child.stdout.on("data", (data) => (stdout += data));
    const exited = new Promise<{ code: number | null; afterSigint: number }>((resolve) =>
      child.on("exit", (code) => resolve({ code, afterSigint: performance.now() - sentAt })),
    );
    child.stderr.on("data", (data) => {
      stderr += data;
      // Half a second into indexing: past the first slices, far from the end (~10 s of work).
      if (sentAt === 0 && /tokenizing and indexing 5\.0 MB of references \(Ctrl-C stops\)/.test(stderr)) {
        sentAt = -1;
        setTimeout(() => {
          sentAt = performance.now();
          child.kill("SIGINT");
        }, 500);
      }
    });
    const { code, afterSigint } = await exited;
    expect(sentAt, stderr).toBeGreaterThan(0);
    expect(code, stderr).toBe(130);
    // It stops within a slice, not after the ~10 s of work left (loose: a loaded machine is slow at exiting too).
    expect(afterSigint).toBeLessThan(5000);
    expect(stderr).toMatch(/llma: interrupted \(SIGINT\) while tokenizing and indexing the references/);
    expect(stdout).toBe("");
  }, 300_000);

  it("uninterrupted: the start and end lines on a non-TTY stderr, output identical to plain greedy; --no-progress is quiet", () => {
    const reference = join(dir, "medium.txt");
    writeFileSync(reference, largeText(PROGRESS_MIN_CHARS + 50_000, 12));
    const args = ["generate", "-m", model, "-p", "Dr. Smith paid", "--ref", reference, "-n", "24", "-t", "1", "--policy", "paper", "--compare-greedy", "--json"];
    const run = llma(...args);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/llma: tokenizing and indexing 0\.3 MB of references \(Ctrl-C stops\)\.\.\.\n/);
    expect(run.stderr).toMatch(/llma: indexed 0\.3 MB of references \(\d+ tokens\) in \d+\.\d s/);
    expect(run.stderr).not.toMatch(/\r|\x1b\[/); // no bar frames in a log
    expect(JSON.parse(run.stdout).identical).toBe(true);
    const quiet = llma(...args, "--no-progress");
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toMatch(/indexing|indexed/);
  }, 300_000);
});

describe("llma generate: Ctrl-C while decoding", () => {
  it("stops at the next step: the text so far on stdout, exit 130, the token count named", async () => {
    const child = spawn("node", ["bin/llma.js", "generate", "-m", model, "-p", "Once upon a time", "-n", "2000", "-c", "2048", "-t", "1", "--policy", "paper", "--k", "0"]);
    let stdout = "";
    let stderr = "";
    let sent = false;
    child.stderr.on("data", (data) => (stderr += data));
    child.stdout.on("data", (data) => {
      stdout += data;
      if (!sent) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(sent).toBe(true);
    expect(code, stderr).toBe(130);
    const generated = Number(/llma: interrupted \(SIGINT\) after (\d+) generated tokens/.exec(stderr)?.[1]);
    expect(generated).toBeGreaterThan(0);
    expect(generated).toBeLessThan(2000);
    expect(stdout.trim().length).toBeGreaterThan(0);
  }, 300_000);
});

describe("indexingProgressDisplay on a terminal", () => {
  it("draws a bar through both phases (characters, then tokens) and ends with the summary line", () => {
    let written = "";
    const terminal = Object.assign(
      new Writable({
        write(chunk, _encoding, done) {
          written += chunk;
          done();
        },
      }),
      { isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true, clearScreenDown: () => true },
    ) as unknown as NodeJS.WriteStream;
    const display = indexingProgressDisplay(terminal, 1_000_000, true);
    display.onProgress!({ phase: "tokenizing", done: 500_000, total: 1_000_000 });
    display.onProgress!({ phase: "tokenizing", done: 1_000_000, total: 1_000_000 });
    display.onProgress!({ phase: "indexing", done: 100_000, total: 250_000 });
    expect(display.finished).toBe(false);
    display.onProgress!({ phase: "indexing", done: 250_000, total: 250_000 });
    expect(display.finished).toBe(true);
    display.stop();
    expect(written).toMatch(/references: tokenizing \[.*\] \d+% \| \d+\/1000000 characters/);
    expect(written).toMatch(/references: indexing \[.*\] 100% \| 250000\/250000 tokens/);
    expect(written).toMatch(/llma: indexed 1\.0 MB of references \(250000 tokens\)/);
  });

  it("shows nothing below PROGRESS_MIN_CHARS or when disabled, but still tracks the end", () => {
    let written = "";
    const stream = new Writable({ write: (chunk, _e, done) => ((written += chunk), done()) }) as unknown as NodeJS.WriteStream;
    for (const display of [indexingProgressDisplay(stream, PROGRESS_MIN_CHARS - 1, true), indexingProgressDisplay(stream, 5_000_000, false)]) {
      display.onProgress!({ phase: "indexing", done: 10, total: 10 });
      expect(display.finished).toBe(true);
      display.stop();
    }
    expect(written).toBe("");
  });
});
