import { readFile } from "node:fs/promises";
import { InvalidArgumentError, type Command } from "commander";
import { QUANTS, type Quant } from "../backends/gguf-writer.js";

/** The path that names standard input in --prompt-file and --ref (as in llama.cpp and most Unix tools). */
export const STDIN_PATH = "-";

/**
 * A weight type name in any case (llama.cpp users type q8_0, q4_k_m), as the writer's canonical
 * spelling; an unknown one is an error listing the valid ones.
 */
export function resolveQuant(name: string, option = "--quant"): Quant {
  const canonical = QUANTS.find((quant) => quant.toUpperCase() === name.trim().toUpperCase());
  if (canonical === undefined) throw new InvalidArgumentError(`unknown ${option} ${JSON.stringify(name)}: use one of ${QUANTS.join(", ")} (any case)`);
  return canonical;
}

/** A commander parser for an integer option within [min, max]. */
export function integerOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed))
      throw new InvalidArgumentError(`${name} must be an integer, got ${JSON.stringify(value)}`);
    if (parsed < min || parsed > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${parsed}`);
    return parsed;
  };
}

/** A commander parser for a number option within [min, max] (or (min, max] with `exclusiveMin`). */
export function numberOption(name: string, min: number, max: number, exclusiveMin = false) {
  return (value: string): number => {
    const parsed = Number(value);
    if (value.trim() === "" || !Number.isFinite(parsed)) throw new InvalidArgumentError(`${name} must be a number, got ${JSON.stringify(value)}`);
    if (parsed > max || parsed < min || (exclusiveMin && parsed === min))
      throw new InvalidArgumentError(`${name} must be ${exclusiveMin ? "above" : "at least"} ${min} and at most ${max}, got ${parsed}`);
    return parsed;
  };
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Reads all of a stream (standard input) to its end. */
async function readToEnd(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/**
 * Reads a UTF-8 text file, with an error that names what the file was for; the path "-" reads
 * standard input to its end (an empty or closed stdin is an error: a prompt that never came).
 */
export async function readTextFile(path: string, what: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  let buffer: Buffer;
  try {
    buffer = path === STDIN_PATH ? await readToEnd(stdin) : await readFile(path);
  } catch (error) {
    if (path === STDIN_PATH) throw new Error(`cannot read the ${what} from standard input: ${(error as Error).message}`);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`${what} file not found: ${path}`);
    if (code === "EISDIR") throw new Error(`${what} path is a directory, not a file: ${path}`);
    throw new Error(`cannot read ${what} file ${path}: ${(error as Error).message}`);
  }
  if (path === STDIN_PATH && buffer.length === 0)
    throw new Error(`the ${what} was to come from standard input (${what} file "-"), but stdin was empty or closed: pipe it in, e.g. echo "text" | llma generate -m model.gguf -f -`);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(buffer);
  } catch {
    throw new Error(path === STDIN_PATH ? `the ${what} read from standard input is not valid UTF-8 text` : `${what} file ${path} is not valid UTF-8 text`);
  }
}

/**
 * The model loader's warnings, for a command with --context-size: shown when the user gave the size
 * (the default 4096 is above some models' trained context, and capping it then is no news).
 */
export function loadWarnings(command: Command, prefix = "llma"): ((message: string) => void) | undefined {
  if (command.getOptionValueSource("contextSize") === "default") return undefined;
  return (message) => log(`${prefix}: warning: ${message}`);
}

/** Writes progress and logs to stderr, so stdout holds only the command's result. */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}
