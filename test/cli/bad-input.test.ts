/** `llma generate` with prompt or reference files that are not UTF-8 text: a named error, exit 1. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
