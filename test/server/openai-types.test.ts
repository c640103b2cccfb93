/**
 * llma/openai's types, as a client of the server that uses the official `openai` package sees them:
 * a project depending on llma (resolved through package.json's exports) type-checks the README's
 * llma/openai example with tsc, and tsc rejects misuses of the extensions (so the types are not `any`).
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../helpers/cli.js";
import { consumerProject, type ConsumerProject } from "../helpers/consumer.js";
import { sectionCodeBlocks } from "../helpers/readme.js";

let project: ConsumerProject;
beforeAll(() => {
  ensureBuilt();
  project = consumerProject(["openai", "@types/node"]);
  writeFileSync(
    join(project.dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: ["node"] }, include: ["*.ts"] }),
  );
});
afterAll(() => project?.remove());

/** tsc's diagnostics for `source` (empty: it compiles). */
function typeCheck(name: string, source: string): string {
  writeFileSync(join(project.dir, name), source);
  const run = spawnSync(process.execPath, [resolve("node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: project.dir, encoding: "utf8", timeout: 120_000 });
  return `${run.stdout}${run.stderr}`.trim();
}

describe("llma/openai types", () => {
  it("the README's example compiles, and misused extension fields do not", () => {
    const example = sectionCodeBlocks(readFileSync("README.md", "utf8"), "## Library").find((block) => block.includes('from "llma/openai"'));
    expect(example).toBeDefined();
    const misuse = `import type { LlmaChatCompletion, LlmaChatCompletionCreateParamsNonStreaming, LlmaCompletionCreateParamsNonStreaming } from "llma/openai";
const ok: LlmaChatCompletionCreateParamsNonStreaming = { model: "m", messages: [{ role: "user", content: "hi" }], references: ["a"], llma: { retrieve: { top: 3 }, tenant: "t" } };
const okCompletion: LlmaCompletionCreateParamsNonStreaming = { model: "m", prompt: "hi", references: ["a"], llma: { prediction: false } };
declare const completion: LlmaChatCompletion;
const accepted: number = completion.llma.accepted_tokens;
const exact: boolean | null = completion.llma.exact;
const badReferences: LlmaChatCompletionCreateParamsNonStreaming = { model: "m", messages: [], references: [1] };
const badSwitch: LlmaChatCompletionCreateParamsNonStreaming = { model: "m", messages: [], llma: { output_references: "yes" } };
const unknownSwitch: LlmaChatCompletionCreateParamsNonStreaming = { model: "m", messages: [], llma: { copy_everything: true } };
const wrongInfo: string = completion.llma.drafted_tokens;
export { ok, okCompletion, accepted, exact, badReferences, badSwitch, unknownSwitch, wrongInfo };
`;
    const diagnostics = typeCheck("misuse.ts", misuse);
    const lines = diagnostics.split("\n").filter((line) => /error TS\d+/.test(line));
    // Exactly the four misuses (lines 7-10), nothing else.
    expect(lines.map((line) => Number(/misuse\.ts\((\d+),/.exec(line)?.[1]))).toEqual([7, 8, 9, 10]);
    writeFileSync(join(project.dir, "misuse.ts"), "export {};\n");
    expect(typeCheck("readme-example.ts", `${example!}\nexport {};\n`)).toBe("");
  }, 240_000);
});
