import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "commander";

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

/** Reads a UTF-8 text file, with an error that names what the file was for. */
export async function readTextFile(path: string, what: string): Promise<string> {
  let buffer: Buffer;
  try {
    buffer = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`${what} file not found: ${path}`);
    if (code === "EISDIR") throw new Error(`${what} path is a directory, not a file: ${path}`);
    throw new Error(`cannot read ${what} file ${path}: ${(error as Error).message}`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(buffer);
  } catch {
    throw new Error(`${what} file ${path} is not valid UTF-8 text`);
  }
}

/** Writes progress and logs to stderr, so stdout holds only the command's result. */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}
