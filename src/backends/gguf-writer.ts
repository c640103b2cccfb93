/**
 * Streaming writer for GGUF (v3) files with seeded random weights and real vocabularies: LLaMA-2
 * (32000-token SentencePiece, from `llama-tokenizer-js`, see ./llama2-vocab.ts), Llama-3, Qwen2.5 and
 * Qwen3 (byte-level BPE, see ./bpe-vocab.ts), each with its family's chat template. The family of a
 * shape is its `architecture` (./gguf-architectures.ts: metadata keys, layer tensors, vocabulary).
 *
 * The files load in llama.cpp / node-llama-cpp like any model of the same family and shape, so they can stand
 * in for real weights when measuring speed or checking that an inference path is lossless (the output
 * is gibberish, but deterministic). Quantized blocks are generated directly (random int8 / nibbles plus
 * one scale per block) and written tensor by tensor in chunks, so multi-GB files never sit in memory.
 */
import { mkdir, open, rename, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { endianness } from "node:os";
import { dirname } from "node:path";
import { isRecurrentShape, qwen35Metadata, qwen35Tensors, RECURRENT_SHAPES } from "./gguf-recurrent.js";
import { f32ToF16Bits } from "./f16.js";
import {
  generateKQuantBlocks,
  isKQuantRecipe,
  isKQuantType,
  KQUANT_BLOCK_BYTES,
  KQUANT_FILE_TYPE,
  KQUANT_RECIPES,
  QK_K,
  tensorTypeFor,
} from "./gguf-kquants.js";
import type { KQuantRecipe } from "./gguf-kquants.js";
import { resolveArchitecture, type GgufArchitecture, type Kv, type KvValue, type ModelShape } from "./gguf-architectures.js";

export type { ModelShape } from "./gguf-architectures.js";

export { ARCHITECTURES, ZEPHYR_CHAT_TEMPLATE } from "./gguf-architectures.js";

export { f32ToF16Bits } from "./f16.js";

/** Legacy quants put every matrix in one type; the K-quant recipes mix types per tensor as llama.cpp does (./gguf-kquants.ts). */
export type Quant = "Q8_0" | "Q4_0" | "F16" | KQuantRecipe;
export const QUANTS: readonly Quant[] = ["Q8_0", "Q4_0", "F16", ...KQUANT_RECIPES];

/**
 * Version of the bytes this writer produces for a given (shape, quant, seed). Bump it whenever the
 * output changes (layout, PRNG, scales, metadata) so caches keyed on it never reuse a stale file.
 */
export const GGUF_WRITER_VERSION = 3; // new architectures add shapes, never change an existing shape's bytes; 3: LLaMA-2 vocabulary from llama-tokenizer-js (was Mistral-7B's); 2: embeddings std 3 (was 1)

/**
 * Named transformer shapes. Those without an `architecture` are LLaMA-2's (32000-token SentencePiece
 * vocabulary, see ./llama2-vocab.ts). Every `*-tiny` shape is a fast test model of its family (2 layers
 * 256 wide: a few M parameters next to the vocabulary matrix); the others are real models' dimensions.
 * Row lengths of the newer families are multiples of 256 (K-quant blocks).
 */
export const SHAPES: Readonly<Record<string, ModelShape>> = Object.freeze({
  /** ~8.7 M parameters (mostly the 32000-row embedding and output matrices); loads in well under 1 s. */
  tiny: {
    name: "tiny",
    nEmbd: 128,
    nLayer: 2,
    nHead: 4,
    nHeadKv: 4,
    nFf: 256,
    contextLength: 2048,
    ropeFreqBase: 10000,
    rmsEps: 1e-5,
  },
  /**
   * The transformer body of SmolLM2-135M. The real model has a 49152-token GPT-2-style BPE vocabulary
   * (and tied embeddings); this shape keeps only its body and uses the 32000-token LLaMA-2 vocabulary,
   * so it has ~134 M parameters with an untied output matrix.
   */
  "smollm2-135m": {
    name: "smollm2-135m",
    nEmbd: 576,
    nLayer: 30,
    nHead: 9,
    nHeadKv: 3,
    nFf: 1536,
    contextLength: 8192,
    ropeFreqBase: 100000,
    rmsEps: 1e-5,
  },
  /** TinyLlama-1.1B (same vocabulary size as the real model), ~1.1 B parameters. */
  "tinyllama-1.1b": {
    name: "tinyllama-1.1b",
    nEmbd: 2048,
    nLayer: 22,
    nHead: 32,
    nHeadKv: 4,
    nFf: 5632,
    contextLength: 2048,
    ropeFreqBase: 10000,
    rmsEps: 1e-5,
  },
  /** LLaMA-2-7B, ~6.7 B parameters. */
  "llama-7b": {
    name: "llama-7b",
    nEmbd: 4096,
    nLayer: 32,
    nHead: 32,
    nHeadKv: 32,
    nFf: 11008,
    contextLength: 4096,
    ropeFreqBase: 10000,
    rmsEps: 1e-5,
  },
  /** Llama-3 test model: 1.7 M parameters besides the tied 128256-row embedding matrix (34.5 M in all; 45 MB in Q8_0). */
  "llama3-tiny": {
    name: "llama3-tiny",
    architecture: "llama3",
    nEmbd: 256,
    nLayer: 2,
    nHead: 4,
    nHeadKv: 4,
    nFf: 768,
    contextLength: 8192,
    ropeFreqBase: 500000,
    rmsEps: 1e-5,
    tiedEmbeddings: true,
  },
  /**
   * Llama-3.2-1B (1.24 B parameters, tied embeddings, GQA 32/8). The real model also scales RoPE
   * frequencies (rope_freqs.weight, "llama3" scaling); this shape leaves them plain, which costs the same.
   */
  "llama3.2-1b": {
    name: "llama3.2-1b",
    architecture: "llama3",
    nEmbd: 2048,
    nLayer: 16,
    nHead: 32,
    nHeadKv: 8,
    nFf: 8192,
    contextLength: 131072,
    ropeFreqBase: 500000,
    rmsEps: 1e-5,
    tiedEmbeddings: true,
  },
  /** Qwen2.5 test model (Q/K/V biases, tied embeddings over 151936 rows): 1.7 M parameters besides them (40.6 M in all; 49 MB in Q8_0). */
  "qwen2-tiny": {
    name: "qwen2-tiny",
    architecture: "qwen2",
    nEmbd: 256,
    nLayer: 2,
    nHead: 4,
    nHeadKv: 4,
    nFf: 768,
    contextLength: 32768,
    ropeFreqBase: 1000000,
    rmsEps: 1e-6,
    tiedEmbeddings: true,
  },
  /** Qwen2.5-1.5B (1.54 B parameters, tied embeddings, GQA 12/2 with 128-wide heads). */
  "qwen2.5-1.5b": {
    name: "qwen2.5-1.5b",
    architecture: "qwen2",
    nEmbd: 1536,
    nLayer: 28,
    nHead: 12,
    nHeadKv: 2,
    nFf: 8960,
    contextLength: 32768,
    ropeFreqBase: 1000000,
    rmsEps: 1e-6,
    tiedEmbeddings: true,
  },
  /** Qwen3 test model: heads of 128 (queries 512 wide on a 256-wide model, as Qwen3's 2048 on 1024), GQA 4/2; 2.0 M parameters besides the tied embeddings (40.9 M in all). */
  "qwen3-tiny": {
    name: "qwen3-tiny",
    architecture: "qwen3",
    nEmbd: 256,
    nLayer: 2,
    nHead: 4,
    nHeadKv: 2,
    headDim: 128,
    nFf: 768,
    contextLength: 40960,
    ropeFreqBase: 1000000,
    rmsEps: 1e-6,
    tiedEmbeddings: true,
  },
  /** Qwen3-0.6B (0.60 B parameters, 0.44 B besides the tied embeddings; GQA 16/8 with 128-wide heads). */
  "qwen3-0.6b": {
    name: "qwen3-0.6b",
    architecture: "qwen3",
    nEmbd: 1024,
    nLayer: 28,
    nHead: 16,
    nHeadKv: 8,
    headDim: 128,
    nFf: 3072,
    contextLength: 40960,
    ropeFreqBase: 1000000,
    rmsEps: 1e-6,
    tiedEmbeddings: true,
  },
  /**
   * Like tiny, with rows that are multiples of 256 so the K-quant recipes apply (Q4_K_M, Q5_K_M, Q6_K),
   * and GQA (2 KV heads for 4 query heads). ~17.6 M parameters; loads in well under 1 s.
   */
  "tiny-k": {
    name: "tiny-k",
    nEmbd: 256,
    nLayer: 2,
    nHead: 4,
    nHeadKv: 2,
    nFf: 512,
    contextLength: 2048,
    ropeFreqBase: 10000,
    rmsEps: 1e-5,
  },
  /** Hybrid shapes with recurrent state (Qwen3.5), see ./gguf-recurrent.ts. */
  ...RECURRENT_SHAPES,
});

export const DEFAULT_SEED = 1;

const ALIGNMENT = 32;
const QK = 32; // elements per Q8_0 / Q4_0 block

// ggml tensor types
const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
// llama_ftype
const FILE_TYPE: Record<Quant, number> = { F16: 1, Q4_0: 2, Q8_0: 7, ...KQUANT_FILE_TYPE };

/** The architecture a shape has when it names none (the first shapes were all LLaMA-2's). */
export const DEFAULT_ARCHITECTURE = "llama2";

/** Per-head dimension of a (valid) shape. */
export function headDimOf(shape: ModelShape): number {
  return shape.headDim ?? shape.nEmbd / shape.nHead;
}

/**
 * The architecture of a (valid) shape. The qwen35 hybrids (./gguf-recurrent.ts) plan their own tensors
 * and rename the LLaMA-2 family's keys (their vocabulary is LLaMA-2's), so they resolve to that family.
 */
export function architectureOf(shape: ModelShape): GgufArchitecture {
  return resolveArchitecture(isRecurrentShape(shape) ? DEFAULT_ARCHITECTURE : (shape.architecture ?? DEFAULT_ARCHITECTURE), shape.name);
}

/** Resolves a shape name (or validates a custom shape); throws naming the bad value and the valid ones. */
export function resolveShape(shape: string | ModelShape): ModelShape {
  let s: ModelShape;
  if (typeof shape === "string") {
    const found = Object.prototype.hasOwnProperty.call(SHAPES, shape) ? SHAPES[shape] : undefined;
    if (!found) {
      throw new Error(`Unknown model shape "${shape}"; valid shapes: ${Object.keys(SHAPES).join(", ")}`);
    }
    s = found;
  } else {
    s = shape;
  }
  const ints: (keyof ModelShape)[] = ["nEmbd", "nLayer", "nHead", "nHeadKv", "nFf", "contextLength"];
  for (const k of ints) {
    const v = s[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new Error(`Model shape "${s.name}": ${k} must be a positive integer, got ${String(v)}`);
    }
  }
  const arch = architectureOf(s);
  if (s.headDim !== undefined && !isRecurrentShape(s)) {
    if (!Number.isInteger(s.headDim) || s.headDim <= 0) throw new Error(`Model shape "${s.name}": headDim must be a positive integer, got ${String(s.headDim)}`);
    if (!arch.headDimKey && s.headDim * s.nHead !== s.nEmbd) {
      throw new Error(`Model shape "${s.name}": architecture "${arch.name}" needs headDim = nEmbd / nHead (${s.nEmbd / s.nHead}), got ${s.headDim}`);
    }
  } else if (s.nEmbd % s.nHead !== 0) throw new Error(`Model shape "${s.name}": nEmbd ${s.nEmbd} is not a multiple of nHead ${s.nHead}`);
  if (s.nHead % s.nHeadKv !== 0) throw new Error(`Model shape "${s.name}": nHead ${s.nHead} is not a multiple of nHeadKv ${s.nHeadKv}`);
  const headDim = headDimOf(s);
  if (headDim % 2 !== 0) throw new Error(`Model shape "${s.name}": head dimension ${headDim} must be even (RoPE)`);
  if (s.tiedEmbeddings !== undefined && typeof s.tiedEmbeddings !== "boolean") throw new Error(`Model shape "${s.name}": tiedEmbeddings must be a boolean`);
  for (const [k, v] of [["nEmbd", s.nEmbd], ["nFf", s.nFf], ["nHeadKv * headDim", s.nHeadKv * headDim], ["nHead * headDim", s.nHead * headDim]] as const) {
    if (v % QK !== 0) throw new Error(`Model shape "${s.name}": ${k} = ${v} must be a multiple of ${QK} (quantization block size)`);
  }
  if (!(s.ropeFreqBase > 0) || !(s.rmsEps > 0)) throw new Error(`Model shape "${s.name}": ropeFreqBase and rmsEps must be positive`);
  return s;
}

/** Validates a quant name; throws naming the bad value and the valid ones. */
export function resolveQuant(quant: string): Quant {
  if (!(QUANTS as readonly string[]).includes(quant)) {
    throw new Error(`Unknown quant "${quant}"; valid quants: ${QUANTS.join(", ")}`);
  }
  return quant as Quant;
}

// ---------------------------------------------------------------------------------------------------
// Tensor plan

type TensorKind = "norm" | "signed-norm" | "bias" | "embd" | "output" | "matrix";

interface TensorSpec {
  name: string;
  /** ggml order: ne[0] is the row length. */
  ne: number[];
  type: number;
  kind: TensorKind;
  /** Standard deviation of the random values (matrices, biases) or the constant value (norms). */
  sigma: number;
  /** Offset relative to the start of the data section. */
  offset: number;
  nbytes: number;
}

export interface GgufPlan {
  shape: ModelShape;
  quant: Quant;
  nVocab: number;
  tensors: TensorSpec[];
  /** Bytes before the data section (header, metadata, tensor infos, padding). */
  dataOffset: number;
  /** Size of the tensor-data section. */
  dataBytes: number;
  /** Exact size of the file. */
  totalBytes: number;
  /** Number of weights. */
  nParams: number;
}

function tensorBytes(type: number, n: number): number {
  switch (type) {
    case GGML_TYPE.F32:
      return n * 4;
    case GGML_TYPE.F16:
      return n * 2;
    case GGML_TYPE.Q8_0:
      return (n / QK) * 34;
    case GGML_TYPE.Q4_0:
      return (n / QK) * 18;
    default:
      if (isKQuantType(type)) return (n / QK_K) * KQUANT_BLOCK_BYTES[type];
      throw new Error(`unsupported ggml type ${type}`);
  }
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/*
 * Weight scales. With RMS-normalized inputs of unit RMS, a matrix with entries of std 1/sqrt(fan_in)
 * keeps unit RMS, so every block adds O(1) to the residual stream. The embeddings (std 3) are large
 * enough that the current token keeps a strong say next to the accumulated context: with std 1, the
 * 30-layer smollm2 shape drifted into short greedy loops (the context average dominates and changes
 * slowly), with std 3 greedy decoding wanders through the vocabulary (60+ distinct tokens out of 64
 * for tiny and smollm2-135m). The output matrix is scaled so the logits have a std of ~4 (not flat,
 * not one-hot); it does not change greedy choices.
 */
const EMBD_SIGMA = 3.0;
const LOGIT_SIGMA = 4.0;
/*
 * Tied embeddings (no output matrix: the logits are the final hidden state times token_embd) need two
 * changes, or greedy decoding repeats the current token (its embedding is the largest part of the hidden
 * state, and the token best aligned with it is itself):
 * - random signs in output_norm, so the current token's logit is a sum of terms of random sign;
 * - embeddings of std 1, so the layers' outputs outweigh the current token: with std 3 and the signs,
 *   the logit of b after a equals that of a after b (a symmetric form), and greedy decoding fell into
 *   two-token cycles (4/48 distinct tokens on llama3-tiny; 43-48/48 with std 1).
 */
const TIED_EMBD_SIGMA = 1.0;

function buildTensorSpecs(shape: ModelShape, quant: Quant, nVocab: number): TensorSpec[] {
  const typeOf = (name: string, ne: number[]) => (isKQuantRecipe(quant) ? tensorTypeFor(quant, name, ne, shape) : GGML_TYPE[quant]);
  if (isRecurrentShape(shape))
    return placeTensors(qwen35Tensors(shape, nVocab, EMBD_SIGMA, LOGIT_SIGMA).map(({ f32, ...t }) => ({ ...t, type: f32 ? GGML_TYPE.F32 : typeOf(t.name, t.ne) })));
  const arch = architectureOf(shape);
  const E = shape.nEmbd;
  const specs: Omit<TensorSpec, "offset" | "nbytes">[] = [];
  const mat = (name: string, ne0: number, ne1: number, kind: TensorKind, sigma: number) =>
    specs.push({ name, ne: [ne0, ne1], type: typeOf(name, [ne0, ne1]), kind, sigma });
  const norm = (name: string, n: number = E) => specs.push({ name, ne: [n], type: GGML_TYPE.F32, kind: "norm", sigma: 1 });
  const bias = (name: string, n: number, sigma: number) => specs.push({ name, ne: [n], type: GGML_TYPE.F32, kind: "bias", sigma });

  if (shape.tiedEmbeddings) {
    // See TIED_EMBD_SIGMA; the norm's magnitude gives logits of std ~LOGIT_SIGMA, as the untied output matrix.
    mat("token_embd.weight", E, nVocab, "embd", TIED_EMBD_SIGMA);
    specs.push({ name: "output_norm.weight", ne: [E], type: GGML_TYPE.F32, kind: "signed-norm", sigma: LOGIT_SIGMA / (TIED_EMBD_SIGMA * Math.sqrt(E)) });
  } else {
    mat("token_embd.weight", E, nVocab, "embd", EMBD_SIGMA);
    norm("output_norm.weight");
    mat("output.weight", E, nVocab, "output", LOGIT_SIGMA / Math.sqrt(E));
  }
  const planner = { mat: (name: string, ne0: number, ne1: number, sigma: number) => mat(name, ne0, ne1, "matrix", sigma), norm, bias };
  const dims = { ...shape, headDim: headDimOf(shape) };
  for (let i = 0; i < shape.nLayer; i++) arch.layerTensors(dims, i, planner);
  return placeTensors(specs);
}

/** Lays the tensors out in the data section, each at an aligned offset. */
function placeTensors(specs: Omit<TensorSpec, "offset" | "nbytes">[]): TensorSpec[] {
  let offset = 0;
  return specs.map((s) => {
    const n = s.ne.reduce((a, b) => a * b, 1);
    const nbytes = tensorBytes(s.type, n);
    const t = { ...s, offset, nbytes };
    offset = alignUp(offset + nbytes, ALIGNMENT);
    return t;
  });
}

// ---------------------------------------------------------------------------------------------------
// GGUF header serialization

const GGUF_VALUE = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10 } as const;

class ByteWriter {
  private buf = Buffer.alloc(1 << 20);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }
  u64(v: number): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }
  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }
  str(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    this.u64(n);
    this.ensure(n);
    this.buf.write(s, this.length, "utf8");
    this.length += n;
  }
  pad(a: number): void {
    const n = alignUp(this.length, a) - this.length;
    this.ensure(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

export type { KvValue } from "./gguf-architectures.js";

function writeKv(w: ByteWriter, key: string, val: KvValue): void {
  w.str(key);
  switch (val.t) {
    case "u32":
      w.u32(GGUF_VALUE.UINT32);
      w.u32(val.v);
      break;
    case "i32":
      w.u32(GGUF_VALUE.INT32);
      w.i32(val.v);
      break;
    case "f32":
      w.u32(GGUF_VALUE.FLOAT32);
      w.f32(val.v);
      break;
    case "bool":
      w.u32(GGUF_VALUE.BOOL);
      w.u8(val.v ? 1 : 0);
      break;
    case "str":
      w.u32(GGUF_VALUE.STRING);
      w.str(val.v);
      break;
    case "strs":
      w.u32(GGUF_VALUE.ARRAY);
      w.u32(GGUF_VALUE.STRING);
      w.u64(val.v.length);
      for (const s of val.v) w.str(s);
      break;
    case "f32s":
      w.u32(GGUF_VALUE.ARRAY);
      w.u32(GGUF_VALUE.FLOAT32);
      w.u64(val.v.length);
      for (const x of val.v) w.f32(x);
      break;
    case "i32s":
      w.u32(GGUF_VALUE.ARRAY);
      w.u32(GGUF_VALUE.INT32);
      w.u64(val.v.length);
      for (const x of val.v) w.i32(x);
      break;
  }
}

function buildHeader(shape: ModelShape, quant: Quant, seed: number, tensors: TensorSpec[]): Buffer {
  const arch = architectureOf(shape);
  const kv: Kv[] = [
    ["general.architecture", { t: "str", v: arch.ggufArchitecture }],
    ["general.name", { t: "str", v: `llma-random-${shape.name}` }],
    ["general.description", { t: "str", v: `random weights (seed ${seed}) written by llma gguf-writer v${GGUF_WRITER_VERSION}` }],
    ["general.file_type", { t: "u32", v: FILE_TYPE[quant] }],
    ["general.alignment", { t: "u32", v: ALIGNMENT }],
    ...(quant === "F16" ? [] : ([["general.quantization_version", { t: "u32", v: 2 }]] as Kv[])),
    ...arch.hyperparameters({ ...shape, headDim: headDimOf(shape) }),
    ...arch.tokenizerMetadata(),
  ];
  const keys = isRecurrentShape(shape) ? qwen35Metadata(shape, kv) : kv;

  const w = new ByteWriter();
  w.u32(0x46554747); // "GGUF"
  w.u32(3);
  w.u64(tensors.length);
  w.u64(keys.length);
  for (const [k, v] of keys) writeKv(w, k, v);
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.u64(d);
    w.u32(t.type);
    w.u64(t.offset);
  }
  w.pad(ALIGNMENT);
  return w.bytes();
}

function makePlan(shapeIn: string | ModelShape, quantIn: string, seed: number): { plan: GgufPlan; header: Buffer } {
  const shape = resolveShape(shapeIn);
  const quant = resolveQuant(quantIn);
  const nVocab = architectureOf(shape).vocabularySize();
  const tensors = buildTensorSpecs(shape, quant, nVocab);
  const header = buildHeader(shape, quant, seed, tensors);
  const last = tensors[tensors.length - 1];
  const dataBytes = last.offset + last.nbytes;
  const nParams = tensors.reduce((a, t) => a + t.ne.reduce((x, y) => x * y, 1), 0);
  return {
    plan: { shape, quant, nVocab, tensors, dataOffset: header.length, dataBytes, totalBytes: header.length + dataBytes, nParams },
    header,
  };
}

/** The layout of the file {@link writeGgufModel} writes (exact size, tensors, parameter count), without writing it. */
export function planGgufModel(shape: string | ModelShape, quant: Quant, seed: number = DEFAULT_SEED): GgufPlan {
  return makePlan(shape, quant, seed).plan;
}

// ---------------------------------------------------------------------------------------------------
// Random data

/** xorshift128 state, seeded through splitmix32 from (seed, stream). */
function seedState(seed: number, stream: number): Uint32Array {
  let s = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca77)) >>> 0;
  const st = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    st[i] = z >>> 0;
  }
  if ((st[0] | st[1] | st[2] | st[3]) === 0) st[0] = 1;
  return st;
}

