/**
 * Bad input on the real tiny model: text streamed through decode() never splits a multi-byte character
 * (emoji, CJK: LLaMA's byte-fallback tokens carry them a byte at a time), a prompt beyond the context
 * is an error naming both sizes, decoding until the context is full stops cleanly, and references,
 * which never enter the context, do not count against it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { generate } from "../../src/core/generate.js";

let model: LlamaCppModel;
beforeAll(async () => {
  model = await LlamaCppModel.load({ model: await ensureModel({ shape: "tiny", quant: "Q8_0" }), threads: 1, contextSize: 256 });
});
afterAll(async () => {
  await model?.dispose();
});

const TEXT = " Emoji 😀🎉 and 漢字テスト, café — ünïcödé 👩‍👩‍👧 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 end. 中文也可以 🚀";

function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

describe("bad input (tiny model)", () => {
  it("streamed text never splits a multi-byte character: every piece is well formed, no U+FFFD, and the pieces add up to the text", async () => {
    const target = model.tokenize(TEXT);
    // The tokenizer really splits these characters into byte tokens, or this test would prove nothing.
    expect(target.some((token) => model.detokenize([token]).includes("\uFFFD"))).toBe(true);
    for (const request of [
      { method: "greedy" as const }, // one token per pass
      { references: [target], n: 1, k: 7 }, // drafts cut anywhere, several tokens per pass
      { references: [target], n: 1, k: 1 },
    ]) {
      const pieces: string[] = [];
      const result = await generate(model, { prompt: "Say it:", target, maxTokens: target.length, onText: (piece) => pieces.push(piece), ...request });
      expect(result.tokens).toEqual(target);
      expect(pieces.length).toBeGreaterThan(3);
      for (const piece of pieces) {
        expect(piece.includes("\uFFFD"), JSON.stringify(piece)).toBe(false);
        expect(isWellFormed(piece), JSON.stringify(piece)).toBe(true);
      }
      expect(pieces.join("")).toBe(result.text);
      expect(result.text).toBe(model.detokenize(target));
      expect(result.text).toContain("😀🎉");
      expect(result.text).toContain("漢字テスト");
    }
  });

  it("a prompt beyond the context is an error naming both sizes; references far beyond it do not count", async () => {
    const long = "word ".repeat(400);
    await expect(generate(model, { prompt: long, policy: "paper", maxTokens: 4 })).rejects.toThrow(/the prompt has \d+ tokens but the context holds 255/);
    // node-llama-cpp keeps one of the 256 cells free; filling it used to shift the context and crash.
    expect(model.contextSize).toBe(255);

    const prompt = "The quick brown fox";
    // Decoding up to a full context ends with "context-full" (it used to kill the process: SIGSEGV).
    const greedy = await generate(model, { prompt, method: "greedy", maxTokens: 300 });
    expect(greedy.stopReason).toBe("context-full");
    // 40x the context in references (they are indexed on the side, never evaluated).
    const reference = Array.from({ length: 10_240 }, (_, i) => greedy.tokens[i % Math.max(1, greedy.tokens.length)] ?? 100);
    const llma = await generate(model, { prompt, references: [reference, greedy.tokens], policy: "paper", n: 1, k: 12, maxTokens: 300 });
    expect(llma.tokens).toEqual(greedy.tokens);
    expect(llma.stopReason).toBe(greedy.stopReason);
  });
});
