/**
 * llama.cpp users' habits on the command line: the prompt from standard input (`-f -`), llama.cpp's
 * short flags, weight and KV cache type names in any case, and a warning (not silence) when
 * --context-size is above what the model was trained for.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { buildProgram } from "../../src/cli/main.js";
import { readTextFile, resolveQuant } from "../../src/cli/options.js";
import { ensureBuilt, llma } from "../helpers/cli.js";

let model: string;
let dir: string;
beforeAll(async () => {
  ensureBuilt();
  model = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  dir = mkdtempSync(join(tmpdir(), "llma-habits-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI with `input` on its stdin (undefined: stdin is /dev/null, as with `< /dev/null`). */
function llmaWithStdin(input: string | undefined, ...args: string[]) {
  const result = spawnSync("node", ["bin/llma.js", ...args], {
    encoding: "utf8",
    timeout: 300_000,
    ...(input === undefined ? { stdio: ["ignore", "pipe", "pipe"] } : { input }),
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("the prompt from standard input", () => {
  it("-f - reads stdin to its end: the same output as --prompt with that text", () => {
    const prompt = "The Eiffel Tower is in Paris.\nIt was built in 1889.\nquery: where is it?\nanswer:";
    const piped = llmaWithStdin(prompt, "generate", "--model", model, "-f", "-", "--max-tokens", "12", "--threads", "1", "--policy", "paper", "--json");
    expect(piped.code, piped.stderr).toBe(0);
    const direct = llma("generate", "--model", model, "--prompt", prompt, "--max-tokens", "12", "--threads", "1", "--policy", "paper", "--json");
    expect(direct.code, direct.stderr).toBe(0);
    expect(JSON.parse(piped.stdout).tokens).toEqual(JSON.parse(direct.stdout).tokens);
    expect(JSON.parse(piped.stdout).tokens).toHaveLength(12);
  });

  it("--ref - reads the reference from stdin (the prompt then comes from --prompt)", () => {
    const reference = "a reference that only standard input holds";
    const viaStdin = llmaWithStdin(reference, "generate", "--model", model, "--prompt", "hello", "--ref", "-", "--max-tokens", "8", "--threads", "1", "--policy", "paper", "--json");
    expect(viaStdin.code, viaStdin.stderr).toBe(0);
    expect(JSON.parse(viaStdin.stdout).tokens).toHaveLength(8);
  });

  it("an empty or closed stdin is a named error, exit 1, nothing on stdout", () => {
    for (const input of ["", undefined]) {
      const run = llmaWithStdin(input, "generate", "--model", model, "--prompt-file", "-", "--threads", "1");
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/the prompt was to come from standard input .*but stdin was empty or closed/);
      expect(run.stdout).toBe("");
    }
  });

  it("stdin can be read once: --prompt-file - with --ref - is refused before reading", () => {
    const run = llmaWithStdin("text", "generate", "--model", model, "--prompt-file", "-", "--ref", "-", "--threads", "1");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/standard input can be read only once, but --prompt-file - and --ref - both ask for it/);
  });

  it("readTextFile('-'): a stream that fails is named as standard input; invalid UTF-8 too", async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error("EPIPE: the writer went away"));
      },
    });
    await expect(readTextFile("-", "prompt", failing)).rejects.toThrow(/cannot read the prompt from standard input: EPIPE: the writer went away/);
    await expect(readTextFile("-", "reference", Readable.from([Buffer.from([0xc3, 0x28])]))).rejects.toThrow(/reference read from standard input is not valid UTF-8/);
    await expect(readTextFile("-", "prompt", Readable.from([Buffer.from("two "), Buffer.from("chunks")]))).resolves.toBe("two chunks");
  });
});

