import { copyFileSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLlama, LlamaLogLevel, readGgufFileInfo } from "node-llama-cpp";
import type { Llama, Token } from "node-llama-cpp";
import { f16BitsToF32, f32ToF16Bits } from "../../src/backends/f16.js";
import {
  dequantizeKQuant,
  dequantizeQ4K,
  dequantizeQ5K,
  dequantizeQ6K,
  GGML_KQUANT_TYPE,
  isKQuantType,
  KQUANT_BLOCK_BYTES,
  KQUANT_FILE_TYPE,
  KQUANT_RECIPES,
  packScalesMins,
  tensorTypeFor,
} from "../../src/backends/gguf-kquants.js";
import type { KQuantRecipe } from "../../src/backends/gguf-kquants.js";
import { planGgufModel, SHAPES, writeGgufModel } from "../../src/backends/gguf-writer.js";
import type { GgufPlan, ModelShape } from "../../src/backends/gguf-writer.js";

const THREADS = 1;
const SEED = 11;
const { Q4_K, Q5_K, Q6_K } = GGML_KQUANT_TYPE;
const Q8_0 = 8;
const F32 = 0;
const dir = mkdtempSync(join(tmpdir(), "llma-kquants-test-"));
let llama: Llama;

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: THREADS });
});

afterAll(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const written = new Map<KQuantRecipe, string>();
async function tinyK(recipe: KQuantRecipe): Promise<string> {
  let path = written.get(recipe);
  if (!path) {
    path = join(dir, `tiny-k-${recipe}-seed${SEED}.gguf`);
    await writeGgufModel({ shape: "tiny-k", quant: recipe, out: path, seed: SEED });
    written.set(recipe, path);
  }
  return path;
}

const tensorOf = (plan: GgufPlan, name: string) => {
  const t = plan.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor ${name}`);
  return t;
};

describe("layouts", () => {
  it("block sizes, ggml type ids and file types are ggml's / llama.cpp's", () => {
    expect(KQUANT_BLOCK_BYTES[Q4_K]).toBe(144);
    expect(KQUANT_BLOCK_BYTES[Q5_K]).toBe(176);
    expect(KQUANT_BLOCK_BYTES[Q6_K]).toBe(210);
    expect([Q4_K, Q5_K, Q6_K]).toEqual([12, 13, 14]);
    expect(KQUANT_FILE_TYPE).toEqual({ Q4_K_M: 15, Q5_K_M: 17, Q6_K: 18 });
    expect([isKQuantType(12), isKQuantType(14), isKQuantType(8), isKQuantType(11)]).toEqual([true, true, false, false]);

    const plan = planGgufModel("tiny-k", "Q4_K_M", SEED);
    for (const t of plan.tensors) {
      const rows = t.ne[1] ?? 1;
      const perRow = t.type === F32 ? t.ne[0] * 4 : (t.ne[0] / 256) * KQUANT_BLOCK_BYTES[t.type as 12 | 13 | 14];
      expect(t.nbytes, t.name).toBe(rows * perRow);
      expect(t.offset % 32, t.name).toBe(0);
    }
    expect(plan.nParams).toBe(17_564_928);
  });

  it("f16 conversions", () => {
    expect([0x3c00, 0x3800, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x8000].map(f16BitsToF32)).toEqual([
      1, 0.5, -2, 2 ** -24, 1023 * 2 ** -24, 65504, -0,
    ]);
    const notRoundTripping: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue; // inf / NaN
      if (f32ToF16Bits(f16BitsToF32(h)) !== h) notRoundTripping.push(h);
    }
    expect(notRoundTripping).toEqual([]);
  });
});

describe("JS dequantizer on hand-built blocks", () => {
  // Scales and mins 0..63, some with the top 2 bits set for sub-blocks 4-7 (stored apart from the low 4 bits).
  const sc = [1, 2, 3, 63, 17, 33, 48, 5];
  const mn = [0, 4, 62, 7, 16, 1, 63, 40];
  // Packed by hand from ggml's get_scale_min_k4: bytes 0-3 = sc[j] | (sc[j+4] >> 4) << 6, bytes 4-7 =
  // mn[j] | (mn[j+4] >> 4) << 6, bytes 8-11 = (sc[j+4] & 15) | (mn[j+4] & 15) << 4.
  const packed = [65, 130, 195, 63, 64, 4, 254, 135, 1, 17, 240, 133];

  it("packs 6-bit scales and mins as ggml does", () => {
    const out = new Uint8Array(12);
    packScalesMins(sc, mn, out, 0);
    expect([...out]).toEqual(packed);
  });

  /** One Q4_K (or Q5_K) block: d = 0.5, dmin = 0.25, known nibbles (and high bits). */
  function q45Block(fiveBit: boolean): { block: Uint8Array; expected: number[] } {
    const block = new Uint8Array(fiveBit ? 176 : 144);
    block.set([0x00, 0x38, 0x00, 0x34], 0); // f16 0.5, 0.25 (little-endian)
    block.set(packed, 4);
    const qh = 16;
    const qs = fiveBit ? 48 : 16;
    for (let i = 0; i < 128; i++) block[qs + i] = (i * 7 + 3) & 0xff;
    if (fiveBit) for (let l = 0; l < 32; l++) block[qh + l] = (l * 37 + 11) & 0xff;
    // Sub-block j, value l: nibble from byte qs + 32·(j div 2) + l (low nibble for even j), 5th bit = bit j of qh[l].
    const expected: number[] = [];
    for (let j = 0; j < 8; j++) {
      for (let l = 0; l < 32; l++) {
        const byte = block[qs + 32 * (j >> 1) + l];
        let q = j % 2 === 0 ? byte & 15 : byte >> 4;
        if (fiveBit && block[qh + l] & (1 << j)) q += 16;
        expected.push(0.5 * sc[j] * q - 0.25 * mn[j]);
      }
    }
    return { block, expected };
  }

  it("Q4_K", () => {
    const { block, expected } = q45Block(false);
    const y = dequantizeQ4K(block, 256);
    expect([...y]).toEqual(expected);
    // Spot values by hand: value 0 = 0.5·1·(3 & 15) − 0; sub-block 3 value 0 (byte 32 = (32·7+3) & 255 = 227,
    // high nibble 14) = 0.5·63·14 − 0.25·7;
    // sub-block 5 value 1 (byte 64 + 1 = (65·7+3) & 255 = 202, high nibble 12) = 0.5·33·12 − 0.25·1.
    expect([y[0], y[96], y[161]]).toEqual([1.5, 439.25, 197.75]);
    expect([...dequantizeKQuant(Q4_K, block, 256)]).toEqual(expected);
  });

  it("Q5_K", () => {
    const { block, expected } = q45Block(true);
    const y = dequantizeQ5K(block, 256);
    expect([...y]).toEqual(expected);
    // Value 0: nibble 3, qh[0] = 11 has bit 0 set → q = 19 → 0.5·1·19. Sub-block 2 value 0: byte 32 = (32·7+3) & 255 = 227,
    // low nibble 3, bit 2 of 11 is 0 → 0.5·3·3 − 0.25·62.
    expect([y[0], y[64]]).toEqual([9.5, -11]);
  });

  it("Q6_K", () => {
    const block = new Uint8Array(210);
    for (let i = 0; i < 128; i++) block[i] = (i * 5 + 1) & 0xff; // ql
    for (let i = 0; i < 64; i++) block[128 + i] = (i * 11 + 7) & 0xff; // qh
    const scales = [-128, 127, 1, -1, 5, -7, 64, -64, 2, 3, -3, 100, -100, 33, -33, 0];
    scales.forEach((s, k) => (block[192 + k] = s & 0xff));
    block.set([0x00, 0x30], 208); // f16 0.125
    // Value i: half h = i div 128, r = i mod 128, k = r div 32, l = r mod 32; low 4 bits from ql[64h + l + 32·(k mod 2)]
    // (low nibble for k < 2), high 2 bits = bits 2k..2k+1 of qh[32h + l]; scale = scales[8h + 2k + l div 16].
    const expected: number[] = [];
    for (let i = 0; i < 256; i++) {
      const h = i >> 7, r = i & 127, k = r >> 5, l = r & 31;
      const lowByte = block[64 * h + l + 32 * (k % 2)];
      const low = k < 2 ? lowByte & 15 : lowByte >> 4;
      const high = (block[128 + 32 * h + l] >> (2 * k)) & 3;
      expected.push(0.125 * scales[8 * h + 2 * k + (l >> 4)] * (low + 16 * high - 32));
    }
    const y = dequantizeQ6K(block, 256);
    expect([...y]).toEqual(expected);
    // Value 0: ql[0] = 1, qh[0] = 7 → q = 1 + 16·3 − 32 = 17, scale −128 → −272.
    // Value 16: ql[16] = 81 → 1, qh[16] = 183 → 3 → 17, scale 127 → 269.875.
    expect([y[0], y[16]]).toEqual([-272, 269.875]);
    expect([...dequantizeKQuant(Q6_K, block, 256)]).toEqual(expected);
  });

  it("rejects value counts that are not a multiple of 256", () => {
    expect(() => dequantizeQ6K(new Uint8Array(210), 128)).toThrow(/multiple of 256, got 128/);
  });
});

describe("tensorTypeFor: llama.cpp's llama_tensor_get_type for the recipes", () => {
  const typesOf = (recipe: KQuantRecipe, shape: ModelShape) => {
    const plan = planGgufModel(shape, recipe);
    return new Map(plan.tensors.map((t) => [t.name, t.type]));
  };
  const layersWith = (types: Map<string, number>, suffix: string, type: number, nLayer: number) =>
    Array.from({ length: nLayer }, (_, i) => i).filter((i) => types.get(`blk.${i}.${suffix}`) === type);

  it("Q4_K_M / Q5_K_M on LLaMA-2-7B: Q6_K output, attn_v and ffn_down on the use_more_bits layers", () => {
    // use_more_bits for 32 layers: i < 4, i >= 28, (i − 4) % 3 == 2.
    const moreBits = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
    for (const [recipe, base] of [["Q4_K_M", Q4_K], ["Q5_K_M", Q5_K]] as const) {
      const types = typesOf(recipe, SHAPES["llama-7b"]);
      expect(types.get("output.weight")).toBe(Q6_K);
      expect(types.get("token_embd.weight")).toBe(base);
      expect(types.get("output_norm.weight")).toBe(F32);
      expect(layersWith(types, "attn_v.weight", Q6_K, 32)).toEqual(moreBits);
      expect(layersWith(types, "ffn_down.weight", Q6_K, 32)).toEqual(moreBits);
      expect(layersWith(types, "attn_v.weight", base, 32).length).toBe(16);
      for (const name of ["attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"]) {
        expect(layersWith(types, `${name}.weight`, base, 32).length, name).toBe(32);
      }
    }
  });

  it("Q6_K puts every matrix in Q6_K; GQA changes nothing; llama.cpp's 70B rule gives attn_v Q5_K", () => {
    const q6 = typesOf("Q6_K", SHAPES["tinyllama-1.1b"]);
    for (const [name, type] of q6) expect(type, name).toBe(name.endsWith("norm.weight") ? F32 : Q6_K);
    // TinyLlama has GQA (32 heads, 4 KV heads): same choices as without it.
    const tl = typesOf("Q4_K_M", SHAPES["tinyllama-1.1b"]);
    expect(layersWith(tl, "attn_k.weight", Q4_K, 22).length).toBe(22);
    // use_more_bits for 22 layers: i < 2, i >= 19, (i − 2) % 3 == 2.
    expect(layersWith(tl, "attn_v.weight", Q6_K, 22)).toEqual([0, 1, 4, 7, 10, 13, 16, 19, 20, 21]);
    // An 80-layer LLaMA with GQA is llama.cpp's LLM_TYPE_70B: attn_v that would be Q4_K becomes Q5_K.
    const model70b = { nLayer: 80, nHead: 64, nHeadKv: 8 };
    expect(tensorTypeFor("Q4_K_M", "blk.20.attn_v.weight", [8192, 1024], model70b)).toBe(Q5_K);
    expect(tensorTypeFor("Q4_K_M", "blk.0.attn_v.weight", [8192, 1024], model70b)).toBe(Q6_K);
    expect(tensorTypeFor("Q4_K_M", "blk.20.attn_v.weight", [8192, 8192], { nLayer: 80, nHead: 64, nHeadKv: 64 })).toBe(Q4_K);
    // An output matrix whose rows are not a multiple of 256 is Q8_0 in llama.cpp.
    expect(tensorTypeFor("Q5_K_M", "output.weight", [576, 32000], model70b)).toBe(Q8_0);
  });

  it("tiny-k: layer 1 of 2 is a use_more_bits layer", () => {
    const types = typesOf("Q4_K_M", SHAPES["tiny-k"]);
    expect(types.get("blk.0.attn_v.weight")).toBe(Q4_K);
    expect(types.get("blk.1.attn_v.weight")).toBe(Q6_K);
    expect(types.get("blk.0.ffn_down.weight")).toBe(Q4_K);
    expect(types.get("blk.1.ffn_down.weight")).toBe(Q6_K);
  });

  it("rejects rows that are not a multiple of 256, naming the tensor and its shape; writes nothing", async () => {
    expect(() => planGgufModel("tiny", "Q4_K_M")).toThrow(
      /Q4_K_M: tensor "token_embd\.weight" has shape \[128, 32000\]: its rows of 128 values are not a multiple of 256, which Q4_K needs/,
    );
    // smollm2-135m: nEmbd 576.
    expect(() => planGgufModel("smollm2-135m", "Q6_K")).toThrow(/tensor "token_embd\.weight" has shape \[576, 32000\].*tiny-k/);
    const out = join(dir, "bad-kquant.gguf");
    await expect(writeGgufModel({ shape: "tiny", quant: "Q5_K_M", out })).rejects.toThrow(/not a multiple of 256, which Q5_K needs/);
    expect(readdirSync(dir).filter((f) => f.startsWith("bad-"))).toEqual([]);
  });
});

/**
 * What llama.cpp's CPU backend feeds a K-quant matrix product: the activation row quantized to Q8_K
 * (ggml's quantize_row_q8_K_ref, which x86 uses: int8 values with one f32 scale per 256, the value of
 * largest magnitude mapping to −127, rounding to nearest even) — K-quant dot products are integer dot
 * products with it. Emulating it makes the comparison sharp (~1e-5 instead of the ~0.02 noise of the
 * activation rounding). Input: the RMS-normalized hidden state, computed in f32 as ggml_rms_norm does.
 */
function llamaCppOutputInput(e: Float32Array, eps: number): Float64Array {
  const f = Math.fround;
  let sumSq = 0;
  for (const v of e) sumSq += f(v * v);
  const scale = f(1 / f(Math.sqrt(f(f(sumSq / e.length) + f(eps)))));
  const x = e.map((v) => f(v * scale));
  const out = new Float64Array(x.length);
  for (let b = 0; b < x.length; b += 256) {
    let amax = 0;
    let max = 0;
    for (let j = b; j < b + 256; j++) {
      if (Math.abs(x[j]) > amax) {
        amax = Math.abs(x[j]);
        max = x[j];
      }
    }
    if (amax === 0) continue;
    const iscale = f(-127 / max);
    const d = f(1 / iscale);
    for (let j = b; j < b + 256; j++) out[j] = Math.min(127, f(f(iscale * x[j]) + 12582912) - 12582912) * d;
  }
  return out;
}

/** Log-probabilities llama.cpp gave at each position (temperature 1, no truncation). */
interface LlamaDistributions {
  tokens: number[];
  logProbs: Map<number, number>[];
}

/**
 * Largest difference between llama.cpp's log-probabilities and those predicted from the file's bytes
 * with the JS dequantizer, for a model whose layers are all zero (the hidden state is the token's
 * embedding row, so logits = W_out · rmsnorm(e)). Relative to each position's top token, so the
 * softmax normalizer cancels; over tokens with p > 1e-6 (thousands per position).
 */
function maxLogProbError(bytes: Uint8Array, plan: GgufPlan, llamaView: LlamaDistributions): number {
  const E = plan.shape.nEmbd;
  const V = plan.nVocab;
  const embd = tensorOf(plan, "token_embd.weight");
  const output = tensorOf(plan, "output.weight");
  if (!isKQuantType(embd.type) || !isKQuantType(output.type)) throw new Error("expected K-quant embedding and output");
  const W = dequantizeKQuant(output.type, bytes, E * V, plan.dataOffset + output.offset);
  const embdRowBytes = embd.nbytes / V;
  let worst = 0;
  llamaView.tokens.forEach((token, pos) => {
    const e = dequantizeKQuant(embd.type as 12 | 13 | 14, bytes, E, plan.dataOffset + embd.offset + token * embdRowBytes);
    const x = llamaCppOutputInput(e, plan.shape.rmsEps);
    const logits = new Float64Array(V);
    for (let j = 0; j < V; j++) {
      let s = 0;
      for (let k = 0; k < E; k++) s += W[j * E + k] * x[k];
      logits[j] = s;
    }
    const lp = llamaView.logProbs[pos];
    const top = lp.keys().next().value as number;
    for (const [tok, logP] of lp) {
      const err = Math.abs(logP - lp.get(top)! - (logits[tok] - logits[top]));
      if (err > worst) worst = err;
    }
  });
  return worst;
}

describe.each(KQUANT_RECIPES)("tiny-k %s", (recipe) => {
  const base = { Q4_K_M: Q4_K, Q5_K_M: Q5_K, Q6_K: Q6_K }[recipe];
  const expectedType = (name: string): number => {
    if (name.endsWith("norm.weight")) return F32;
    if (name === "output.weight") return Q6_K;
    if (/^blk\.1\.(attn_v|ffn_down)\./.test(name)) return Q6_K; // layer 1 of 2 is a use_more_bits layer
    return base;
  };

  it("readGgufFileInfo reports llama.cpp's tensor types per tensor, the file type and the planned size", async () => {
    const path = await tinyK(recipe);
    const plan = planGgufModel("tiny-k", recipe, SEED);
    expect(statSync(path).size).toBe(plan.totalBytes);
    const info = await readGgufFileInfo(path, { logWarnings: false });
    const md = info.metadata as unknown as Record<string, Record<string, any>>;
    expect(md.general.file_type).toBe(KQUANT_FILE_TYPE[recipe]);
    expect(md.general.quantization_version).toBe(2);
    expect(md.llama.attention.head_count_kv).toBe(2);
    const tensors = info.tensorInfo!;
    expect(tensors.length).toBe(3 + 9 * 2);
    for (const t of tensors) {
      expect(t.ggmlType, t.name).toBe(expectedType(t.name));
      expect(t.ggmlType, t.name).toBe(tensorOf(plan, t.name).type);
    }
  });

  it("same seed → identical bytes, other seed → different bytes of the same size", async () => {
    const first = readFileSync(await tinyK(recipe));
    const again = join(dir, `tiny-k-${recipe}-again.gguf`);
    const other = join(dir, `tiny-k-${recipe}-other.gguf`);
    await writeGgufModel({ shape: "tiny-k", quant: recipe, out: again, seed: SEED });
    await writeGgufModel({ shape: "tiny-k", quant: recipe, out: other, seed: SEED + 1 });
    expect(readFileSync(again).equals(first)).toBe(true);
    const b = readFileSync(other);
    expect(b.length).toBe(first.length);
    expect(b.equals(first)).toBe(false);
    rmSync(again);
    rmSync(other);
  });

  it("values have the intended std and a mean of ~0 (per quant type in the file)", async () => {
    const bytes = new Uint8Array(readFileSync(await tinyK(recipe)));
    const plan = planGgufModel("tiny-k", recipe, SEED);
    const checked = new Set<number>();
    for (const t of plan.tensors) {
      if (!isKQuantType(t.type)) continue;
      const n = t.ne[0] * t.ne[1];
      const y = dequantizeKQuant(t.type, bytes, n, plan.dataOffset + t.offset);
      let s = 0;
      let s2 = 0;
      for (const v of y) {
        s += v;
        s2 += v * v;
      }
      const mean = s / n;
      const std = Math.sqrt(s2 / n - mean * mean);
      expect(Math.abs(std / t.sigma - 1), `${t.name} std ${std} vs ${t.sigma}`).toBeLessThan(0.02);
      expect(Math.abs(mean) / t.sigma, `${t.name} mean ${mean}`).toBeLessThan(0.02);
      checked.add(t.type);
    }
    expect([...checked].sort()).toEqual(recipe === "Q6_K" ? [Q6_K] : [base, Q6_K].sort());
  });

  it("llama.cpp loads it; greedy decoding is deterministic and varied", async () => {
    const model = await llama.loadModel({ modelPath: await tinyK(recipe) });
    try {
      const run = async (): Promise<Token[]> => {
        const ctx = await model.createContext({ contextSize: 128, threads: THREADS, flashAttention: true });
        try {
          const out: Token[] = [];
          for await (const t of ctx.getSequence().evaluate([model.tokens.bos!, ...model.tokenize("The capital of France is")], { temperature: 0 })) {
            out.push(t);
            if (out.length >= 32) break;
          }
          return out;
        } finally {
          await ctx.dispose();
        }
      };
      const a = await run();
      const b = await run();
      expect(a.length).toBe(32);
      expect(b).toEqual(a);
      console.log(`tiny-k ${recipe}: ${new Set(a).size}/32 distinct greedy tokens`);
      expect(new Set(a).size).toBeGreaterThanOrEqual(16);
    } finally {
      await model.dispose();
    }
  });

  it("llama.cpp computes the values the JS dequantizer reads (zeroed layers: logits = W_out · rmsnorm(e)), and a one-step scale change is caught", async () => {
    const plan = planGgufModel("tiny-k", recipe, SEED);
    const zeroed = join(dir, `tiny-k-${recipe}-zero-layers.gguf`);
    copyFileSync(await tinyK(recipe), zeroed);
    // All-zero blocks decode to 0 (d = 0), all-zero norms give 0: every layer adds nothing to the residual stream.
    const fd = openSync(zeroed, "r+");
    for (const t of plan.tensors) if (t.name.startsWith("blk.")) writeSync(fd, Buffer.alloc(t.nbytes), 0, t.nbytes, plan.dataOffset + t.offset);
    closeSync(fd);
    const bytes = new Uint8Array(readFileSync(zeroed));

    const tokens = [1, 15043, 3186, 29889, 450, 100, 5000, 31999];
    const model = await llama.loadModel({ modelPath: zeroed });
    let llamaView!: LlamaDistributions;
    try {
      const ctx = await model.createContext({ contextSize: 64, threads: THREADS, flashAttention: true });
      try {
        // temperature 1 and no top-k / top-p / min-p (null removes a sampler): the full softmax of the logits.
        const options = { temperature: 1, topK: null, topP: null, minP: null } as unknown as { temperature: number };
        const results = await ctx
          .getSequence()
          .controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { probabilities: true, options } }]));
        const logProbs = results.map((r, i) => {
          const probs = r?.next?.probabilities;
          if (!probs) throw new Error(`no probabilities at position ${i}`);
          expect(probs.size).toBe(plan.nVocab);
          const m = new Map<number, number>();
          for (const [tok, p] of probs) if (p > 1e-6) m.set(tok, Math.log(p));
          expect(m.size).toBeGreaterThan(1000);
          return m;
        });
        llamaView = { tokens, logProbs };
      } finally {
        await ctx.dispose();
      }
    } finally {
      await model.dispose();
    }

    // Measured: ~4e-6 (f32 rounding); a one-step scale error gives 0.2 or more.
    const TOLERANCE = 1e-3;
    const err = maxLogProbError(bytes, plan, llamaView);
    console.log(`tiny-k ${recipe}: max |log-prob error| JS dequantizer vs llama.cpp = ${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOLERANCE);

    // The same comparison with the JS side reading a perturbed copy must fail.
    const embd = tensorOf(plan, "token_embd.weight");
    const output = tensorOf(plan, "output.weight");
    // 1. One step on the first sub-block scale of the first token's embedding row.
    const embdCopy = bytes.slice();
    const rowOff = plan.dataOffset + embd.offset + tokens[0] * (embd.nbytes / plan.nVocab);
    if (embd.type === Q6_K) {
      const s = (embdCopy[rowOff + 192] << 24) >> 24;
      embdCopy[rowOff + 192] = (s + Math.sign(s)) & 0xff;
    } else {
      const s = embdCopy[rowOff + 4] & 63;
      embdCopy[rowOff + 4] = (embdCopy[rowOff + 4] & 0xc0) | (s + 1);
    }
    const embdErr = maxLogProbError(embdCopy, plan, llamaView);
    // 2. The sign of one Q6_K scale in the output row of position 0's top token.
    const outCopy = bytes.slice();
    const top = llamaView.logProbs[0].keys().next().value as number;
    const scaleOff = plan.dataOffset + output.offset + top * KQUANT_BLOCK_BYTES[Q6_K] + 192 + 5;
    outCopy[scaleOff] = (256 - outCopy[scaleOff]) & 0xff;
    const outErr = maxLogProbError(outCopy, plan, llamaView);
    console.log(`tiny-k ${recipe}: perturbed embedding scale → ${embdErr.toExponential(2)}, perturbed output scale → ${outErr.toExponential(2)}`);
    expect(embdErr).toBeGreaterThan(5 * TOLERANCE);
    expect(outErr).toBeGreaterThan(5 * TOLERANCE);
  });
});
