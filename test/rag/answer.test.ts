/**
 * Cache-assisted acceleration, honestly measured on the tiny random-weight model: a query is answered
 * (retrieval from bench/data/llma-rag.jsonl + the paper's prompt, greedy through LLMA) and cached; then
 * the same question comes again, verbatim or reworded. With the cache on, the earlier answer is a
 * reference; with it off only the passages are. Both must give plain greedy decoding's tokens; the
 * cache must give more accepted tokens per forward pass.
 *
 * Why the effect is real with random weights: the model's output depends on the whole prompt, and a
 * reworded query changes one line of a ~600-token prompt (the same retrieved passages), so its output
 * often repeats long stretches of the first answer. It does not copy from the passages (random weights
 * do not "read"), so with the cache off almost nothing is accepted.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { generate } from "../../src/core/generate.js";
import { ragAnswer, type RagResult } from "../../src/rag/answer.js";
import { ragPrompt } from "../../src/rag/planner.js";
import { LlmaStore } from "../../src/store/store.js";

let dir: string;
let store: LlmaStore;
let model: LlamaCppModel;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "llma-rag-"));
  store = LlmaStore.open(join(dir, "rag.db"));
  await store.documents.addPaths(["bench/data/llma-rag.jsonl"]);
  // One thread: on a shared 2-core machine llama.cpp's spinning threads slow down many times over.
  model = await LlamaCppModel.load({ model: await ensureModel({ shape: "tiny", quant: "Q8_0" }), threads: 1 });
});
afterAll(async () => {
  await model?.dispose();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const MAX_TOKENS = 64;
/** The paper's fixed policy: deterministic drafts, so the comparison does not depend on calibration. */
const request = () => ({ documents: store.documents, cache: store.answers, modelName: "tiny", policy: "paper" as const, n: 1, k: 20, maxTokens: MAX_TOKENS, top: 5 });
const perStep = (r: RagResult) => r.result.stats.acceptedTokens / r.result.stats.steps;

async function greedyTokens(prompt: string): Promise<number[]> {
  return (await generate(model, { prompt, method: "greedy", maxTokens: MAX_TOKENS })).tokens;
}

describe("RAG with the answer cache", () => {
  it("retrieves, prompts with the paper's template, caches the answer", async () => {
    await store.answers.clear();
    const first = await ragAnswer(model, { ...request(), query: "where does real insulin come from" });
    expect(first.sources).toHaveLength(5);
    expect(first.sources.every((p) => p.row === 0)).toBe(true); // the sample's own documents
    expect(first.prompt).toBe(ragPrompt("where does real insulin come from", first.sources.map((p) => p.text)));
    expect(first.prompt.startsWith("docs:\n") && first.prompt.endsWith("\nquery: where does real insulin come from\nanswer:")).toBe(true);
    expect(first.cached).toEqual([]);
    expect(first.storedAs).toBeGreaterThan(0);
    expect(first.result.tokens).toEqual(await greedyTokens(first.prompt));
    expect((await store.answers.similar("where does real insulin come from", { model: "tiny" }))[0]).toMatchObject({ answer: first.answer, exact: true });
    // Another tenant's request never sees it.
    const other = await ragAnswer(model, { ...request(), query: "where does real insulin come from", tenant: "someone-else", storeAnswer: false });
    expect(other.cached).toEqual([]);
  });

  it("the same question again (verbatim or reworded): more accepted tokens per step with the cache, output identical to greedy", async () => {
    const pairs: [string, string][] = [
      ["where does real insulin come from", "where does real insulin come from"], // asked again verbatim
      ["where does real insulin come from", "Where does real insulin come from?"], // normalizes to the same entry
      ["where does real insulin come from", "where does insulin really come from"],
      ["where does most of the iron ore come from", "where does the most iron ore come from"],
      ["where is whiteville tennessee", "whiteville tennessee is where"],
      ["where do the lumbee live", "where do lumbee people live"],
      ["where does microtubule formation occur", "where do microtubules form"],
    ];
    const rows: { query: string; exact: boolean; on: number; off: number; onAccepted: number; offAccepted: number; onSteps: number; offSteps: number; onMs: number; offMs: number }[] = [];
    for (const [first, again] of pairs) {
      await store.answers.clear();
      const answered = await ragAnswer(model, { ...request(), query: first });
      const on = await ragAnswer(model, { ...request(), query: again, storeAnswer: false });
      const off = await ragAnswer(model, { ...request(), query: again, useCache: false });
      expect(on.cached.map((c) => c.id)).toEqual([answered.storedAs]);
      expect(off.cached).toEqual([]);
      expect(on.prompt).toBe(off.prompt);
      const greedy = await greedyTokens(on.prompt);
      expect(on.result.tokens).toEqual(greedy);
      expect(off.result.tokens).toEqual(greedy);
      rows.push({
        query: again,
        exact: on.cached[0].exact,
        on: perStep(on),
        off: perStep(off),
        onAccepted: on.result.stats.acceptedTokens,
        offAccepted: off.result.stats.acceptedTokens,
        onSteps: on.result.stats.steps,
        offSteps: off.result.stats.steps,
        onMs: on.result.stats.totalMs - on.result.stats.promptMs,
        offMs: off.result.stats.totalMs - off.result.stats.promptMs,
      });
    }
    console.log(
      `accepted tokens per forward pass, ${MAX_TOKENS} tokens, top 5 passages, paper policy n=1 k=20:\n` +
        rows.map((r) => `  ${JSON.stringify(r.query).padEnd(44)} exact=${String(r.exact).padEnd(5)} cache on ${r.on.toFixed(2)} (${r.onAccepted} accepted in ${r.onSteps} passes)  off ${r.off.toFixed(2)} (${r.offAccepted} in ${r.offSteps}); decode ${r.onMs.toFixed(0)} vs ${r.offMs.toFixed(0)} ms`).join("\n"),
    );
    const mean = (f: (r: (typeof rows)[number]) => number) => rows.reduce((sum, r) => sum + f(r), 0) / rows.length;
    console.log(`  mean: cache on ${mean((r) => r.on).toFixed(2)}, off ${mean((r) => r.off).toFixed(2)}`);
    // Asked again verbatim: the prompt is the same, so the answer is the cached one, token for token
    // (the cache keeps the generated tokens: measured 60 of 64 accepted in 4 passes).
    expect(rows[0].exact).toBe(true);
    expect(rows[0].onAccepted).toBeGreaterThanOrEqual(MAX_TOKENS * 0.9);
    expect(rows[0].on).toBeGreaterThan(10);
    expect(rows[1].exact).toBe(true);
    // Reworded: measured 0.02-15 accepted per pass with the cache (mean of all rows 4.7) against 0-0.07
    // without; where the new output leaves the first answer early, little is accepted.
    expect(mean((r) => r.on)).toBeGreaterThan(mean((r) => r.off) + 1);
    expect(rows.filter((r) => r.on > r.off + 1).length).toBeGreaterThanOrEqual(3);
    expect(rows.every((r) => r.on >= r.off)).toBe(true);
  });
});