/** Fills words[0..n) with xorshift128 output, advancing st. */
function fillRandom(words: Uint32Array, n: number, st: Uint32Array): void {
  let x = st[0] | 0,
    y = st[1] | 0,
    z = st[2] | 0,
    w = st[3] | 0;
  for (let i = 0; i < n; i++) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
    words[i] = w;
  }
  st[0] = x;
  st[1] = y;
  st[2] = z;
  st[3] = w;
}

/** Like fillRandom, but no byte is 0x80 (int8 -128 becomes -127, keeping Q8_0 values in ±127 as ggml's quantizer does). */
function fillRandomInt8(words: Uint32Array, n: number, st: Uint32Array): void {
  let x = st[0] | 0,
    y = st[1] | 0,
    z = st[2] | 0,
    w = st[3] | 0;
  for (let i = 0; i < n; i++) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
    // Bytes equal to 0x80 are zero bytes of v; (v - 0x01..) & ~v has their high bit set (false positives
    // only on bytes 0x81, where setting the low bit changes nothing).
    const v = w ^ 0x80808080;
    words[i] = w | ((((v - 0x01010101) & ~v & 0x80808080) >>> 7) & 0x01010101);
  }
  st[0] = x;
  st[1] = y;
  st[2] = z;
  st[3] = w;
}

