/**
 * `llma generate` end to end on the tiny model: the JSON contract (one document on stdout), lossless
 * output against plain greedy, acceleration with a reference that holds the continuation, and the
 * named errors for bad input.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ensureBuilt, llma } from "../helpers/cli.js";

let model: string;
let dir: string;
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

beforeAll(async () => {
  ensureBuilt();
  model = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  dir = mkdtempSync(join(tmpdir(), "llma-generate-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("llma generate", () => {
  it("--compare-greedy --json: one JSON document, identical output, > 3 tokens/step from a reference holding the continuation", () => {
    const prompt = file("prompt.txt", "docs:\nThe Eiffel Tower is in Paris. It was built in 1889.\nquery: where is the Eiffel Tower?\nanswer:");
    // The model's own greedy continuation, as a cached answer would hold it.
    const plain = llma("generate", "--model", model, "--prompt-file", prompt, "--k", "0", "--max-tokens", "96", "--threads", "2", "--json");
    expect(plain.code, plain.stderr).toBe(0);
    const continuation = JSON.parse(plain.stdout).text as string;
    const reference = file("reference.txt", continuation);
    const run = llma("generate", "--model", model, "--prompt-file", prompt, "--ref", reference, "--n", "1", "--k", "20", "--max-tokens", "96", "--threads", "2", "--compare-greedy", "--json");
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout); // throws if stdout holds anything but one JSON document
    expect(result.identical).toBe(true);
    expect(result.text).toBe(continuation);
    expect(result.stats.generatedTokens).toBe(96);
    expect(result.stats.tokensPerStep).toBeGreaterThan(3);
    expect(result.greedy.steps).toBe(96);
    expect(typeof result.speedup).toBe("number");
  });

  it("the default policy (auto, calibrated once) is lossless too", () => {
    const prompt = file("prompt2.txt", "Once upon a time");
    const reference = file("ref2.txt", "Once upon a time there was a reference that matched nothing in particular.");
    const run = llma("generate", "--model", model, "--prompt-file", prompt, "--ref", reference, "--max-tokens", "40", "--threads", "2", "--compare-greedy", "--json");
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.policy).toBe("auto");
    expect(result.identical).toBe(true);
  });

  it("--temperature samples losslessly: --compare-greedy runs plain sampling with the same seed", () => {
    const prompt = file("prompt3.txt", "question: where is the Eiffel Tower?\nanswer:");
    const sample = (...args: string[]) => {
      const run = llma("generate", "--model", model, "--prompt-file", prompt, "--max-tokens", "48", "--threads", "1", "--temperature", "0.7", "--json", ...args);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout);
    };
    const first = sample("--seed", "7");
    expect(first.stats.seed).toBe(7);
    expect(first.sampling).toMatchObject({ temperature: 0.7, seed: 7 });
    // A previous sampled answer as the reference: same seed, all copied; another seed, partly.
    const reference = file("sampled.txt", first.text);
    const same = sample("--seed", "7", "--ref", reference, "--k", "16", "--compare-greedy");
    expect(same.identical).toBe(true);
    expect(same.text).toBe(first.text);
    expect(same.stats.tokensPerStep).toBeGreaterThan(2);
    const other = sample("--seed", "8", "--top-p", "0.95", "--top-k", "50", "--min-p", "0.01", "--ref", reference, "--k", "8", "--compare-greedy");
    expect(other.identical).toBe(true);
    expect(other.stats.seed).toBe(8);
    // No seed: a random one, reported.
    expect(Number.isInteger(sample().stats.seed)).toBe(true);
  });

  it("streams plain text to stdout without --json", () => {
    const run = llma("generate", "--model", model, "--prompt", "Hello", "--max-tokens", "8", "--threads", "2");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().length).toBeGreaterThan(0);
    expect(() => JSON.parse(run.stdout)).toThrow();
  });

  it.each([
    [["--model", "/nonexistent.gguf", "--prompt", "x"], /model file not found: \/nonexistent.gguf/],
    [["--prompt", "x"], /required option '-m, --model <path>'/],
    [["--model", "MODEL", "--prompt", "x", "--prompt-file", "p.txt"], /exactly one of --prompt TEXT or --prompt-file FILE/],
    [["--model", "MODEL"], /exactly one of --prompt TEXT or --prompt-file FILE/],
    [["--model", "MODEL", "--prompt", "x", "--k", "-1"], /--k must be between 0 and 256, got -1/],
    [["--model", "MODEL", "--prompt", "x", "--n", "two"], /--n must be an integer, got "two"/],
    [["--model", "MODEL", "--prompt", "x", "--policy", "fast"], /unknown --policy "fast"/],
    [["--model", "MODEL", "--prompt", "x", "--temperature", "hot"], /--temperature must be a number, got "hot"/],
    [["--model", "MODEL", "--prompt", "x", "--top-p", "0"], /--top-p must be above 0 and at most 1, got 0/],
    [["--model", "MODEL", "--prompt", "x", "--seed", "1.5"], /--seed must be an integer/],
    [["--model", "MODEL", "--prompt", "x", "--policy", "auto", "--k", "4"], /cannot be combined with --policy auto/],
    [["--model", "MODEL", "--prompt", "x", "--ref", "/nonexistent.txt"], /reference file not found: \/nonexistent.txt/],
    [["--model", "NOTGGUF", "--prompt", "x"], /is not a GGUF file/],
  ])("rejects bad input with a named error: %j", (args, message) => {
    const resolved = args.map((a) => (a === "MODEL" ? model : a === "NOTGGUF" ? file("fake.gguf", "this is not a model, just text padding padding padding") : a));
    const run = llma("generate", ...resolved);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe("");
  });

  it("every command explains itself with an example", () => {
    for (const command of ["generate", "make-model", "demo", "bench", "simulate"]) {
      const run = llma(command, "--help");
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/Example/);
    }
  });
});
