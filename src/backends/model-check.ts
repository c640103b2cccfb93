/**
 * `llma check`: a doctor for a user's own GGUF model. It reads what the file says (architecture,
 * vocabulary, weight types), loads it the way llma would, and measures what llma's guarantees and
 * speed depend on: whether batched passes are exact (./exactness.ts), whether the KV cache can be
 * truncated (rejected drafts are rolled back by truncation), and the cost curve (./calibrate.ts).
 */
import { stat } from "node:fs/promises";
import { GgmlType, GgufFileType, readGgufFileInfo, type GgufFileInfo } from "node-llama-cpp";
import type { CostPoint } from "../core/cost-model.js";
import { exactnessAdvice, type ExactnessVerdict } from "./exactness.js";
import { checkGgufFile, LlamaCppModel, LlamaCppSequence, type KvCacheType } from "./llama-cpp.js";

export interface CheckOptions {
  readonly model: string;
  readonly threads?: number;
  readonly kvCacheType?: KvCacheType;
  readonly gpu?: "auto" | false;
  readonly contextSize?: number;
  /** Probe exactness and measure the cost curve again instead of using the cached results. */
  readonly refresh?: boolean;
  /** Progress for a person waiting (what is measured now). */
  readonly onProgress?: (message: string) => void;
  /** What loading changed from what was asked (see LlamaCppOptions.onWarning). */
  readonly onWarning?: (message: string) => void;
}

export interface ModelCheck {
  readonly file: { readonly path: string; readonly bytes: number };
  readonly architecture: string;
  readonly name?: string;
  readonly vocabulary: {
    /** tokenizer.ggml.model: "llama" (SentencePiece), "gpt2" (byte-level BPE), ... */
    readonly type: string;
    readonly typeName: string;
    readonly size: number;
    readonly bos: { readonly id: number; readonly text: string } | null;
    /** Whether prompts get the BOS token prepended (tokenizer.ggml.add_bos_token; Qwen's vocabularies: no). */
    readonly addsBos: boolean;
    readonly eos: { readonly id: number; readonly text: string } | null;
  };
  readonly weights: {
    /** general.file_type, by name (e.g. MOSTLY_Q8_0); null when the file does not say. */
    readonly fileType: string | null;
    /** Tensors per ggml type, e.g. { Q8_0: 14, F32: 5 }. */
    readonly tensorTypes: Readonly<Record<string, number>>;
  };
  readonly backend: {
    /** "CPU" or the GPU backend node-llama-cpp runs on ("cuda", "metal", "vulkan"). */
    readonly device: string;
    readonly gpuLayers: number;
    readonly threads: number;
    readonly kvCacheType: string;
    readonly flashAttention: boolean;
    readonly contextSize: number;
    readonly batchSize: number;
  };
  readonly rollback: {
    readonly recurrent: boolean;
    readonly hybrid: boolean;
    /** Sliding-window attention size, when the model has one. */
    readonly slidingWindow: number | null;
    /** node-llama-cpp's sequence.needsCheckpoints: reusing or cutting back the state needs checkpoints. */
    readonly needsCheckpoints: boolean;
    /** Whether rejected drafts can be dropped by truncating the KV cache from the tail. */
    readonly kvTruncatable: boolean;
  };
  readonly exactness: ExactnessVerdict;
  readonly costCurve: readonly CostPoint[];
  /** What to do, in words. */
  readonly recommendations: readonly string[];
}

const VOCABULARY_NAMES: Readonly<Record<string, string>> = {
  llama: "SentencePiece (LLaMA-style)",
  gpt2: "byte-level BPE (GPT-2-style)",
  bert: "WordPiece (BERT-style)",
  t5: "Unigram (T5-style)",
  rwkv: "RWKV (greedy trie)",
  plamo2: "PLaMo-2",
  none: "no vocabulary",
};

/** Reads the GGUF header; a file node-llama-cpp cannot parse is a named error. */
async function readHeader(path: string): Promise<GgufFileInfo> {
  try {
    return await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false, sourceType: "filesystem" });
  } catch (error) {
    throw new Error(`model file ${path} has a GGUF magic but its header cannot be read: ${(error as Error).message}`);
  }
}

function tokenAt(tokens: readonly string[] | undefined, id: unknown): { id: number; text: string } | null {
  if (typeof id !== "number") return null;
  return { id, text: tokens?.[id] ?? "" };
}

