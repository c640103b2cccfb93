/**
 * One planner for every way a query comes in: the library's ragAnswer(), `llma rag` (its command run
 * in this process) and `llma serve --docs --store` (POST /v1/completions with `llma.retrieve`) give
 * generate() the same prompt tokens and the same references for the same query, on the tiny model.
 * What reaches generate() is recorded by wrapping Accelerator.generate (every path runs its request on
 * an accelerator, the free generate() too); what is tokenized, by wrapping the model's
 * tokenizer: every retrieved passage is tokenized once (inside the prompt), and it is not a reference
 * too (the prompt's index finds it).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ragCommand } from "../../src/cli/rag.js";
import { Accelerator } from "../../src/core/accelerator.js";
import type { GenerateRequest } from "../../src/core/request.js";
import { ragAnswer } from "../../src/rag/answer.js";
import { buildApp } from "../../src/server/app.js";
import { LlmaStore } from "../../src/store/store.js";

// Every accelerator's generate() records its request, then runs it.
const recorded: GenerateRequest[] = [];
const acceleratedGenerate = Accelerator.prototype.generate;
vi.spyOn(Accelerator.prototype, "generate").mockImplementation(function (this: Accelerator, request: GenerateRequest) {
  recorded.push(request);
  return acceleratedGenerate.call(this, request);
});

const QUERY = "where does real insulin come from";
const TOP = 3;
const MAX_TOKENS = 32;
const CONTEXT = 2048; // the tiny model's trained context

let dir: string;
let db: string;
let modelPath: string;
let modelName: string;
let store: LlmaStore;
let model: LlamaCppModel;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "llma-rag-paths-"));
  db = join(dir, "rag.db");
  store = LlmaStore.open(db);
  await store.documents.addPaths(["bench/data/llma-rag.jsonl"]);
  modelPath = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  // The cache keys answers on the model's name: `llma rag` uses the file's, so the others do too.
  modelName = basename(modelPath);
  // One thread: on a shared 2-core machine llama.cpp's spinning threads slow down many times over.
  model = await LlamaCppModel.load({ model: modelPath, threads: 1, contextSize: CONTEXT });
});
afterAll(async () => {
  await model?.dispose();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What one path handed generate(), with the tokenizer's inputs while it ran (every LlamaCppModel's). */
async function observe(path: () => Promise<unknown>): Promise<{ request: GenerateRequest; tokenized: string[] }> {
  recorded.length = 0;
  const tokenized: string[] = [];
  const tokenize = LlamaCppModel.prototype.tokenize;
  const spy = vi.spyOn(LlamaCppModel.prototype, "tokenize").mockImplementation(function (this: LlamaCppModel, text, options) {
    tokenized.push(text);
    return tokenize.call(this, text, options);
  });
  try {
    await path();
  } finally {
    spy.mockRestore();
  }
  expect(recorded).toHaveLength(1);
  return { request: recorded[0], tokenized };
}

const library = () => ragAnswer(model, { query: QUERY, documents: store.documents, top: TOP, cache: store.answers, modelName, policy: "paper", n: 1, k: 20, maxTokens: MAX_TOKENS });

async function cli(): Promise<void> {
  const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true); // its JSON document
  try {
    await ragCommand().parseAsync(
      ["--store", db, "--model", modelPath, "--query", QUERY, "--top", String(TOP), "--max-tokens", String(MAX_TOKENS), "--n", "1", "--k", "20", "--threads", "1", "--context-size", String(CONTEXT), "--json"],
      { from: "user" },
    );
  } finally {
    write.mockRestore();
  }
}

async function server(): Promise<void> {
  const app = buildApp({ model, modelName, policy: "paper", answerCache: store.answers, documents: store.documents });
  try {
    const response = await app.app.inject({ method: "POST", url: "/v1/completions", payload: { model: modelName, prompt: QUERY, max_tokens: MAX_TOKENS, llma: { retrieve: { top: TOP } } } });
    expect(response.statusCode, response.body).toBe(200);
  } finally {
    await app.close(1000);
  }
}

const tokens = (reference: string | readonly number[]) => (typeof reference === "string" ? reference : [...reference]);

describe("one reference planner", () => {
  it("the library, `llma rag` and `llma serve` give generate() the same prompt and the same references; each passage is tokenized once and is no reference", async () => {
    // First ask: the answer is cached, so every path below has a cached answer among its references.
    await library();
    const passages = (await store.documents.search(QUERY, { top: TOP })).map((p) => p.text);
    expect(passages).toHaveLength(TOP);

    const paths = { library: await observe(library), cli: await observe(cli), server: await observe(server) };
    const [first, ...others] = Object.values(paths);
    expect(Array.isArray(first.request.prompt)).toBe(true); // the planner's tokens, not the text to tokenize again
    for (const other of others) {
      expect([...other.request.prompt]).toEqual([...first.request.prompt]);
      expect(other.request.references?.map(tokens)).toEqual(first.request.references?.map(tokens));
      expect(other.request.indexPrompt ?? true).toBe(first.request.indexPrompt ?? true);
    }
    // The prompt is the paper's template with the passages in it, and is indexed; the one reference is the cached answer's tokens.
    expect(model.detokenize([...(first.request.prompt as readonly number[])])).toContain(`${passages.join("\n")}\nquery: ${QUERY}\nanswer:`);
    expect(first.request.indexPrompt ?? true).toBe(true);
    const cached = await store.answers.similar(QUERY, { model: modelName });
    expect(first.request.references?.map(tokens)).toEqual([[...cached[0].tokens!]]);

    for (const [name, { request, tokenized }] of Object.entries(paths)) {
      for (const passage of passages) {
        expect(tokenized.filter((text) => text.includes(passage)).length, `${name}: times a passage was tokenized`).toBe(1);
        expect(request.references?.some((r) => typeof r === "string" && r.includes(passage)), `${name}: a passage among the references`).toBe(false);
      }
    }
  });
});
