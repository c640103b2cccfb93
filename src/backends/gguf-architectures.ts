/**
 * The model families ./gguf-writer.ts can write, one {@link GgufArchitecture} each: the GGUF
 * architecture name, its hyperparameter keys, the tensors of one layer, and the real vocabulary with
 * its chat template. A shape names its family in `ModelShape.architecture` (default "llama2").
 *
 * Keys and tensor names follow llama.cpp (src/llama-arch.cpp; loaders in src/models/llama.cpp,
 * qwen2.cpp, qwen3.cpp of the llama.cpp node-llama-cpp 3.21.1 bundles) and what convert_hf_to_gguf.py
 * writes for these families.
 */
import { loadBpeVocab, type BpeVocab, type BpeVocabName } from "./bpe-vocab.js";
import { loadLlama2Vocab } from "./llama2-vocab.js";

/** A GGUF metadata value, tagged with its GGUF type. */
export type KvValue =
  | { t: "u32"; v: number }
  | { t: "i32"; v: number }
  | { t: "f32"; v: number }
  | { t: "bool"; v: boolean }
  | { t: "str"; v: string }
  | { t: "strs"; v: string[] }
  | { t: "f32s"; v: number[] }
  | { t: "i32s"; v: number[] };

export type Kv = [string, KvValue];

/** The transformer dimensions an architecture reads (a subset of ModelShape). */
export interface ArchitectureShape {
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  contextLength: number;
  ropeFreqBase: number;
  rmsEps: number;
  /** Per-head dimension of queries, keys and values. */
  headDim: number;
}

/** A shape the writer can write: an architecture's dimensions plus its name and family (gguf-writer.ts SHAPES). */
export interface ModelShape extends Omit<ArchitectureShape, "headDim"> {
  name: string;
  /** The model family, a key of ARCHITECTURES (default "llama2"). */
  architecture?: string;
  /** Per-head dimension (default nEmbd / nHead); may differ only where the architecture stores it (qwen3). */
  headDim?: number;
  /** No output matrix: the output projection is token_embd's transpose (as in Llama-3.2-1B, Qwen2.5 <= 3B, Qwen3 <= 4B). */
  tiedEmbeddings?: boolean;
}

/** Adds tensors to the plan; `mat` tensors take the file's weight type, the others are F32. */
export interface TensorPlanner {
  /** A weight matrix of `rows` rows of `rowLength` (ggml ne = [rowLength, rows]), entries of std `sigma`. */
  mat(name: string, rowLength: number, rows: number, sigma: number): void;
  /** A norm weight vector of n ones. */
  norm(name: string, n: number): void;
  /** A bias vector of n random values of std `sigma`. */
  bias(name: string, n: number, sigma: number): void;
}

export interface GgufArchitecture {
  /** The name shapes use. */
  readonly name: string;
  /** `general.architecture`: the llama.cpp architecture. */
  readonly ggufArchitecture: string;
  /** Whether the GGUF carries the head dimension (`<arch>.attention.key_length`), so it may differ from nEmbd / nHead. */
  readonly headDimKey: boolean;
  /** Number of tokens (= embedding rows). */
  vocabularySize(): number;
  /** Ids below this are ordinary text tokens (what random token ids may be drawn from). */
  textTokenCount(): number;
  /** `<arch>.*` hyperparameter keys. */
  hyperparameters(shape: ArchitectureShape): Kv[];
  /** `tokenizer.*` keys: the vocabulary and the chat template. */
  tokenizerMetadata(): Kv[];
  /** The tensors of layer `i`, in file order. */
  layerTensors(shape: ArchitectureShape, i: number, t: TensorPlanner): void;
}

/** Zephyr / TinyLlama-chat template, with explicit newlines so it renders the same with or without trim_blocks. */
export const ZEPHYR_CHAT_TEMPLATE =
  "{% for message in messages %}" +
  "{% if message['role'] == 'system' %}{{ '<|system|>\\n' + message['content'] + eos_token + '\\n' }}" +
  "{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + eos_token + '\\n' }}" +
  "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}" +
  "{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

/** Keys every llama.cpp transformer reads, under the architecture's prefix. */
function commonHyperparameters(arch: string, s: ArchitectureShape): Kv[] {
  return [
    [`${arch}.context_length`, { t: "u32", v: s.contextLength }],
    [`${arch}.embedding_length`, { t: "u32", v: s.nEmbd }],
    [`${arch}.block_count`, { t: "u32", v: s.nLayer }],
    [`${arch}.feed_forward_length`, { t: "u32", v: s.nFf }],
    [`${arch}.attention.head_count`, { t: "u32", v: s.nHead }],
    [`${arch}.attention.head_count_kv`, { t: "u32", v: s.nHeadKv }],
  ];
}

