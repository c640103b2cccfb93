/**
 * K-quants for the GGUF writer: ggml's Q4_K, Q5_K and Q6_K super-block formats (QK_K = 256 values per
 * block), seeded random block generation, llama.cpp's per-tensor type choice for the Q4_K_M / Q5_K_M /
 * Q6_K file recipes, and a JS dequantizer (tests use it to check what llama.cpp computes from the blocks).
 *
 * Layouts (ggml/src/ggml-common.h; values as in ggml-quants.c's dequantize_row_q*_K):
 *   Q4_K, 144 bytes: f16 d, f16 dmin, scales[12] (8 6-bit scales + 8 6-bit mins), qs[128] (nibbles).
 *        Sub-block j (32 values) = d·sc_j·q − dmin·m_j; bytes qs[32i..32i+32) hold sub-block 2i in
 *        their low nibbles and sub-block 2i+1 in their high nibbles.
 *   Q5_K, 176 bytes: f16 d, f16 dmin, scales[12], qh[32], qs[128]. Like Q4_K with a 5th bit: bit j of
 *        qh[l] is the high bit of value l of sub-block j.
 *   Q6_K, 210 bytes: ql[128], qh[64], int8 scales[16], f16 d. 16 sub-blocks of 16 values, d·sc·(q − 32)
 *        with q 6 bits; each half (128 values) takes 64 bytes of ql and 32 of qh, see dequantizeQ6K.
 */
import { f16BitsToF32, f32ToF16Bits } from "./f16.js";

export const QK_K = 256;
/** Size of the packed 6-bit scales and mins of Q4_K / Q5_K. */
const K_SCALE_SIZE = 12;

/** ggml_type ids (ggml.h). */
export const GGML_TYPE_Q8_0 = 8;
export const GGML_KQUANT_TYPE = { Q4_K: 12, Q5_K: 13, Q6_K: 14 } as const;
export type KQuantType = (typeof GGML_KQUANT_TYPE)[keyof typeof GGML_KQUANT_TYPE];

export const KQUANT_BLOCK_BYTES: Readonly<Record<KQuantType, number>> = Object.freeze({
  12: 2 + 2 + K_SCALE_SIZE + QK_K / 2, // 144
  13: 2 + 2 + K_SCALE_SIZE + QK_K / 8 + QK_K / 2, // 176
  14: QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, // 210
});

