/**
 * `llma check` end to end: the report on the tiny model (what the file says, the backend, the exactness
 * verdict, rollback, the cost curve, recommendations), an F16 KV cache called not exact with the fix
 * named, and named errors (exit code 1) for a missing file, a non-GGUF file and an architecture
 * llama.cpp cannot load.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  dir = mkdtempSync(join(tmpdir(), "llma-check-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("llma check", () => {
  it("--json reports architecture, vocabulary, weights, backend, exactness, rollback, cost curve and recommendations", () => {
    const run = llma("check", "--model", model, "--threads", "1", "--json");
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.architecture).toBe("llama");
    expect(report.vocabulary).toMatchObject({ type: "llama", size: 32000, bos: { id: 1, text: "<s>" }, eos: { id: 2, text: "</s>" } });
    expect(report.weights.fileType).toBe("MOSTLY_Q8_0");
    expect(report.weights.tensorTypes.Q8_0).toBeGreaterThan(0);
    expect(report.backend).toMatchObject({ device: "CPU", threads: 1, kvCacheType: "Q8_0", flashAttention: true });
    expect(report.exactness).toMatchObject({ exact: true, exactUpTo: 64 });
    expect(report.rollback).toMatchObject({ recurrent: false, hybrid: false, kvTruncatable: true, needsCheckpoints: false });
    expect(report.costCurve[0].tokens).toBe(1);
    expect(report.recommendations[0]).toMatch(/^exact:/);
  }, 300_000);

  it("an F16 KV cache: not exact beyond 32-token passes, and the fix named (text report)", () => {
    const run = llma("check", "--model", model, "--threads", "1", "--kv-type", "F16");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/exactness {5}NOT EXACT \(exact up to 32-token passes/);
    expect(run.stdout).toMatch(/use --kv-type Q8_0 \(or BF16\): an F16 KV cache/);
    expect(run.stdout).toMatch(/--exactness relaxed/);
  }, 300_000);

  it("bad input: missing file, not GGUF, an architecture llama.cpp cannot load, a bad KV type", () => {
    const missing = llma("check", "--model", join(dir, "none.gguf"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/model file not found: .*none\.gguf/);

    const text = join(dir, "notes.gguf");
    writeFileSync(text, "just some text, not a model\n");
    const notGguf = llma("check", "--model", text);
    expect(notGguf.code).toBe(1);
    expect(notGguf.stderr).toMatch(/is not a GGUF file/);

    // The tiny model with its general.architecture value changed to one llama.cpp does not know.
    const unknown = join(dir, "unknown-arch.gguf");
    copyFileSync(model, unknown);
    const bytes = readFileSync(unknown);
    const key = Buffer.from("general.architecture");
    const at = bytes.indexOf(key) + key.length + 4 + 8; // value type (u32), string length (u64)
    expect(bytes.subarray(at, at + 5).toString()).toBe("llama");
    bytes.write("llamz", at, "latin1");
    writeFileSync(unknown, bytes);
    const badArch = llma("check", "--model", unknown, "--threads", "1");
    expect(badArch.code).toBe(1);
    expect(badArch.stderr).toMatch(/cannot load this llamz model/);

    const badKv = llma("check", "--model", model, "--kv-type", "Q9");
    expect(badKv.code).toBe(1);
    expect(badKv.stderr).toMatch(/unknown KV cache type "Q9": use one of Q8_0, BF16, F16, F32, Q4_0/);
  }, 300_000);
});
