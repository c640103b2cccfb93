/**
 * Every decoding path of the server ends generation and streams text by the same rules
 * (core/output-text.ts): LLMA's loop (greedy, with a reference to draft from), node-llama-cpp's
 * sampler (logit bias: the plain sampler's path) and the constrained path (streamed log probabilities)
 * give the same text for a stop string written across tokens, and stream exactly that text.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { Accelerator } from "../../src/core/accelerator.js";
import type { TokenSequence } from "../../src/core/model.js";
import { runGeneration, type EngineRequest, type EngineResult } from "../../src/server/engine.js";

let model: LlamaCppModel;
let sequence: TokenSequence;

beforeAll(async () => {
  model = await LlamaCppModel.load({ model: await ensureModel({ shape: "tiny", quant: "Q8_0" }), threads: 1, sequences: 1 });
  sequence = await model.createSequence();
}, 120_000);

afterAll(async () => {
  sequence?.dispose();
  await model?.dispose();
});

const MAX_TOKENS = 40;

type Path = "llma" | "sampler" | "constrained";

async function run(path: Path, prompt: readonly number[], stop: readonly string[], references: readonly string[] = []): Promise<{ result: EngineResult; streamed: string }> {
  let streamed = "";
  const request: EngineRequest = {
    prompt,
    maxTokens: MAX_TOKENS,
    stop,
    references,
    indexPrompt: false,
    indexOutput: false,
    policy: "paper",
    signal: new AbortController().signal,
    onText: (text) => (streamed += text),
    // A bias of 0 changes no logit, but takes node-llama-cpp's sampler (greedy at temperature 0).
    ...(path === "sampler" ? { sampling: { temperature: 0, logitBias: new Map([[model.tokenize("x")[0], 0]]) } } : {}),
    ...(path === "constrained" ? { constraints: { topLogprobs: 0 } } : {}),
  };
  const result = await runGeneration(Accelerator.of(model), sequence, request);
  return { result, streamed };
}

describe("one output collector for every decoding path", () => {
  it("a stop string split across tokens: the same text and finish on LLMA's, the sampler's and the constrained path, streamed exactly", async () => {
    const prompt = model.tokenize("The quick brown fox", { bos: true });
    const plain = await run("sampler", prompt, []);
    const tokens = plain.result.tokens!;
    expect(tokens.length).toBeGreaterThan(8);
    // A stop string that starts inside one generated token and ends inside a later one.
    let stop: string | undefined;
    const textOf = (count: number) => model.detokenize(tokens.slice(0, count), prompt.slice(-8));
    for (let i = 2; i < tokens.length - 2 && stop === undefined; i++) {
      const before = textOf(i);
      const first = textOf(i + 1).slice(before.length);
      const second = textOf(i + 2).slice(before.length + first.length);
      const candidate = first.slice(-2) + second.slice(0, 2);
      if (first.length >= 2 && second.length >= 2 && !candidate.includes("\uFFFD") && plain.result.text.indexOf(candidate) === before.length + first.length - 2) stop = candidate;
    }
    expect(stop, `no token pair to split a stop string across in ${JSON.stringify(plain.result.text)}`).toBeDefined();
    const expected = plain.result.text.slice(0, plain.result.text.indexOf(stop!));

    for (const path of ["llma", "sampler", "constrained"] as const) {
      const { result, streamed } = await run(path, prompt, [stop!], path === "llma" ? [plain.result.text] : []);
      expect(result.text, path).toBe(expected);
      expect(result.finishReason, path).toBe("stop");
      // The text streamed is the text: no piece of the stop string went out before it was recognized.
      expect(streamed, path).toBe(expected);
      if (path === "llma") expect(result.acceptedTokens).toBeGreaterThan(0);
      if (path === "constrained") expect(result.logprobs).toHaveLength(result.completionTokens);
    }
  });

  it("max tokens: every path stops at the same token with the same text", async () => {
    const prompt = model.tokenize("Once upon a time", { bos: true });
    const texts: string[] = [];
    for (const path of ["llma", "sampler", "constrained"] as const) {
      const { result, streamed } = await run(path, prompt, []);
      expect(streamed, path).toBe(result.text);
      texts.push(result.text);
      if (result.finishReason === "length") expect(result.completionTokens, path).toBe(MAX_TOKENS);
    }
    expect(new Set(texts).size).toBe(1);
  });
});