const TYPE_NAME: Readonly<Record<number, string>> = { 8: "Q8_0", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K" };

export function isKQuantType(type: number): type is KQuantType {
  return type === 12 || type === 13 || type === 14;
}

/** The file-level recipes people download (llama-quantize's Q4_K_M, Q5_K_M, Q6_K). */
export type KQuantRecipe = "Q4_K_M" | "Q5_K_M" | "Q6_K";
export const KQUANT_RECIPES: readonly KQuantRecipe[] = ["Q4_K_M", "Q5_K_M", "Q6_K"];
/** general.file_type: llama.h's LLAMA_FTYPE_MOSTLY_Q4_K_M / Q5_K_M / Q6_K. */
export const KQUANT_FILE_TYPE: Readonly<Record<KQuantRecipe, number>> = Object.freeze({ Q4_K_M: 15, Q5_K_M: 17, Q6_K: 18 });
/** The recipe's default tensor type (llama-quant.cpp's llama_ftype_get_default_type). */
const RECIPE_BASE_TYPE: Readonly<Record<KQuantRecipe, KQuantType>> = { Q4_K_M: 12, Q5_K_M: 13, Q6_K: 14 };

export function isKQuantRecipe(quant: string): quant is KQuantRecipe {
  return (KQUANT_RECIPES as readonly string[]).includes(quant);
}

/** What tensorTypeFor needs to know about the model (llama hparams). */
export interface KQuantModelInfo {
  nLayer: number;
  nHead: number;
  nHeadKv: number;
}

/**
 * llama.cpp's layer choice for the "_M" mixes: the first and last eighth of the layers, and every third
 * layer in between, get more bits (llama-quant.cpp's use_more_bits).
 */
function useMoreBits(layer: number, nLayer: number): boolean {
  const eighth = Math.floor(nLayer / 8);
  return layer < eighth || layer >= Math.floor((7 * nLayer) / 8) || (layer - eighth) % 3 === 2;
}

/**
 * The ggml type llama-quantize gives a 2-D weight tensor of a dense LLaMA model under `recipe`
 * (llama-quant.cpp's llama_tensor_get_type, without imatrix, overrides or --pure). For these recipes:
 * output.weight → Q6_K (Q8_0 if its rows are not a multiple of 256); attn_v and ffn_down → Q6_K on the
 * use_more_bits layers for Q4_K_M / Q5_K_M; attn_v → Q5_K where llama.cpp's LLaMA-70B rule applies
 * (80 layers with GQA) and it would be Q4_K; everything else, token_embd included, → the recipe's base
 * type. GQA changes nothing else here (llama.cpp's n_gqa rules are for Q2_K / Q3 / IQ mixes, its attn_k
 * rules for 8-expert models and IQ3 mixes). 1-D tensors (norms) are not quantized and never get here.
 *
 * Rows that are not a multiple of 256 are rejected: llama.cpp would fall back to Q5_0 / Q5_1 / Q8_0 for
 * such tensors, and this writer does not generate Q5_0 / Q5_1 (a file called Q4_K_M that is mostly Q5_0
 * would also measure something else than the Q4_K_M files people download).
 */
export function tensorTypeFor(recipe: KQuantRecipe, name: string, ne: readonly number[], model: KQuantModelInfo): number {
  const rowLength = ne[0];
  if (name === "output.weight") return rowLength % QK_K === 0 ? GGML_KQUANT_TYPE.Q6_K : GGML_TYPE_Q8_0;
  let type: number = RECIPE_BASE_TYPE[recipe];
  const layerMatch = /^blk\.(\d+)\./.exec(name);
  const layer = layerMatch ? Number(layerMatch[1]) : -1;
  const mixed = recipe === "Q4_K_M" || recipe === "Q5_K_M";
  if (name.includes("attn_v.weight")) {
    if (layer < 0) throw new Error(`tensor "${name}": no layer index in its name`);
    if (mixed && useMoreBits(layer, model.nLayer)) type = GGML_KQUANT_TYPE.Q6_K;
    const isLlama70b = model.nLayer === 80 && model.nHead !== model.nHeadKv;
    if (isLlama70b && type === GGML_KQUANT_TYPE.Q4_K) type = GGML_KQUANT_TYPE.Q5_K;
  } else if (name.includes("ffn_down")) {
    if (layer < 0) throw new Error(`tensor "${name}": no layer index in its name`);
    if (mixed && useMoreBits(layer, model.nLayer)) type = GGML_KQUANT_TYPE.Q6_K;
  }
  if (rowLength % QK_K !== 0) {
    throw new Error(
      `${recipe}: tensor "${name}" has shape [${ne.join(", ")}]: its rows of ${rowLength} values are not a multiple of ` +
        `${QK_K}, which ${TYPE_NAME[type]} needs (llama.cpp would fall back to a legacy type for it; this writer does not). ` +
        `Use a shape whose nEmbd and nFf are multiples of ${QK_K} (e.g. tiny-k) or a legacy quant (Q8_0, Q4_0, F16).`,
    );
  }
  return type;
}

// ---------------------------------------------------------------------------------------------------
// 6-bit scales and mins of Q4_K / Q5_K

/**
 * Packs 8 scales and 8 mins (each 0..63) into Q4_K / Q5_K's 12 bytes at out[off..off+12): bytes 0-3 hold
 * scales 0-3, bytes 4-7 mins 0-3 (low 6 bits); bytes 8-11 the low nibbles of scales 4-7 (low half) and
 * mins 4-7 (high half), whose top 2 bits sit in the top 2 bits of bytes 0-3 (scales) and 4-7 (mins).
 */
export function packScalesMins(scales: ArrayLike<number>, mins: ArrayLike<number>, out: Uint8Array, off: number): void {
  for (let j = 0; j < 4; j++) {
    const sHi = scales[j + 4];
    const mHi = mins[j + 4];
    out[off + j] = (scales[j] & 63) | ((sHi >> 4) << 6);
    out[off + j + 4] = (mins[j] & 63) | ((mHi >> 4) << 6);
    out[off + j + 8] = (sHi & 15) | ((mHi & 15) << 4);
  }
}

/** Scale (0..63) of sub-block j from the 12 packed bytes at q[off..] (ggml's get_scale_min_k4). */
function unpackScale(q: Uint8Array, off: number, j: number): number {
  return j < 4 ? q[off + j] & 63 : (q[off + j + 4] & 15) | ((q[off + j - 4] >> 6) << 4);
}

/** Min (0..63) of sub-block j from the 12 packed bytes at q[off..]. */
function unpackMin(q: Uint8Array, off: number, j: number): number {
  return j < 4 ? q[off + j + 4] & 63 : (q[off + j + 4] >> 4) | ((q[off + j] >> 6) << 4);
}

// ---------------------------------------------------------------------------------------------------
// Dequantization (f32 arithmetic in ggml's order, so results equal dequantize_row_q*_K's bit for bit)

const f = Math.fround;

function readF16(b: Uint8Array, off: number): number {
  return f16BitsToF32(b[off] | (b[off + 1] << 8));
}

/** Values of the Q4_K blocks in bytes[off..), n values (a multiple of 256). */
export function dequantizeQ4K(bytes: Uint8Array, n: number, off = 0): Float32Array {
  return dequantizeQ45K(bytes, n, off, false);
}

/** Values of the Q5_K blocks in bytes[off..), n values (a multiple of 256). */
export function dequantizeQ5K(bytes: Uint8Array, n: number, off = 0): Float32Array {
  return dequantizeQ45K(bytes, n, off, true);
}

function dequantizeQ45K(bytes: Uint8Array, n: number, off: number, fiveBit: boolean): Float32Array {
  checkCount(n);
  const y = new Float32Array(n);
  const blockBytes = KQUANT_BLOCK_BYTES[fiveBit ? 13 : 12];
  for (let i = 0; i < n / QK_K; i++) {
    const b = off + i * blockBytes;
    const d = readF16(bytes, b);
    const dmin = readF16(bytes, b + 2);
    const sc = b + 4;
    const qh = b + 4 + K_SCALE_SIZE; // Q5_K only
    const qs = fiveBit ? qh + QK_K / 8 : qh;
    for (let j = 0; j < 8; j++) {
      const dj = f(d * unpackScale(bytes, sc, j));
      const mj = f(dmin * unpackMin(bytes, sc, j));
      const byteBase = qs + 32 * (j >> 1);
      const shift = (j & 1) * 4;
      for (let l = 0; l < 32; l++) {
        let q = (bytes[byteBase + l] >> shift) & 15;
        if (fiveBit && (bytes[qh + l] >> j) & 1) q += 16;
        y[i * QK_K + 32 * j + l] = f(f(dj * q) - mj);
      }
    }
  }
  return y;
}

/** Values of the Q6_K blocks in bytes[off..), n values (a multiple of 256). */
export function dequantizeQ6K(bytes: Uint8Array, n: number, off = 0): Float32Array {
  checkCount(n);
  const y = new Float32Array(n);
  const blockBytes = KQUANT_BLOCK_BYTES[14];
  for (let i = 0; i < n / QK_K; i++) {
    const b = off + i * blockBytes;
    const d = readF16(bytes, b + 208);
    for (let half = 0; half < 2; half++) {
      const ql = b + 64 * half;
      const qh = b + 128 + 32 * half;
      const sc = b + 192 + 8 * half;
      const out = i * QK_K + 128 * half;
      // Value l + 32k (k = 0..3) of this half: low 4 bits from ql[l] (k even) or ql[l + 32] (k odd),
      // low nibble for k < 2, high nibble for k ≥ 2; high 2 bits from qh[l] at bit 2k.
      for (let l = 0; l < 32; l++) {
        for (let k = 0; k < 4; k++) {
          const lo = (bytes[ql + l + 32 * (k & 1)] >> (k < 2 ? 0 : 4)) & 15;
          const hi = (bytes[qh + l] >> (2 * k)) & 3;
          const q = (lo | (hi << 4)) - 32;
          const scale = (bytes[sc + (l >> 4) + 2 * k] << 24) >> 24; // int8
          y[out + l + 32 * k] = f(f(d * scale) * q);
        }
      }
    }
  }
  return y;
}

/** Values of n elements of a K-quant tensor's data starting at bytes[off]. */
export function dequantizeKQuant(type: KQuantType, bytes: Uint8Array, n: number, off = 0): Float32Array {
  if (type === 12) return dequantizeQ4K(bytes, n, off);
  if (type === 13) return dequantizeQ5K(bytes, n, off);
  return dequantizeQ6K(bytes, n, off);
}

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n % QK_K !== 0) throw new Error(`K-quant value count must be a multiple of ${QK_K}, got ${n}`);
}

