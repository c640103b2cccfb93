/**
 * Indexing references without blocking: addReferenceAsync builds exactly what addReference builds,
 * reports progress and stops when aborted; tokenizing in slices gives the whole text's tokens on a
 * SentencePiece (LLaMA-2) and a byte-level BPE (Qwen2) vocabulary.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ReferenceIndex } from "../../src/core/reference-index.js";
import { indexReferences, indexReferencesUnlessAborted, sliceJoinAt, tokenizeInSlices, type IndexingProgress } from "../../src/core/reference-indexing.js";
import { largeText } from "../helpers/large-text.js";
import { mulberry32, randomInt } from "../helpers/random.js";

/** Every match a cursor finds walking `stream` (length and continuation start after each token). */
function walk(index: ReferenceIndex, stream: readonly number[]): string[] {
  const cursor = index.cursor();
  return stream.map((token) => {
    cursor.push(token, true);
    const match = cursor.match();
    return match ? `${match.length}@${match.continuationStart}` : "-";
  });
}

describe("ReferenceIndex.addReferenceAsync", () => {
  const random = mulberry32(7);
  const references = [0, 1, 2].map(() => Array.from({ length: 5000 }, () => randomInt(random, 12)));
  const stream = Array.from({ length: 3000 }, () => randomInt(random, 12));

  it("builds the same automaton as addReference (states, text, every match), in chunks with progress", async () => {
    const sync = new ReferenceIndex();
    for (const reference of references) sync.addReference(reference);
    const chunked = new ReferenceIndex();
    const reports: [number, number][] = [];
    for (const reference of references) await chunked.addReferenceAsync(reference, { chunkTokens: 777, onProgress: (done, total) => reports.push([done, total]) });
    expect(chunked.states).toBe(sync.states);
    expect(chunked.length).toBe(sync.length);
    expect(walk(chunked, stream)).toEqual(walk(sync, stream));
    // Every position names the same source and the same reference (an empty one counted, as addReference does).
    sync.addReference([]);
    await chunked.addReferenceAsync([]);
    sync.addReference([3, 4]);
    await chunked.addReferenceAsync([3, 4]);
    const positions = Array.from({ length: sync.length }, (_, i) => i);
    expect(positions.map((i) => [chunked.sourceAt(i), chunked.referenceAt(i)])).toEqual(positions.map((i) => [sync.sourceAt(i), sync.referenceAt(i)]));
    expect(chunked.referenceAt(chunked.length - 1)).toBe(4);
    // ceil(5000 / 777) = 7 reports per reference, increasing, the last one complete.
    expect(reports).toHaveLength(21);
    expect(reports.slice(0, 7).map(([done]) => done)).toEqual([777, 1554, 2331, 3108, 3885, 4662, 5000]);
    expect(reports.every(([, total]) => total === 5000)).toBe(true);
  });

  it("an abort stops it at the next chunk with the signal's reason", async () => {
    const controller = new AbortController();
    const index = new ReferenceIndex();
    let chunks = 0;
    const run = index.addReferenceAsync(references[0], {
      chunkTokens: 100,
      signal: controller.signal,
      onProgress: () => {
        if (++chunks === 3) controller.abort(new Error("stop here"));
      },
    });
    await expect(run).rejects.toThrow("stop here");
    expect(chunks).toBe(3);
    expect(index.length).toBe(300);
    await expect(new ReferenceIndex().addReferenceAsync([1, 2], { signal: AbortSignal.abort(new Error("already")) })).rejects.toThrow("already");
    await expect(new ReferenceIndex().addReferenceAsync([1, 2], { chunkTokens: 0 })).rejects.toThrow(/chunkTokens must be an integer >= 1, got 0/);
  });

  it("yields to the event loop between chunks: a timer fires while a long reference is indexed", async () => {
    let fired = false;
    setTimeout(() => (fired = true), 0);
    let firedDuring = false;
    await new ReferenceIndex().addReferenceAsync(references[0], { chunkTokens: 1000, onProgress: (done) => void (done === 5000 && (firedDuring = fired)) });
    expect(firedDuring).toBe(true);
  });
});

describe.each([
  ["tiny", "SentencePiece (LLaMA-2)", "space-as-prefix"],
  ["qwen2-tiny", "byte-level BPE (Qwen2)", "space-in-next"],
] as const)("tokenizing in slices on %s (%s)", (shape, _vocabulary, expectedJoin) => {
  let model: LlamaCppModel;
  beforeAll(async () => {
    model = await LlamaCppModel.load({ model: await ensureModel({ shape, quant: "Q8_0" }), threads: 1, contextSize: 256, probeExactness: false });
  }, 300_000);
  afterAll(async () => model?.dispose());

  it(`gives the whole text's tokens (the join is measured: ${expectedJoin})`, async () => {
    const text = largeText(400_000, 3);
    const whole = model.tokenize(text, { bos: false });
    const slices: number[] = [];
    const sliced = await tokenizeInSlices(model, text, { sliceChars: 16 * 1024, onSlice: (done) => slices.push(done) });
    expect(sliced.length).toBe(whole.length);
    expect(sliced).toEqual(whole);
    expect(slices.length).toBeGreaterThan(20);
    expect(slices[slices.length - 1]).toBe(text.length);
    expect(sliceJoinAt(model, text, text.indexOf(" ", 20_000))).toBe(expectedJoin);
  }, 120_000);

  it("indexReferences: progress through both phases, an index that finds what the text holds; aborted, it stops", async () => {
    const text = largeText(150_000, 4);
    const progress: IndexingProgress[] = [];
    const index = await indexReferences(model, [text, [5, 6, 7]], { sliceChars: 8192, chunkTokens: 4096, onProgress: (p) => progress.push(p) });
    const tokens = model.tokenize(text, { bos: false });
    expect(index.length).toBe(tokens.length + 1 + 3); // one separator between the two references
    expect(index.continuation(0, 50)).toEqual(tokens.slice(0, 50));
    const phases = progress.map((p) => p.phase);
    expect(phases.indexOf("indexing")).toBeGreaterThan(5);
    expect(phases.slice(phases.indexOf("indexing")).every((phase) => phase === "indexing")).toBe(true);
    expect(progress.at(-1)).toEqual({ phase: "indexing", done: tokens.length + 3, total: tokens.length + 3 });
    expect(progress.find((p) => p.phase === "tokenizing")!.total).toBe(text.length);

    const controller = new AbortController();
    const aborted = indexReferences(model, [text], { sliceChars: 8192, signal: controller.signal, onProgress: () => controller.abort(new Error("user stop")) });
    await expect(aborted).rejects.toThrow("user stop");
    // generate()'s variant: an empty index, so the request ends as an aborted one.
    const empty = await indexReferencesUnlessAborted(model, [text], { signal: AbortSignal.abort() });
    expect(empty.length).toBe(0);
    await expect(indexReferencesUnlessAborted(model, [text], { sliceChars: -1 })).rejects.toThrow(/sliceChars must be an integer >= 1/);
  }, 120_000);
});