/** LLaMA's keys (LLaMA-2 and Llama-3 GGUFs): also the RoPE dimension and the vocabulary size. */
function llamaHyperparameters(s: ArchitectureShape, nVocab: number): Kv[] {
  return [
    ...commonHyperparameters("llama", s),
    ["llama.rope.dimension_count", { t: "u32", v: s.headDim }],
    ["llama.rope.freq_base", { t: "f32", v: s.ropeFreqBase }],
    ["llama.attention.layer_norm_rms_epsilon", { t: "f32", v: s.rmsEps }],
    ["llama.vocab_size", { t: "u32", v: nVocab }],
  ];
}

/** One pre-norm transformer layer: attention (optionally with Q/K/V biases, or per-head RMS norms of Q and K) and a SwiGLU FFN. */
function transformerLayer(opts: { qkvBias: boolean; qkNorm: boolean }) {
  return (s: ArchitectureShape, i: number, t: TensorPlanner): void => {
    const p = `blk.${i}.`;
    const E = s.nEmbd;
    const qDim = s.nHead * s.headDim;
    const kvDim = s.nHeadKv * s.headDim;
    const inSigma = 1 / Math.sqrt(E);
    t.norm(p + "attn_norm.weight", E);
    t.mat(p + "attn_q.weight", E, qDim, inSigma);
    if (opts.qkvBias) t.bias(p + "attn_q.bias", qDim, BIAS_SIGMA);
    t.mat(p + "attn_k.weight", E, kvDim, inSigma);
    if (opts.qkvBias) t.bias(p + "attn_k.bias", kvDim, BIAS_SIGMA);
    t.mat(p + "attn_v.weight", E, kvDim, inSigma);
    if (opts.qkvBias) t.bias(p + "attn_v.bias", kvDim, BIAS_SIGMA);
    if (opts.qkNorm) {
      t.norm(p + "attn_q_norm.weight", s.headDim);
      t.norm(p + "attn_k_norm.weight", s.headDim);
    }
    t.mat(p + "attn_output.weight", qDim, E, 1 / Math.sqrt(qDim));
    t.norm(p + "ffn_norm.weight", E);
    t.mat(p + "ffn_gate.weight", E, s.nFf, inSigma);
    t.mat(p + "ffn_up.weight", E, s.nFf, inSigma);
    t.mat(p + "ffn_down.weight", s.nFf, E, 1 / Math.sqrt(s.nFf));
  };
}

/**
 * Q/K/V biases (Qwen2), small next to the projections (std ~1 on unit-RMS inputs): one fixed query bias
 * draws every query toward the same keys, and with std 0.5 greedy decoding on qwen2-tiny fell into
 * loops (19-30 of 48 tokens distinct; 47-48 with 0.25).
 */
const BIAS_SIGMA = 0.25;

/** `tokenizer.*` keys of a byte-level BPE vocabulary, as convert_hf_to_gguf.py writes them. */
function bpeTokenizerMetadata(v: BpeVocab): Kv[] {
  return [
    ["tokenizer.ggml.model", { t: "str", v: "gpt2" }],
    ["tokenizer.ggml.pre", { t: "str", v: v.pre }],
    ["tokenizer.ggml.tokens", { t: "strs", v: v.tokens }],
    ["tokenizer.ggml.token_type", { t: "i32s", v: v.types }],
    ["tokenizer.ggml.merges", { t: "strs", v: v.merges }],
    ["tokenizer.ggml.bos_token_id", { t: "u32", v: v.bos }],
    ["tokenizer.ggml.eos_token_id", { t: "u32", v: v.eos }],
    ...(v.padding !== undefined ? ([["tokenizer.ggml.padding_token_id", { t: "u32", v: v.padding }]] as Kv[]) : []),
    ["tokenizer.ggml.add_bos_token", { t: "bool", v: v.addBos }],
    ["tokenizer.chat_template", { t: "str", v: v.chatTemplate }],
  ];
}

function bpeArchitecture(
  name: string,
  ggufArchitecture: string,
  vocab: BpeVocabName,
  hyperparameters: (s: ArchitectureShape, nVocab: number) => Kv[],
  layer: { qkvBias: boolean; qkNorm: boolean },
  headDimKey: boolean,
): GgufArchitecture {
  return {
    name,
    ggufArchitecture,
    headDimKey,
    vocabularySize: () => loadBpeVocab(vocab).tokens.length,
    textTokenCount: () => loadBpeVocab(vocab).textTokenCount,
    hyperparameters: (s) => hyperparameters(s, loadBpeVocab(vocab).tokens.length),
    tokenizerMetadata: () => bpeTokenizerMetadata(loadBpeVocab(vocab)),
    layerTensors: transformerLayer(layer),
  };
}