const INT8_STD = Math.sqrt((255 * 255 - 1) / 12); // uniform integers in [-127, 127] (≈ [-128, 127]): ~73.9
const NIBBLE_STD = Math.sqrt((16 * 16 - 1) / 12); // uniform integers in [-8, 7]: ~4.61

/** 65536 F16 values, uniform over [-sigma·√3, sigma·√3] (std sigma), indexed by a random 16-bit number. */
function f16UniformTable(sigma: number): Uint16Array {
  const tab = new Uint16Array(65536);
  const a = sigma * Math.sqrt(3);
  for (let k = 0; k < 65536; k++) tab[k] = f32ToF16Bits(a * ((k + 0.5) / 32768 - 1));
  return tab;
}

const CHUNK_BYTES = 4 << 20;

interface Chunk {
  buf: Buffer;
  words: Uint32Array;
  u16: Uint16Array;
}

function makeChunk(): Chunk {
  const ab = new ArrayBuffer(CHUNK_BYTES + 64);
  return { buf: Buffer.from(ab), words: new Uint32Array(ab), u16: new Uint16Array(ab) };
}

/**
 * Generates the tensor's bytes chunk by chunk: takes a free buffer from next(), fills chunk.buf[0..len)
 * and calls emit(chunk, len).
 */
async function generateTensor(
  t: TensorSpec,
  seed: number,
  index: number,
  next: () => Chunk,
  emit: (chunk: Chunk, len: number) => Promise<void>,
): Promise<void> {
  const st = seedState(seed, index);

  if (t.type === GGML_TYPE.F32) {
    // Norm weights: constant 1.0 (or ±sigma, random signs); biases: uniform over [-sigma·√3, sigma·√3] (small tensors, one chunk).
    const c = next();
    const n = t.nbytes / 4;
    const f = new Float32Array(c.buf.buffer, 0, n);
    if (t.kind === "bias" || t.kind === "signed-norm") {
      const words = new Uint32Array(n);
      fillRandom(words, n, st);
      const a = t.sigma * Math.sqrt(3);
      for (let i = 0; i < n; i++) f[i] = t.kind === "bias" ? a * ((words[i] + 0.5) / 2147483648 - 1) : words[i] >>> 31 ? -t.sigma : t.sigma;
    } else f.fill(t.sigma);
    await emit(c, t.nbytes);
    return;
  }

  if (t.type === GGML_TYPE.F16) {
    const tab = f16UniformTable(t.sigma);
    const n = t.nbytes / 2; // elements (even)
    const perChunk = CHUNK_BYTES / 2;
    for (let done = 0; done < n; done += perChunk) {
      const m = Math.min(perChunk, n - done);
      const c = next();
      const nw = m >>> 1;
      fillRandom(c.words, nw, st);
      // Expand each 32-bit word into two F16 values in place (back to front so no word is overwritten before use).
      const u16 = c.u16;
      const words = c.words;
      for (let i = nw - 1; i >= 0; i--) {
        const r = words[i];
        u16[2 * i + 1] = tab[r >>> 16];
        u16[2 * i] = tab[r & 0xffff];
      }
      await emit(c, m * 2);
    }
    return;
  }

  if (isKQuantType(t.type)) {
    const stream = { fillRandom: (w: Uint32Array, n: number) => fillRandom(w, n, st), next, emit, maxChunkBytes: CHUNK_BYTES };
    await generateKQuantBlocks(t.type, t.nbytes / KQUANT_BLOCK_BYTES[t.type], t.sigma, stream);
    return;
  }

  const q8 = t.type === GGML_TYPE.Q8_0;
  const blockBytes = q8 ? 34 : 18;
  const d = t.sigma / (q8 ? INT8_STD : NIBBLE_STD);
  const dBits = f32ToF16Bits(d);
  const dLo = dBits & 0xff;
  const dHi = (dBits >>> 8) & 0x7f;
  const nBlocks = t.nbytes / blockBytes;
  const blocksPerChunk = Math.floor(CHUNK_BYTES / blockBytes / 2) * 2; // even, so chunk bytes are a multiple of 4
  for (let done = 0; done < nBlocks; done += blocksPerChunk) {
    const nb = Math.min(blocksPerChunk, nBlocks - done);
    const len = nb * blockBytes;
    const c = next();
    const nw = Math.ceil(len / 4);
    if (q8) fillRandomInt8(c.words, nw, st);
    else fillRandom(c.words, nw, st);
    // Scale of each block: |d| with a random sign (taken from the random byte it overwrites), so
    // Q4_0's (nibble - 8) offset, whose mean is -0.5, averages out.
    const b = c.buf;
    for (let off = 0; off < len; off += blockBytes) {
      b[off + 1] = (b[off + 1] & 0x80) | dHi;
      b[off] = dLo;
    }
    await emit(c, len);
  }
}

