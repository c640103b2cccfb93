/**
 * A throwaway project that depends on this checkout as `llma` (node_modules/llma -> the repo, resolved
 * through package.json's exports like an installed package), with its own package.json so that Node
 * never resolves "llma" as a self-reference of some package.json further up.
 */
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

export interface ConsumerProject {
  readonly dir: string;
  remove(): void;
}

/** `packages`: dependencies of the repo the examples import besides llma (linked from its node_modules). */
export function consumerProject(packages: readonly string[] = []): ConsumerProject {
  const dir = mkdtempSync(join(tmpdir(), "llma-consumer-"));
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "llma-consumer", private: true, type: "module" })}\n`);
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(resolve("."), join(dir, "node_modules", "llma"), "dir");
  for (const name of packages) {
    const link = join(dir, "node_modules", name);
    mkdirSync(dirname(link), { recursive: true }); // scoped packages (@types/node)
    symlinkSync(resolve("node_modules", name), link, "dir");
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