/** Qwen2 / Qwen3 keys: no RoPE dimension or vocabulary size; Qwen3 also the head dimension. */
function qwenHyperparameters(arch: "qwen2" | "qwen3") {
  return (s: ArchitectureShape): Kv[] => [
    ...commonHyperparameters(arch, s),
    ...(arch === "qwen3"
      ? ([
          [`${arch}.attention.key_length`, { t: "u32", v: s.headDim }],
          [`${arch}.attention.value_length`, { t: "u32", v: s.headDim }],
        ] as Kv[])
      : []),
    [`${arch}.rope.freq_base`, { t: "f32", v: s.ropeFreqBase }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { t: "f32", v: s.rmsEps }],
  ];
}

const llama2: GgufArchitecture = {
  name: "llama2",
  ggufArchitecture: "llama",
  headDimKey: false,
  vocabularySize: () => loadLlama2Vocab().tokens.length,
  textTokenCount: () => loadLlama2Vocab().tokens.length,
  hyperparameters: (s) => llamaHyperparameters(s, loadLlama2Vocab().tokens.length),
  tokenizerMetadata: () => {
    const vocab = loadLlama2Vocab();
    return [
      ["tokenizer.ggml.model", { t: "str", v: "llama" }],
      ["tokenizer.ggml.tokens", { t: "strs", v: vocab.tokens }],
      ["tokenizer.ggml.scores", { t: "f32s", v: vocab.scores }],
      ["tokenizer.ggml.token_type", { t: "i32s", v: vocab.types }],
      ["tokenizer.ggml.bos_token_id", { t: "u32", v: vocab.bos }],
      ["tokenizer.ggml.eos_token_id", { t: "u32", v: vocab.eos }],
      ["tokenizer.ggml.unknown_token_id", { t: "u32", v: vocab.unk }],
      ["tokenizer.ggml.add_bos_token", { t: "bool", v: true }],
      ["tokenizer.ggml.add_eos_token", { t: "bool", v: false }],
      ["tokenizer.ggml.add_space_prefix", { t: "bool", v: true }],
      ["tokenizer.chat_template", { t: "str", v: ZEPHYR_CHAT_TEMPLATE }],
    ];
  },
  layerTensors: transformerLayer({ qkvBias: false, qkNorm: false }),
};

/**
 * The families, by the name a shape gives:
 * - `llama2`: LLaMA (GGUF `llama`), LLaMA-2's 32,000-token SentencePiece vocabulary, Zephyr chat template;
 * - `llama3`: LLaMA (GGUF `llama`), Llama-3's 128,256-token BPE vocabulary (pre `llama-bpe`) and its chat template;
 * - `qwen2`: Qwen2 / Qwen2.5 (GGUF `qwen2`: Q/K/V biases), Qwen2.5's vocabulary (pre `qwen2`, 151,936 rows) and ChatML template;
 * - `qwen3`: Qwen3 (GGUF `qwen3`: per-head RMS norms of Q and K, no biases, its own head dimension), Qwen3's vocabulary and template.
 */
export const ARCHITECTURES: Readonly<Record<string, GgufArchitecture>> = Object.freeze({
  llama2,
  llama3: bpeArchitecture("llama3", "llama", "llama3", llamaHyperparameters, { qkvBias: false, qkNorm: false }, false),
  qwen2: bpeArchitecture("qwen2", "qwen2", "qwen2.5", qwenHyperparameters("qwen2"), { qkvBias: true, qkNorm: false }, false),
  qwen3: bpeArchitecture("qwen3", "qwen3", "qwen3", qwenHyperparameters("qwen3"), { qkvBias: false, qkNorm: true }, true),
});

/** The architecture of a name; throws naming the bad value and the valid ones. */
export function resolveArchitecture(name: string, shapeName: string): GgufArchitecture {
  const found = Object.prototype.hasOwnProperty.call(ARCHITECTURES, name) ? ARCHITECTURES[name] : undefined;
  if (!found) {
    throw new Error(`Model shape "${shapeName}": unknown architecture "${name}"; valid architectures: ${Object.keys(ARCHITECTURES).join(", ")}`);
  }
  return found;
}