// ---------------------------------------------------------------------------------------------------
// Random blocks

/*
 * Scales. Quant values are uniform random bits; the scales are chosen so each tensor's values have the
 * requested std sigma and a mean of ~0 (an offset would add the same bias to every dot product):
 *   Q4_K / Q5_K: sub-block scales sc uniform in 16..31 and mins m = 2·sc with dmin = d·(qmax/2)/2, so a
 *     sub-block's values are d·sc·(q − qmax/2), centred on 0. Scales and mins differ, so a decoder that
 *     mixed them up would be caught by the llama.cpp comparison in the tests.
 *   Q6_K: int8 sub-block scales ±(32..63) with a random sign, which cancels the −0.5 mean of (q − 32).
 * The super-block scale d is the same for every block of a tensor: d = sigma / √(E[sc²]·E[(q − centre)²]).
 */
const Q45_SCALE_MIN = 16; // 6-bit scales in [16, 31]
const Q6_SCALE_MIN = 32; // |int8 scales| in [32, 63]

/** Mean of k² for k uniform in [lo, lo + count). */
function meanSquare(lo: number, count: number): number {
  let s = 0;
  for (let k = lo; k < lo + count; k++) s += k * k;
  return s / count;
}

/** Second moment of (q − centre) for q uniform in [0, levels), centre = (levels − 1)/2, or 32 for Q6_K. */
function quantSecondMoment(levels: number, centre: number): number {
  let s = 0;
  for (let q = 0; q < levels; q++) s += (q - centre) ** 2;
  return s / levels;
}