// ---------------------------------------------------------------------------------------------------

export interface WriteGgufOptions {
  shape: string | ModelShape;
  quant: Quant;
  out: string;
  seed?: number;
  onProgress?: (fraction: number) => void;
}

/**
 * Writes a LLaMA-architecture GGUF v3 file with seeded random weights to `out` (via `out.tmp-<pid>` and
 * a rename, so the final name never holds a partial file). Same (shape, quant, seed) → identical bytes.
 */
export async function writeGgufModel(opts: WriteGgufOptions): Promise<void> {
  if (endianness() !== "LE") throw new Error("writeGgufModel needs a little-endian machine");
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`seed must be an integer in [0, 2^32), got ${seed}`);
  const { plan, header } = makePlan(opts.shape, opts.quant, seed);
  const onProgress = opts.onProgress;

  await mkdir(dirname(opts.out), { recursive: true });
  const tmp = `${opts.out}.tmp-${process.pid}`;
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, "w");
    const file = fh;
    await file.write(header, 0, header.length, 0);

    // Two buffers used alternately, across tensors too: generating into one while the other is being
    // written. emit() waits for the previous write before starting the next, so at most one write is
    // in flight and it never uses the buffer being filled.
    const chunks: [Chunk, Chunk] = [makeChunk(), makeChunk()];
    let which = 0;
    const next = () => chunks[(which ^= 1)];
    let pending: Promise<unknown> | undefined;
    let pos = header.length;
    let written = 0;
    let lastReport = -1;
    const total = plan.dataBytes;
    const zeros = Buffer.alloc(ALIGNMENT);

    const emit = async (c: Chunk, len: number) => {
      if (pending) await pending;
      pending = file.write(c.buf, 0, len, pos);
      pos += len;
      written += len;
      if (onProgress) {
        const f = written / total;
        if (f - lastReport >= 0.005 || written === total) {
          lastReport = Math.min(1, f);
          onProgress(lastReport);
        }
      }
    };

    for (let i = 0; i < plan.tensors.length; i++) {
      const t = plan.tensors[i];
      const start = header.length + t.offset;
      if (pos < start) {
        if (pending) await pending;
        pending = file.write(zeros, 0, start - pos, pos);
        pos = start;
      }
      await generateTensor(t, seed, i, next, emit);
    }
    if (pending) await pending;
    if (pos !== plan.totalBytes) throw new Error(`internal error: wrote ${pos} bytes, planned ${plan.totalBytes}`);
    await file.close();
    fh = undefined;
    await rename(tmp, opts.out);
    if (lastReport < 1) onProgress?.(1);
  } catch (err) {
    if (fh) await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
