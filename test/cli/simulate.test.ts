/**
 * `llma simulate` end to end: spawns `node bin/llma.js simulate ...` (the built dist/; rebuilt here
 * first when a simulate source file is newer than its build) with the tiny model's GGUF as tokenizer.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ensureBuilt, llma } from "../helpers/cli.js";

let gguf: string;
let outDir: string;

beforeAll(async () => {
  ensureBuilt();
  gguf = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  outDir = mkdtempSync(join(tmpdir(), "llma-simulate-"));
});

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe("llma simulate", () => {
  it("--json prints exactly one JSON document on stdout (logs on stderr)", () => {
    const run = llma("simulate", "--data", "bench/data/llma-rag.jsonl", "--tokenizer", gguf, "--n", "1", "--k", "20", "--matcher", "paper", "--limit", "10", "--json");
    expect(run.stderr).toContain("llma-rag: 10 samples tokenized");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.grid).toEqual({ matchers: ["paper"], n: [1], k: [20] });
    const [dataset] = report.datasets;
    expect(dataset.samples).toBe(10);
    expect(dataset.points).toHaveLength(1);
    const [point] = dataset.points;
    expect(point).toMatchObject({ matcher: "paper", n: 1, k: 20, samples: 10, targetTokens: dataset.targetTokens, greedySteps: dataset.targetTokens + 10 });
    expect(point.llmaSteps).toBeLessThan(point.greedySteps);
    expect(point.tokensPerStep).toBeCloseTo(point.targetTokens / point.llmaSteps, 3);
    expect(point.stepReduction).toBeGreaterThan(1.5);
    expect(point.acceptedTokens).toBeLessThanOrEqual(point.draftedTokens);
  });

  it("runs the grid over what is not fixed, and --out writes JSON, Markdown and SVG charts", () => {
    const run = llma(
      "simulate",
      "--data",
      "bench/data/llma-rag.jsonl",
      "--data",
      "bench/data/llma-cnndm.jsonl",
      "--tokenizer",
      gguf,
      "--n",
      "2",
      "--limit",
      "4",
      "--out",
      outDir,
    );
    expect(run.stderr).not.toContain("error");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("llma-cnndm suffix n=2: best k=");
    const files = readdirSync(outDir).sort();
    expect(files).toEqual([
      "simulate-llma-cnndm-paper.svg",
      "simulate-llma-cnndm-suffix.svg",
      "simulate-llma-rag-paper.svg",
      "simulate-llma-rag-suffix.svg",
      "simulate.json",
      "simulate.md",
    ]);
    for (const file of files.filter((f) => f.endsWith(".svg"))) expect(readFileSync(join(outDir, file), "utf8")).toMatch(/^<svg[\s>]/);
    const report = JSON.parse(readFileSync(join(outDir, "simulate.json"), "utf8"));
    expect(report.grid.n).toEqual([2]);
    expect(report.grid.matchers).toEqual(["paper", "suffix"]);
    expect(report.datasets.map((d: { name: string }) => d.name)).toEqual(["llma-rag", "llma-cnndm"]);
    expect(report.datasets[0].points).toHaveLength(2 * report.grid.k.length);
    const markdown = readFileSync(join(outDir, "simulate.md"), "utf8");
    expect(markdown).toContain("### Best k per matcher and n");
    expect(markdown).toContain("### k sweep at n = 2");
    expect(markdown).toContain("![simulate-llma-rag-paper.svg](simulate-llma-rag-paper.svg)");
  });

  const bad: [string, string[], RegExp][] = [
    ["a missing data file", ["--data", "no/such.jsonl"], /data file not found: no\/such\.jsonl/],
    ["no data file", [], /give at least one --data FILE/],
    ["a missing tokenizer", ["--data", "bench/data/llma-rag.jsonl", "--tokenizer", "no/such.gguf"], /tokenizer file not found: no\/such\.gguf/],
    ["a non-GGUF tokenizer", ["--data", "bench/data/llma-rag.jsonl", "--tokenizer", "bench/data/README.md"], /tokenizer file bench\/data\/README\.md is not a GGUF file/],
    ["n out of range for the paper matcher", ["--data", "bench/data/llma-rag.jsonl", "--n", "6"], /n must be an integer between 1 and 5 for the paper matcher, got 6/],
    ["n out of range", ["--data", "bench/data/llma-rag.jsonl", "--n", "0", "--matcher", "suffix"], /--n must be between 1 and 64, got 0/],
    ["k = 0", ["--data", "bench/data/llma-rag.jsonl", "--k", "0"], /--k must be between 1 and 256, got 0/],
    ["k = 257", ["--data", "bench/data/llma-rag.jsonl", "--k", "257"], /--k must be between 1 and 256, got 257/],
    ["a non-integer k", ["--data", "bench/data/llma-rag.jsonl", "--k", "2.5"], /--k must be an integer, got "2\.5"/],
    ["an unknown matcher", ["--data", "bench/data/llma-rag.jsonl", "--matcher", "bigram"], /unknown matcher "bigram": expected paper or suffix/],
  ];
  for (const [what, args, message] of bad)
    it(`rejects ${what} with a named error`, () => {
      const needsTokenizer = !args.includes("--tokenizer") && args.length > 0;
      const run = llma("simulate", ...args, ...(needsTokenizer ? ["--tokenizer", gguf] : []), "--json");
      expect(run.code).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/^llma: error: /);
      expect(run.stderr).toMatch(message);
    });
});
