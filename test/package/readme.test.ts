/**
 * The README's "## Library" examples, run exactly as printed against the built package (dist/, through
 * package.json's exports): only the model path "model.gguf" is replaced, by a test model's. A README
 * edit that breaks an example fails here. The `llma/openai` example (it needs a server) is type-checked
 * by test/server/openai-types.test.ts; every ```ts block of the section is one or the other.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ensureBuilt } from "../helpers/cli.js";
import { consumerProject, type ConsumerProject } from "../helpers/consumer.js";
import { sectionCodeBlocks } from "../helpers/readme.js";

const MODEL_PLACEHOLDER = '"model.gguf"';
const blocks = sectionCodeBlocks(readFileSync("README.md", "utf8"), "## Library");
const runnable = blocks.filter((block) => block.includes(MODEL_PLACEHOLDER));

let project: ConsumerProject;
let modelPath: string;
beforeAll(async () => {
  ensureBuilt();
  modelPath = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  project = consumerProject(["node-llama-cpp"]);
});
afterAll(() => project?.remove());

function runExample(index: number) {
  const file = join(project.dir, `example-${index}.mjs`);
  writeFileSync(file, runnable[index].replaceAll(MODEL_PLACEHOLDER, JSON.stringify(modelPath)));
  return spawnSync(process.execPath, [file], { cwd: project.dir, encoding: "utf8", timeout: 240_000 });
}

describe('README "## Library" examples', () => {
  it("every ts block is either run here (it loads model.gguf) or type-checked (llma/openai)", () => {
    expect(runnable.length).toBe(4);
    const others = blocks.filter((block) => !runnable.includes(block));
    expect(others).toHaveLength(1);
    expect(others[0]).toContain('from "llma/openai"');
  });

  it("generate() with the defaults (policy auto calibrates on first need)", () => {
    const run = runExample(0);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    // result.stats and model.exactness were printed: the run got through generate and the probe.
    expect(run.stdout).toMatch(/tokensPerStep: [\d.]+/);
    expect(run.stdout).toMatch(/exactUpTo: \d+/);
  }, 300_000);

  it("an Accelerator per model: the cost curve got once, up front; its requests learn on it", () => {
    const run = runExample(1);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(Number(run.stdout.trim().split("\n").at(-1))).toBeGreaterThan(0); // passes recorded, printed last
  }, 300_000);

  it("chat() through the model's chat template", () => {
    const run = runExample(2);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split("\n").at(-1)).toMatch(/\d+$/); // acceptedTokens printed last
  }, 300_000);

  it("a caller's node-llama-cpp LlamaModel, still usable after llma's dispose", () => {
    const run = runExample(3);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split("\n").at(-1)).toBe("false");
  }, 300_000);
});
