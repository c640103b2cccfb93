/** Bad input on the command line: prompt or reference files that are not UTF-8 text, weight types the writer cannot write, an empty prompt on a vocabulary without BOS: a named error, exit 1. */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ensureBuilt, llma } from "../helpers/cli.js";

let model: string;
let dir: string;
beforeAll(async () => {
  ensureBuilt();
  model = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  dir = mkdtempSync(join(tmpdir(), "llma-bad-input-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("llma generate: invalid UTF-8 files", () => {
  it("a prompt or reference file that is not valid UTF-8 fails with the file named", () => {
    const bad = join(dir, "bad.txt");
    writeFileSync(bad, Buffer.from([0x68, 0x69, 0x20, 0xc3, 0x28, 0xff, 0xfe, 0x0a])); // "hi " + invalid sequences
    const good = join(dir, "good.txt");
    writeFileSync(good, "hello");
    const prompt = llma("generate", "--model", model, "--prompt-file", bad, "--threads", "1", "--max-tokens", "4");
    expect(prompt.code).toBe(1);
    expect(prompt.stderr).toContain(`prompt file ${bad} is not valid UTF-8 text`);
    const reference = llma("generate", "--model", model, "--prompt-file", good, "--ref", bad, "--threads", "1", "--max-tokens", "4");
    expect(reference.code).toBe(1);
    expect(reference.stderr).toContain(`reference file ${bad} is not valid UTF-8 text`);
    expect(reference.stdout).toBe("");
  });
});

describe("llma make-model: weight types the writer cannot write", () => {
  it("an unknown quant, or K-quants on a shape whose rows are not multiples of 256: a named error, nothing written", () => {
    const out = join(dir, "models");
    const unknown = llma("make-model", "--shape", "tiny", "--quant", "Q3_K", "--out", join(out, "a.gguf"));
    expect(unknown.code).toBe(1);
    // Refused while parsing (names are matched in any case, see test/cli/habits.test.ts), with the valid ones listed.
    expect(unknown.stderr).toMatch(/unknown --quant "Q3_K": use one of Q8_0, Q4_0, F16, Q4_K_M, Q5_K_M, Q6_K/);
    const rows = llma("make-model", "--shape", "tiny", "--quant", "Q4_K_M", "--out", join(out, "b.gguf"));
    expect(rows.code).toBe(1);
    expect(rows.stderr).toMatch(/Q4_K_M: tensor "token_embd\.weight" has shape \[128, 32000\]: its rows of 128 values are not a multiple/);
    // Nothing half-written: no file, no temporary file (the directory may not even exist).
    let left: string[] = [];
    try {
      left = readdirSync(out);
    } catch {
      left = [];
    }
    expect(left).toEqual([]);
  });
});

describe("a vocabulary that adds no BOS (Qwen's)", () => {
  it("an empty prompt is a named error; a prompt of text decodes without a BOS", async () => {
    const qwen = await ensureModel({ shape: "qwen2-tiny", quant: "Q8_0" });
    const empty = join(dir, "empty.txt");
    writeFileSync(empty, "");
    const none = llma("generate", "--model", qwen, "--prompt-file", empty, "--threads", "1", "--max-tokens", "4");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/the prompt is empty and this model's vocabulary adds no BOS token to it/);
    const run = llma("generate", "--model", qwen, "--prompt", "The capital of France is", "--threads", "1", "--max-tokens", "4", "--json");
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.tokens).toHaveLength(4); // (that no BOS is added: test/cli/check.test.ts, addsBos false)
  }, 300_000);
});
