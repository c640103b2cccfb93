/**
 * The layout's rules, read from the source: no import cycle between modules (type-only and dynamic
 * imports count: a cycle of types is still two modules that cannot be understood apart), src/core
 * imports nothing outside itself (it is pure TypeScript, the model behind an interface), and src/core
 * holds no module-level mutable state (per-model state lives in the Accelerator).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(__dirname, "../../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

/** Relative imports of a file (static, type-only, re-exports and dynamic), resolved to .ts paths. */
function relativeImports(file: string, text: string): string[] {
  const specifiers = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']/g),
    ...text.matchAll(/import\(\s*["'](\.[^"']+)["']\s*\)/g),
  ].map((m) => m[1]);
  return specifiers.map((s) => resolve(dirname(file), s.replace(/\.js$/, ".ts")));
}

/** One cycle of the graph, as a list of files, or undefined when there is none. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    if (state.has(node)) continue;
    const found = visit(node);
    if (found) return found;
  }
  return undefined;
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, relativeImports(file, readFileSync(file, "utf8"))]));

describe("layering", () => {
  it("finds a cycle when there is one (the checker itself)", () => {
    expect(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]]))).toEqual(["a", "b", "c", "a"]);
    expect(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", []]]))).toBeUndefined();
    expect(relativeImports("/x/src/a.ts", 'import type { T } from "./b.js";\nconst m = await import("../c.js");')).toEqual([
      "/x/src/b.ts",
      "/x/c.ts",
    ]);
  });

  it("src has no import cycle, type-only and dynamic imports included", () => {
    expect(files.length).toBeGreaterThan(50);
    const cycle = findCycle(graph);
    expect(cycle?.map((f) => relative(SRC, f))).toBeUndefined();
  });

  it("src/core imports only src/core and no node: module", () => {
    const core = join(SRC, "core");
    for (const file of files.filter((f) => f.startsWith(core))) {
      for (const target of graph.get(file)!) expect(relative(core, target).startsWith(".."), `${relative(SRC, file)} imports ${relative(SRC, target)}`).toBe(false);
      expect(readFileSync(file, "utf8"), relative(SRC, file)).not.toMatch(/from\s+["']node:/);
    }
  });

  it("src/core holds no module-level mutable state", () => {
    for (const file of files.filter((f) => f.startsWith(join(SRC, "core")))) {
      const text = readFileSync(file, "utf8");
      expect(text, relative(SRC, file)).not.toMatch(/^(?:export\s+)?(?:let|var)\s/m);
      expect(text, relative(SRC, file)).not.toMatch(/^(?:export\s+)?const\s+\w+(?::[^=]+)?=\s*new\s+(?:Map|WeakMap|Set|WeakSet)\b/m);
    }
  });
});