export interface KQuantChunk {
  buf: Buffer;
  words: Uint32Array;
}

export interface KQuantStream<C extends KQuantChunk> {
  /** Fills words[0..n) with the tensor's seeded random stream. */
  fillRandom: (words: Uint32Array, n: number) => void;
  /** A free chunk buffer, at least maxChunkBytes + 4 bytes long. */
  next: () => C;
  emit: (chunk: C, len: number) => Promise<void>;
  maxChunkBytes: number;
}

/**
 * Generates nBlocks random blocks of `type` with values of std sigma, chunk by chunk: random bytes for the
 * whole chunk, then each block's d / dmin / scales overwritten (the scales derived from the random bytes
 * they replace).
 */
export async function generateKQuantBlocks<C extends KQuantChunk>(
  type: KQuantType,
  nBlocks: number,
  sigma: number,
  stream: KQuantStream<C>,
): Promise<void> {
  const blockBytes = KQUANT_BLOCK_BYTES[type];
  let dBits: number;
  let dminBits = 0;
  if (type === 14) {
    dBits = f32ToF16Bits(sigma / Math.sqrt(meanSquare(Q6_SCALE_MIN, 32) * quantSecondMoment(64, 32)));
  } else {
    const levels = type === 12 ? 16 : 32;
    const centre = (levels - 1) / 2;
    dBits = f32ToF16Bits(sigma / Math.sqrt(meanSquare(Q45_SCALE_MIN, 16) * quantSecondMoment(levels, centre)));
    // m = 2·sc, so dmin·m = d·sc·centre.
    dminBits = f32ToF16Bits(f16BitsToF32(dBits) * (centre / 2));
  }
  const blocksPerChunk = Math.max(1, Math.floor(stream.maxChunkBytes / blockBytes));
  const scales = new Uint8Array(8);
  const mins = new Uint8Array(8);
  for (let done = 0; done < nBlocks; done += blocksPerChunk) {
    const nb = Math.min(blocksPerChunk, nBlocks - done);
    const len = nb * blockBytes;
    const c = stream.next();
    stream.fillRandom(c.words, Math.ceil(len / 4));
    const b = c.buf;
    for (let o = 0; o < len; o += blockBytes) {
      if (type === 14) {
        for (let k = 0; k < 16; k++) {
          const r = b[o + 192 + k];
          const magnitude = Q6_SCALE_MIN + (r & 31);
          b[o + 192 + k] = r & 0x80 ? (256 - magnitude) & 0xff : magnitude;
        }
        b[o + 208] = dBits & 0xff;
        b[o + 209] = dBits >>> 8;
      } else {
        for (let j = 0; j < 8; j++) {
          const nibble = (b[o + 4 + (j >> 1)] >> ((j & 1) * 4)) & 15;
          scales[j] = Q45_SCALE_MIN + nibble;
          mins[j] = 2 * scales[j];
        }
        packScalesMins(scales, mins, b, o + 4);
        b[o] = dBits & 0xff;
        b[o + 1] = dBits >>> 8;
        b[o + 2] = dminBits & 0xff;
        b[o + 3] = dminBits >>> 8;
      }
    }
    await stream.emit(c, len);
  }
}
