/**
 * `import "llma"` (the built package root, resolved through package.json's exports from a project that
 * depends on it) loads the core and the node-llama-cpp backend only: no fastify, better-sqlite3 or
 * vega, and no process-wide side effect such as --expose-gc. Every module the child process resolves is
 * recorded by a module.register() resolve hook (ESM) and read from require's cache (CommonJS).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../helpers/cli.js";
import { consumerProject, type ConsumerProject } from "../helpers/consumer.js";

const HEAVY = /\/node_modules\/(fastify|@fastify\/[^/]+|better-sqlite3|vega|vega-[^/]+|prom-client)\//;

let project: ConsumerProject;
beforeAll(() => {
  ensureBuilt();
  project = consumerProject();
  writeFileSync(
    join(project.dir, "record-hook.mjs"),
    `export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  process.stderr.write("RESOLVED " + result.url + "\\n");
  return result;
}
`,
  );
  writeFileSync(join(project.dir, "register.mjs"), `import { register } from "node:module";\nregister("./record-hook.mjs", import.meta.url);\n`);
  writeFileSync(
    join(project.dir, "probe.mjs"),
    `import { createRequire } from "node:module";
import vm from "node:vm";
const specifier = process.argv[2];
const exports = await import(specifier);
process.stdout.write(JSON.stringify({
  exports: Object.keys(exports),
  required: Object.keys(createRequire(import.meta.url).cache),
  globalGc: typeof globalThis.gc,
  contextGc: vm.runInNewContext("typeof gc"),
  execArgv: process.execArgv,
}));
`,
  );
});
afterAll(() => project?.remove());

function probe(specifier: string) {
  const run = spawnSync(process.execPath, ["--import", "./register.mjs", "probe.mjs", specifier], { cwd: project.dir, encoding: "utf8", timeout: 120_000 });
  if (run.status !== 0) throw new Error(`importing ${specifier} failed (${run.status}):\n${run.stderr}`);
  const resolved = run.stderr
    .split("\n")
    .filter((line) => line.startsWith("RESOLVED "))
    .map((line) => line.slice("RESOLVED ".length));
  const report = JSON.parse(run.stdout) as { exports: string[]; required: string[]; globalGc: string; contextGc: string; execArgv: string[] };
  return { ...report, resolved, loaded: [...resolved, ...report.required.map((path) => `file://${path}`)] };
}

describe('import "llma"', () => {
  it("loads the core and the backend, not the server, the store or the charts", () => {
    const root = probe("llma");
    expect(root.exports).toEqual(expect.arrayContaining(["LlamaCppModel", "generate", "chat", "decode", "ReferenceProposer"]));
    expect(root.exports).not.toContain("buildApp");
    // The hook sees the package's own modules and node-llama-cpp: it records what is loaded.
    expect(root.resolved.some((url) => url.endsWith("/dist/src/index.js"))).toBe(true);
    expect(root.resolved.some((url) => url.includes("/node_modules/node-llama-cpp/"))).toBe(true);
    expect(root.loaded.filter((url) => HEAVY.test(url))).toEqual([]);
    expect(root.loaded.filter((url) => /\/dist\/src\/(server|store|bench|cli)\//.test(url))).toEqual([]);
    expect(root.loaded.filter((url) => /\/node_modules\/llama-tokenizer-js\//.test(url))).toEqual([]); // the test-model writer's vocabulary
  }, 120_000);

  it("sets no V8 flag: no gc function in the global scope or in a new context", () => {
    const root = probe("llma");
    expect(root.execArgv).toEqual(["--import", "./register.mjs"]);
    expect(root.globalGc).toBe("undefined");
    expect(root.contextGc).toBe("undefined");
  }, 120_000);

  it("the other entry points load what they need (so the checks above can fail)", () => {
    const server = probe("llma/server");
    expect(server.exports).toContain("buildApp");
    expect(server.loaded.some((url) => /\/node_modules\/fastify\//.test(url))).toBe(true);
    const store = probe("llma/store");
    expect(store.exports).toContain("LlmaStore");
    expect(store.loaded.some((url) => /\/node_modules\/better-sqlite3\//.test(url))).toBe(true);
    expect(store.exports).not.toContain("ragAnswer"); // the store only stores: RAG is llma/rag
    const rag = probe("llma/rag");
    expect(rag.exports).toEqual(expect.arrayContaining(["planReferences", "ragAnswer", "ragPrompt"]));
    const bench = probe("llma/bench");
    expect(bench.exports).toEqual(expect.arrayContaining(["runBench", "loadDataset", "renderSvg"]));
    expect(bench.loaded.filter((url) => /\/node_modules\/vega(-lite)?\//.test(url))).toEqual([]); // charts import vega when they render
    const models = probe("llma/test-models");
    expect(models.exports).toEqual(expect.arrayContaining(["ensureModel", "writeGgufModel", "SHAPES"]));
  }, 240_000);
});
