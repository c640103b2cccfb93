/** Runs the built CLI (`node bin/llma.js`), rebuilding dist/ first when a source file is newer. */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export function ensureBuilt(): void {
  const built = existsSync("dist/src/cli/main.js") ? statSync("dist/src/cli/main.js").mtimeMs : 0;
  if (built >= newestMtime("src")) return;
  const build = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { encoding: "utf8" });
  if (build.status !== 0) throw new Error(`building dist/ failed:\n${build.stdout}${build.stderr}`);
}

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function llma(...args: string[]): CliRun {
  const result = spawnSync("node", ["bin/llma.js", ...args], { encoding: "utf8", timeout: 300_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