describe("llama.cpp's short flags", () => {
  /** Each command's option for a short flag, and what the flag parses to. */
  const shortFlags: Record<string, string> = { "-m": "--model", "-p": "--prompt", "-f": "--prompt-file", "-n": "--max-tokens", "-c": "--context-size", "-t": "--threads" };
  const program = buildProgram();

  it("every command with the long form has the short one, and no short flag means two things", () => {
    let checked = 0;
    for (const command of program.commands) {
      const shorts = command.options.map((option) => option.short).filter((short) => short !== undefined);
      expect(new Set(shorts).size, command.name()).toBe(shorts.length);
      for (const [short, long] of Object.entries(shortFlags)) {
        const option = command.options.find((each) => each.long === long);
        if (option === undefined) continue;
        expect(option.short, `${command.name()} ${long}`).toBe(short);
        checked++;
      }
    }
    // generate 6, rag 4, serve 3, check 3, bench 3, demo 2, exactness 2, fuzz 2.
    expect(checked).toBe(25);
  });

  it.each(["generate", "rag", "serve", "check", "bench", "demo", "exactness", "fuzz"])("%s parses its short flags to the long options' values", (name) => {
    const command = buildProgram().commands.find((each) => each.name() === name)!;
    const values: Record<string, string> = { "-m": "model.gguf", "-p": "the prompt", "-f": "prompt.txt", "-n": "17", "-c": "1536", "-t": "3" };
    const args = Object.entries(shortFlags)
      .filter(([, long]) => command.options.some((option) => option.long === long))
      .flatMap(([short]) => [short, values[short]]);
    command.parseOptions(args);
    const options = command.opts();
    if (args.includes("-m")) expect(options.model).toBe("model.gguf");
    if (args.includes("-p")) expect(options.prompt).toBe("the prompt");
    if (args.includes("-f")) expect(options.promptFile).toBe("prompt.txt");
    if (args.includes("-n")) expect(options.maxTokens).toBe(17);
    if (args.includes("-c")) expect(options.contextSize).toBe(1536);
    // exactness takes a list of thread counts.
    if (args.includes("-t")) expect(options.threads).toEqual(name === "exactness" ? [3] : 3);
  });

  it("generate -m -p -n -t -c: a real run honours each one", () => {
    const run = llma("generate", "-m", model, "-p", "Hello there", "-n", "5", "-t", "1", "-c", "256", "--policy", "paper", "--json");
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.model).toBe(model);
    expect(result.tokens).toHaveLength(5);
    expect(result.threads).toBe(1);
    // -c 256 leaves room for 255 tokens: a 300-token request stops on a full context.
    const full = llma("generate", "-m", model, "-p", "Hello there", "-n", "300", "-t", "1", "-c", "256", "--policy", "paper", "--k", "0", "--json");
    expect(full.code, full.stderr).toBe(0);
    expect(JSON.parse(full.stdout).stats.stopReason).toBe("context-full");
  });
});

describe("weight and KV cache type names in any case", () => {
  it("resolveQuant: any case to the canonical name; an unknown one lists the valid ones", () => {
    expect(resolveQuant("q8_0")).toBe("Q8_0");
    expect(resolveQuant("q4_k_m")).toBe("Q4_K_M");
    expect(resolveQuant("f16")).toBe("F16");
    expect(resolveQuant("Q6_K")).toBe("Q6_K");
    expect(() => resolveQuant("q3_k")).toThrow(/unknown --quant "q3_k": use one of Q8_0, Q4_0, F16, Q4_K_M, Q5_K_M, Q6_K/);
  });

  it("make-model --quant q8_0 writes the same file as Q8_0; --quant q9 is refused with the list", () => {
    const lower = join(dir, "lower.gguf");
    const upper = join(dir, "upper.gguf");
    expect(llma("make-model", "--shape", "tiny", "--quant", "q8_0", "--out", lower).code).toBe(0);
    expect(llma("make-model", "--shape", "tiny", "--quant", "Q8_0", "--out", upper).code).toBe(0);
    expect(readFileSync(lower).equals(readFileSync(upper))).toBe(true);
    const bad = llma("make-model", "--shape", "tiny", "--quant", "q9", "--out", join(dir, "bad.gguf"));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown --quant "q9": use one of Q8_0, Q4_0, F16/);
    expect(existsSync(join(dir, "bad.gguf"))).toBe(false);
  });

  it("generate --kv-type bf16 runs with a BF16 cache; --kv-type q9 is refused with the list", () => {
    const run = llma("generate", "-m", model, "-p", "Hello", "-n", "3", "-t", "1", "--kv-type", "bf16", "--policy", "paper", "--json");
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).kvCacheType).toBe("BF16");
    const lower = llma("generate", "-m", model, "-p", "Hello", "-n", "3", "-t", "1", "--kv-type", "q8_0", "--policy", "paper", "--json");
    expect(lower.code, lower.stderr).toBe(0);
    expect(JSON.parse(lower.stdout).kvCacheType).toBe("Q8_0");
    const bad = llma("generate", "-m", model, "-p", "Hello", "-t", "1", "--kv-type", "q9");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown KV cache type "q9": use one of Q8_0, BF16, F16, F32, Q4_0/);
  });
});

describe("--context-size above the model's trained context", () => {
  it("is capped with a warning naming both numbers; the default (4096 > tiny's 2048) says nothing", () => {
    const prompt = join(dir, "cap.txt");
    writeFileSync(prompt, "Hello");
    const capped = llma("generate", "-m", model, "-f", prompt, "-n", "2", "-t", "1", "-c", "3000", "--policy", "paper", "--json");
    expect(capped.code, capped.stderr).toBe(0);
    expect(capped.stderr).toMatch(/llma: warning: context size 3000 is above this model's trained context of 2048 tokens: using 2048/);
    const quiet = llma("generate", "-m", model, "-f", prompt, "-n", "2", "-t", "1", "--policy", "paper", "--json");
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toMatch(/trained context/);
    const fits = llma("generate", "-m", model, "-f", prompt, "-n", "2", "-t", "1", "-c", "2048", "--policy", "paper", "--json");
    expect(fits.stderr).not.toMatch(/trained context/);
  });
});
