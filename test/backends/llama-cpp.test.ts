/**
 * LlamaCppModel as a library object: wrapping a caller's node-llama-cpp model, disposal (also through
 * Symbol.asyncDispose), option checks, and the cost curve measured once on first need.
 */
import vm from "node:vm";
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { generate } from "../../src/core/generate.js";

const PROMPT = "The quick brown fox jumps over the lazy dog. The quick brown fox";
let path: string;
let llama: Llama;
let callerModel: LlamaModel;

beforeAll(async () => {
  path = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  // The app's own instance, as node-llama-cpp's docs create one (not llma's shared one).
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  callerModel = await llama.loadModel({ modelPath: path });
});
afterAll(async () => {
  await callerModel?.dispose();
  await llama?.dispose();
});

/** Greedy tokens of node-llama-cpp alone on `model`, 12 tokens. */
async function plainTokens(model: LlamaModel): Promise<number[]> {
  const context = await model.createContext({ contextSize: 512, threads: 1, flashAttention: true, experimentalKvCacheKeyType: "Q8_0", experimentalKvCacheValueType: "Q8_0" });
  try {
    const sequence = context.getSequence();
    const out: number[] = [];
    const tokens = [model.tokens.bos!, ...model.tokenize(PROMPT)];
    for await (const token of sequence.evaluate(tokens, { temperature: 0, yieldEogToken: true })) {
      out.push(token);
      if (out.length === 12) break;
    }
    return out;
  } finally {
    await context.dispose();
  }
}

describe("LlamaCppModel wraps a caller's LlamaModel", () => {
  it("generates with it, and its dispose() leaves the caller's model usable", async () => {
    const before = await plainTokens(callerModel);
    const model = await LlamaCppModel.load({ model: callerModel, threads: 1, contextSize: 512, probeExactness: false });
    expect(model.model).toBe(callerModel);
    expect(model.llama).toBe(llama);
    expect(model.ownsModel).toBe(false);
    expect(model.path).toBe(path); // the file, for the cost-curve and exactness caches
    const result = await generate(model, { prompt: PROMPT, maxTokens: 12, policy: "paper", references: [PROMPT] });
    // Lossless: llma on the caller's model gives node-llama-cpp's own greedy tokens.
    expect(result.tokens).toEqual(before);
    await model.dispose();
    await model.dispose(); // idempotent
    expect(callerModel.disposed).toBe(false);
    expect(llama.disposed).toBe(false);
    expect(await plainTokens(callerModel)).toEqual(before);
  }, 120_000);

  it("loads a file with the caller's Llama, under node-llama-cpp's option name modelPath, and disposes only its own model", async () => {
    const model = await LlamaCppModel.load({ modelPath: path, llama, threads: 1, contextSize: 512, probeExactness: false });
    expect(model.llama).toBe(llama);
    expect(model.ownsModel).toBe(true);
    await model.dispose();
    expect(model.model.disposed).toBe(true);
    expect(llama.disposed).toBe(false);
  }, 120_000);

  it("names options that do not fit together instead of ignoring them", async () => {
    await expect(LlamaCppModel.load({})).rejects.toThrow(/no model: give `model`/);
    await expect(LlamaCppModel.load({ model: path, modelPath: path })).rejects.toThrow(/`model` or `modelPath`, not both/);
    await expect(LlamaCppModel.load({ model: callerModel, gpuLayers: 0 })).rejects.toThrow(/`gpuLayers` applies when llma loads the file/);
    await expect(LlamaCppModel.load({ model: callerModel, llama })).rejects.toThrow(/`llama` applies when llma loads the file/);
    await expect(LlamaCppModel.load({ modelPath: path, llama, gpu: false })).rejects.toThrow(/`llama` or `gpu`, not both/);
    await expect(LlamaCppModel.load({ modelPath: path, gpuLayers: 4, threads: 1 })).rejects.toThrow(/gpuLayers 4 needs a GPU/);
    await expect(LlamaCppModel.load({ model: {} as unknown as LlamaModel })).rejects.toThrow(/must be a GGUF path, an hf: URI or a node-llama-cpp LlamaModel/);
    expect(callerModel.disposed).toBe(false);
  });
});

describe("disposal", () => {
  it("Symbol.asyncDispose disposes the model (await using)", async () => {
    let loaded: LlamaCppModel | undefined;
    {
      await using model = await LlamaCppModel.load({ model: path, threads: 1, contextSize: 256, probeExactness: false });
      loaded = model;
      expect(model.model.disposed).toBe(false);
    }
    expect(loaded.model.disposed).toBe(true);
    expect(loaded.context.disposed).toBe(true);
  }, 120_000);

  it("on a wrapped model, Symbol.asyncDispose frees llma's contexts only", async () => {
    const model = await LlamaCppModel.load({ model: callerModel, threads: 1, contextSize: 256, probeExactness: false });
    await model[Symbol.asyncDispose]();
    expect(model.context.disposed).toBe(true);
    expect(callerModel.disposed).toBe(false);
  }, 120_000);
});

describe("native garbage", () => {
  it("batched passes trigger collections (~1 per 64 MB of sampler buffers), and no gc is left exposed", async () => {
    const model = await LlamaCppModel.load({ model: path, threads: 1, contextSize: 256, probeExactness: false });
    try {
      const sequence = await model.createSequence();
      try {
        await sequence.evaluate([1, 300]);
        // 32,000 tokens x 12 bytes per controlledEvaluate call: 64 MB after ~175 two-token passes.
        for (let i = 0; i < 200; i++) {
          await sequence.evaluate([400 + (i % 50), 500]);
          await sequence.truncate(2);
        }
      } finally {
        sequence.dispose();
      }
      expect(model.garbage.collections).toBe(1);
      expect(vm.runInNewContext("typeof gc")).toBe("undefined");
    } finally {
      await model.dispose();
    }
  }, 120_000);
});

describe("the cost curve on first need", () => {
  it("concurrent generate() calls with the default policy share one calibration, and stay lossless", async () => {
    const model = await LlamaCppModel.load({ model: path, threads: 1, contextSize: 512, sequences: 2, probeExactness: false });
    try {
      let calibrations = 0;
      const calibrate = model.calibrate.bind(model);
      model.calibrate = (options) => {
        calibrations++;
        return calibrate(options);
      };
      expect(model.costCurve).toBeUndefined();
      const request = { prompt: PROMPT, references: [PROMPT], maxTokens: 16 };
      const [a, b] = await Promise.all([generate(model, request), generate(model, request)]);
      expect(calibrations).toBe(1);
      expect(model.costCurve).toBeDefined();
      const plain = await generate(model, { ...request, method: "greedy" });
      expect(a.tokens).toEqual(plain.tokens);
      expect(b.tokens).toEqual(plain.tokens);
      await generate(model, request);
      expect(calibrations).toBe(1); // measured once per model
    } finally {
      await model.dispose();
    }
  }, 300_000);
});
