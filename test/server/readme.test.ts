/**
 * The README's "## Server" examples, run as printed: the `llma serve` command (with `npx llma` run
 * from this checkout, the model file and the port replaced), the curl request and the `openai`
 * client example against it. A README edit that breaks one of them fails here.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ensureBuilt } from "../helpers/cli.js";
import { consumerProject, type ConsumerProject } from "../helpers/consumer.js";
import { sectionCodeBlocks } from "../helpers/readme.js";
import { killServers, startServe } from "../helpers/serve.js";

const README = readFileSync("README.md", "utf8");
const shellBlocks = sectionBlocks("sh");
const tsBlocks = sectionCodeBlocks(README, "## Server: `llma serve` (OpenAI-compatible, with Predicted Outputs)");

function sectionBlocks(language: string): string[] {
  const start = README.indexOf("\n## Server");
  const end = README.indexOf("\n## ", start + 4);
  return [...README.slice(start, end).matchAll(new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);
}

/** A port nothing listens on now (the README's examples name a fixed port, 8080). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let port: number;
let project: ConsumerProject;
const withPort = (text: string) => text.replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`);

beforeAll(async () => {
  ensureBuilt();
  const model = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  port = await freePort();
  // The first line of the first sh block, as printed: npx llma -> this checkout's CLI; the model and port replaced.
  const command = shellBlocks[0].split("\n")[0];
  expect(command).toMatch(/^npx llma serve --model tiny\.gguf --port 8080\b/);
  const args = command.replace(/^npx llma /, "").replace("tiny.gguf", model).replace("--port 8080", `--port ${port}`).split(/\s+/);
  await startServe(args, { timeoutMs: 240_000 });
  project = consumerProject(["openai"]);
}, 300_000);

afterAll(async () => {
  await killServers();
  project?.remove();
});

describe('README "## Server" examples', () => {
  it("the curl request gets a chat completion that counts the prediction's tokens", () => {
    const curl = shellBlocks.find((block) => block.startsWith("curl "));
    expect(curl).toBeDefined();
    const run = spawnSync("sh", ["-c", withPort(curl!)], { encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const body = JSON.parse(run.stdout) as { object: string; choices: { message: { content: string } }[]; usage: { completion_tokens_details: Record<string, number> } };
    expect(body.object).toBe("chat.completion");
    expect(typeof body.choices[0].message.content).toBe("string");
    expect(body.usage.completion_tokens_details).toHaveProperty("accepted_prediction_tokens");
  }, 120_000);

  it("the openai client example runs as printed and prints the text and the prediction counts", () => {
    const example = tsBlocks.find((block) => block.includes('from "openai"') && block.includes("baseURL"));
    expect(example).toBeDefined();
    const file = join(project.dir, "server-example.mjs");
    writeFileSync(file, withPort(example!));
    const run = spawnSync(process.execPath, [file], { cwd: project.dir, encoding: "utf8", timeout: 120_000 });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/accepted_prediction_tokens: \d+/);
    expect(run.stdout).toMatch(/rejected_prediction_tokens: \d+/);
  }, 120_000);
});
