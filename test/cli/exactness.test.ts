/**
 * `llma exactness` (the matrix) and exactness in `llma generate`, end to end on the tiny model: an F16
 * KV cache is called not exact and the matrix names the KV type that made the same weights exact;
 * `--gpu auto` without a GPU says so and exits 0; bad lists are named errors; generate's JSON carries
 * the verdict and warns once, on stderr, why strict mode drafts less.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ensureBuilt, llma } from "../helpers/cli.js";

let dir: string;
let model: string;
beforeAll(async () => {
  ensureBuilt();
  model = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  dir = mkdtempSync(join(tmpdir(), "llma-exactness-cli-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("llma exactness", () => {
  it("writes the matrix (JSON + Markdown) and names what made inexact weights exact", () => {
    const out = join(dir, "matrix");
    const run = llma("exactness", "--shapes", "tiny", "--quants", "Q8_0", "--kv-types", "F16,Q8_0", "--threads", "1", "--out", out, "--json");
    expect(run.code, run.stderr).toBe(0);
    const matrix = JSON.parse(run.stdout);
    expect(matrix.backend).toBe("CPU");
    const cell = (kv: string) => matrix.cells.find((c: { kvCacheType: string }) => c.kvCacheType === kv);
    expect(matrix.cells).toHaveLength(2);
    expect(cell("Q8_0")).toMatchObject({ shape: "tiny", quant: "Q8_0", threads: 1, exact: true, exactUpTo: 64, anchors: [272, 1040] });
    expect(cell("F16")).toMatchObject({ exact: false, exactUpTo: 32, madeExactBy: "KV Q8_0" });
    expect(JSON.parse(readFileSync(join(out, "exactness.json"), "utf8")).cells).toEqual(matrix.cells);
    const markdown = readFileSync(join(out, "exactness.md"), "utf8");
    expect(markdown).toMatch(/\| tiny \| Q8_0 \| F16 \| 1 \| no \| 32 \| 64 \(.*\) \| KV Q8_0 \|/);
    expect(markdown).toMatch(/\| tiny \| Q8_0 \| Q8_0 \| 1 \| \*\*yes\*\* \| 64 \|/);
    expect(readdirSync(out).sort()).toEqual(["exactness.json", "exactness.md"]); // no temporary file left behind
  }, 300_000);

  it("--gpu auto on a machine without a GPU says so and exits 0", () => {
    const run = llma("exactness", "--gpu", "auto", "--json");
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    if (result.backend === null) {
      expect(run.stderr).toMatch(/no GPU: node-llama-cpp found none/);
      expect(result.cells).toEqual([]);
    } else expect(result.backend).not.toBe("CPU"); // a machine with a GPU probes on it
  }, 300_000);

  it("bad lists are named errors", () => {
    const quant = llma("exactness", "--quants", "Q9_9");
    expect(quant.code).toBe(1);
    expect(quant.stderr).toMatch(/--quants: unknown "Q9_9", use Q8_0, Q4_0/);
    const kv = llma("exactness", "--kv-types", "F8");
    expect(kv.code).toBe(1);
    expect(kv.stderr).toMatch(/--kv-types: unknown "F8"/);
    const shape = llma("exactness", "--shapes", "giant");
    expect(shape.code).toBe(1);
    expect(shape.stderr).toMatch(/--shapes: unknown "giant", use tiny/);
  }, 60_000);
});

describe("llma generate: exactness", () => {
  it("an F16 KV cache: strict JSON carries the verdict, one warning on stderr; relaxed says not guaranteed", () => {
    const prompt = join(dir, "prompt.txt");
    writeFileSync(prompt, "The Eiffel Tower is in Paris. It was built in 1889. Where is the Eiffel Tower?");
    const args = ["generate", "--model", model, "--prompt-file", prompt, "--max-tokens", "16", "--threads", "1", "--kv-type", "F16", "--policy", "paper", "--json"];
    const strict = llma(...args);
    expect(strict.code, strict.stderr).toBe(0);
    const result = JSON.parse(strict.stdout);
    expect(result.kvCacheType).toBe("F16");
    expect(result.exactness).toMatchObject({ mode: "strict", exact: false, exactUpTo: 32 });
    expect(result.exactness.warning).toMatch(/passes of at most 32 tokens/);
    expect(result.stats).toMatchObject({ exact: true, exactness: "strict", maxPassWidth: 32 });
    expect(strict.stderr.match(/warning:/g)).toHaveLength(1);
    expect(strict.stderr).toMatch(/use --kv-type Q8_0/);

    const relaxed = JSON.parse(llma(...args, "--exactness", "relaxed").stdout);
    expect(relaxed.exactness.warning).toMatch(/NOT guaranteed identical/);
    expect(relaxed.stats.exactness).toBe("relaxed");
    expect(relaxed.stats.maxPassWidth).toBeNull();

    const bad = llma(...args, "--exactness", "loose");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown exactness "loose": use one of strict, relaxed/);
  }, 300_000);
});