export async function checkModel(options: CheckOptions): Promise<ModelCheck> {
  await checkGgufFile(options.model);
  const info = await readHeader(options.model);
  const bytes = (await stat(options.model)).size;
  const general = info.metadata.general;
  const architecture = String(general?.architecture ?? "unknown");
  const tokenizer = info.metadata.tokenizer?.ggml;
  const tokens = tokenizer?.tokens as readonly string[] | undefined;
  const tensorTypes: Record<string, number> = {};
  for (const tensor of info.tensorInfo ?? []) {
    const type = GgmlType[tensor.ggmlType] ?? `type ${tensor.ggmlType}`;
    tensorTypes[type] = (tensorTypes[type] ?? 0) + 1;
  }
  const fileTypeId = general?.file_type;
  const vocabularyType = String(tokenizer?.model ?? "unknown");

  options.onProgress?.(`loading ${options.model} (${architecture})...`);
  let model: LlamaCppModel;
  try {
    model = await LlamaCppModel.load({
      model: options.model,
      threads: options.threads,
      kvCacheType: options.kvCacheType,
      gpu: options.gpu ?? false,
      contextSize: options.contextSize,
      probeExactness: false,
      onWarning: options.onWarning,
    });
  } catch (error) {
    throw new Error(`llama.cpp (node-llama-cpp 3.21) cannot load this ${architecture} model: ${(error as Error).message}`);
  }
  try {
    const insights = model.model.fileInsights;
    const sequence = await model.createSequence();
    const needsCheckpoints = sequence instanceof LlamaCppSequence ? sequence.sequence.needsCheckpoints : false;
    sequence.dispose();
    options.onProgress?.("probing whether batched passes equal one-token passes (once per model and settings)...");
    const exactness = await model.checkExactness({ refresh: options.refresh });
    options.onProgress?.("measuring the forward-pass cost curve (once per model and settings)...");
    const costCurve = (await model.calibrate({ refresh: options.refresh })).measured;
    const rollback = {
      recurrent: insights.isRecurrent,
      hybrid: insights.isHybrid,
      slidingWindow: insights.swaSize ?? null,
      needsCheckpoints,
      kvTruncatable: !insights.isRecurrent && !insights.isHybrid,
    };
    const backend = {
      device: model.llama.gpu === false ? "CPU" : String(model.llama.gpu),
      gpuLayers: model.model.gpuLayers,
      threads: model.threads,
      kvCacheType: model.kvCacheType,
      flashAttention: model.flashAttention,
      contextSize: model.contextSize,
      batchSize: model.batchSize,
    };
    return {
      file: { path: options.model, bytes },
      architecture,
      ...(general?.name ? { name: String(general.name) } : {}),
      vocabulary: {
        type: vocabularyType,
        typeName: VOCABULARY_NAMES[vocabularyType] ?? vocabularyType,
        size: tokens?.length ?? 0,
        bos: tokenAt(tokens, tokenizer?.bos_token_id),
        addsBos: model.model.tokens.bos != null && model.model.tokens.shouldPrependBosToken,
        eos: tokenAt(tokens, tokenizer?.eos_token_id),
      },
      weights: { fileType: typeof fileTypeId === "number" ? (GgufFileType[fileTypeId] ?? `file type ${fileTypeId}`) : null, tensorTypes },
      backend,
      rollback,
      exactness,
      costCurve,
      recommendations: recommendations(exactness, rollback, costCurve),
    };
  } finally {
    await model.dispose();
  }
}

function costAt(curve: readonly CostPoint[], tokens: number): number | undefined {
  return curve.find((point) => point.tokens === tokens)?.ms;
}

function recommendations(exactness: ExactnessVerdict, rollback: ModelCheck["rollback"], curve: readonly CostPoint[]): string[] {
  const out: string[] = [];
  if (exactness.exact)
    out.push(`exact: batched passes of up to ${exactness.exactUpTo} tokens give bit-identical outputs here, so llma's output is plain decoding's; keep these settings`);
  else {
    const failed = exactness.widths.find((w) => !(w.argmaxEqual && w.bitsEqual));
    out.push(
      exactness.exactUpTo < 2
        ? `not exact: even a 2-token pass differs from one-token passes${failed?.firstDiff ? ` (after ${failed.firstDiff.cachedTokens} cached tokens)` : ""}; in strict mode (the default) llma drafts nothing, so there is no speed-up`
        : `not exact beyond ${exactness.exactUpTo}-token passes (width ${failed?.width} differs${failed?.firstDiff ? ` after ${failed.firstDiff.cachedTokens} cached tokens` : ""}); strict mode (the default) verifies drafts only up to ${exactness.exactUpTo} tokens per pass`,
    );
    for (const advice of exactnessAdvice(exactness)) out.push(advice);
    out.push("--exactness relaxed drafts at any width: faster, but the output is no longer guaranteed identical to plain decoding");
  }
  if (!rollback.kvTruncatable)
    out.push(
      `rollback: this model keeps a recurrent state (${rollback.hybrid ? "hybrid" : "recurrent"}), which cannot be cut back by truncating the KV cache: llma snapshots the state before every draft pass and, on a rejected draft, restores it and re-evaluates the accepted tokens (exact, one extra pass per rejection, which the cost-aware policy prices)`,
    );
  else if (rollback.needsCheckpoints)
    out.push(`rollback: sliding-window attention (${rollback.slidingWindow} tokens) without a full cache: reusing cached prefixes needs checkpoints`);
  const one = costAt(curve, 1);
  const sixteen = costAt(curve, 16);
  if (one !== undefined && sixteen !== undefined) {
    const ratio = sixteen / one;
    out.push(
      ratio > 3
        ? `cost: a 16-token pass costs ${ratio.toFixed(1)}x a one-token pass here: keep --policy auto (the default), which drafts only what is likely accepted; the paper's fixed k = 20 would be slower than plain decoding`
        : `cost: a 16-token pass costs ${ratio.toFixed(1)}x a one-token pass here: long drafts are cheap, --policy auto will draft long`,
    );
  }
  return out;
}
