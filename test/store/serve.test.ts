/**
 * `llma serve --store/--docs` in-process on the tiny model: greedy requests copy from the cached
 * answers of their tenant (llma.tenant, else user) and are cached; llma.cache switches it per request;
 * llma.retrieve puts the top passages in the prompt (found there by the prompt's index). The text never changes with
 * the cache (lossless), only the accepted tokens do.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { buildApp, type LlmaServer } from "../../src/server/app.js";
import { AnswerCache } from "../../src/store/answers.js";
import { DocumentStore } from "../../src/store/documents.js";

let dir: string;
let model: LlamaCppModel;
let server: LlmaServer;
let bare: LlmaServer;
let cache: AnswerCache;
let documents: DocumentStore;

interface Completion {
  choices: { text?: string; message?: { content: string } }[];
  usage: { prompt_tokens: number; completion_tokens_details: { accepted_prediction_tokens: number } };
  llma: { accepted_tokens: number; forward_passes: number; cached_references?: number; sources?: { source: string; score: number }[] };
}

async function post(app: LlmaServer, url: string, body: Record<string, unknown>): Promise<{ status: number; json: Completion & { error?: { message: string; param: string } } }> {
  const response = await app.app.inject({ method: "POST", url, payload: { model: "tiny", max_tokens: 32, ...body } });
  return { status: response.statusCode, json: response.json() };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "llma-serve-store-"));
  documents = DocumentStore.open(join(dir, "docs.db"));
  await documents.addPaths(["bench/data/llma-rag.jsonl"]);
  cache = AnswerCache.open(join(dir, "cache.db"));
  // One thread: on a shared 2-core machine llama.cpp's spinning threads slow down many times over.
  model = await LlamaCppModel.load({ model: await ensureModel({ shape: "tiny", quant: "Q8_0" }), threads: 1 });
  server = buildApp({ model, modelName: "tiny", policy: "paper", answerCache: cache, documents });
  bare = buildApp({ model, modelName: "tiny", policy: "paper" });
});
afterAll(async () => {
  await server?.close(1000);
  await bare?.close(1000);
  await model?.dispose();
  cache?.close();
  documents?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("llma serve with --store and --docs", () => {
  it("completions: retrieval as context; the repeat copies from the tenant's cached answer; same text either way", async () => {
    const ask = (extra: Record<string, unknown>) => post(server, "/v1/completions", { prompt: "where does real insulin come from", ...extra });
    const first = await ask({ user: "alice", llma: { retrieve: { top: 3 } } });
    expect(first.status).toBe(200);
    expect(first.json.llma.cached_references).toBe(0);
    expect(first.json.llma.sources).toHaveLength(3);
    expect(first.json.llma.sources!.every((s) => s.source.endsWith("llma-rag.jsonl#0"))).toBe(true);
    expect((await cache.stats("alice")).entries).toBe(1);
    const text = first.json.choices[0].text;

    const again = await ask({ user: "alice", llma: { retrieve: { top: 3 } } });
    expect(again.json.choices[0].text).toBe(text);
    expect(again.json.llma.cached_references).toBe(1);
    expect(again.json.llma.accepted_tokens).toBeGreaterThan(first.json.llma.accepted_tokens + 10);
    expect(again.json.llma.forward_passes).toBeLessThan(first.json.llma.forward_passes);
    expect(again.json.usage.completion_tokens_details.accepted_prediction_tokens).toBe(again.json.llma.accepted_tokens);

    // Off for this request: same text, no cached references.
    const off = await ask({ user: "alice", llma: { retrieve: { top: 3 }, cache: false } });
    expect(off.json.choices[0].text).toBe(text);
    expect(off.json.llma.cached_references).toBeUndefined();
    // Another tenant (user) sees nothing of alice's; llma.tenant wins over user.
    const bob = await ask({ user: "bob", llma: { retrieve: { top: 3 } } });
    expect(bob.json.llma.cached_references).toBe(0);
    expect(bob.json.choices[0].text).toBe(text);
    const asAlice = await ask({ user: "bob", llma: { retrieve: { top: 3 }, tenant: "alice" } });
    expect(asAlice.json.llma.cached_references).toBe(1);
    expect((await cache.stats()).tenants.map((t) => [t.tenant, t.entries])).toEqual([["alice", 1], ["bob", 1]]);

    // Without retrieval the prompt is shorter (no docs).
    const plain = await ask({ llma: { cache: false } });
    expect(plain.json.usage.prompt_tokens).toBeLessThan(first.json.usage.prompt_tokens - 100);
    expect(plain.json.llma.sources).toBeUndefined();
  });

  it("chat: retrieval adds the passages as a system message; the answer is cached under the last user message", async () => {
    const body = { messages: [{ role: "user", content: "where is whiteville tennessee" }], user: "carol" };
    const withDocs = await post(server, "/v1/chat/completions", { ...body, llma: { retrieve: { top: 2 } } });
    expect(withDocs.status).toBe(200);
    expect(withDocs.json.llma.sources!.map((s) => s.source)).toEqual(["bench/data/llma-rag.jsonl#6", "bench/data/llma-rag.jsonl#6"]);
    const without = await post(server, "/v1/chat/completions", { ...body, llma: { cache: false } });
    expect(withDocs.json.usage.prompt_tokens).toBeGreaterThan(without.json.usage.prompt_tokens + 50);
    expect((await cache.similar("where is whiteville tennessee", { tenant: "carol", model: "tiny" }))[0].answer).toBe(withDocs.json.choices[0].message!.content);
  });

  it("retrieval without --docs and bad llma fields are 400s naming the field", async () => {
    const noDocs = await post(bare, "/v1/completions", { prompt: "x", llma: { retrieve: { top: 2 } } });
    expect(noDocs.status).toBe(400);
    expect(noDocs.json.error).toMatchObject({ param: "llma.retrieve", message: "Invalid 'llma.retrieve': this server has no document store (start it with --docs DB)" });
    const badTop = await post(server, "/v1/completions", { prompt: "x", llma: { retrieve: { top: 0 } } });
    expect(badTop.status).toBe(400);
    expect(badTop.json.error!.param).toBe("llma.retrieve.top");
    const badTenant = await post(server, "/v1/completions", { prompt: "x", llma: { tenant: "" } });
    expect(badTenant.status).toBe(400);
    expect(badTenant.json.error!.param).toBe("llma.tenant");
  });
});
