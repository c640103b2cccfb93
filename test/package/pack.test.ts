/**
 * What `npm pack` ships: the LICENSE, every file the README links to, and the sources every source map
 * points at (maps to files that are not in the package would send debuggers nowhere).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../helpers/cli.js";

let files: Set<string>;
beforeAll(() => {
  ensureBuilt();
  const run = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { encoding: "utf8", timeout: 120_000 });
  if (run.status !== 0) throw new Error(`npm pack failed:\n${run.stderr}`);
  files = new Set((JSON.parse(run.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path));
});

describe("npm pack", () => {
  it("ships the MIT LICENSE and the bench data with its licence notice, not the tests' build", () => {
    expect(files.has("LICENSE")).toBe(true);
    expect(readFileSync("LICENSE", "utf8")).toMatch(/^MIT License\n\nCopyright \(c\) 2026 the llma authors\n/);
    expect(files.has("bench/data/README.md")).toBe(true);
    expect([...files].filter((path) => path.startsWith("dist/test/"))).toEqual([]);
  });

  it("ships every file the README links to", () => {
    const readme = readFileSync("README.md", "utf8");
    const targets = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]).filter((target) => !/^[a-z]+:/.test(target));
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.filter((target) => !files.has(normalize(target)))).toEqual([]);
  });

  it("ships the sources of every source map", () => {
    const maps = [...files].filter((path) => path.endsWith(".js.map"));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(map, "utf8")) as { sources: string[] };
      for (const source of sources) if (!files.has(normalize(join(dirname(map), source)))) missing.push(`${map} -> ${source}`);
    }
    // A map whose source is gone is a stale build output (a moved or deleted file): `npm pack` runs
    // prepack, which rebuilds dist/ from scratch; here (--ignore-scripts) rm -rf dist && npx tsc fixes it.
    expect(missing, "source maps pointing at files the package does not ship").toEqual([]);
  });
});
