/**
 * The node-llama-cpp backend: a GGUF model behind the core's TokenModel interface.
 *
 * Lossless decoding needs batched evaluation to give exactly the logits of token-by-token evaluation.
 * With flash attention on and Q8_0/Q4_0 weights, llama.cpp's CPU kernels do, so flash attention is on
 * by default (with it off, greedy tokens flip between batch sizes).
 */
import { readFileSync } from "node:fs";
import { open, stat } from "node:fs/promises";
import os from "node:os";
import {
  getLlama,
  LlamaLogLevel,
  resolveModelFile,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type SequenceEvaluateOptions,
  type Token,
} from "node-llama-cpp";
import type { Accelerator } from "../core/accelerator.js";
import { CostCurve } from "../core/cost-model.js";
import type { TokenModel, TokenSequence } from "../core/model.js";
import type { DistributionOptions, SampleRequest } from "../core/sampling.js";
import { costCurveFor } from "./calibrate.js";
import { exactnessFor, type ExactnessVerdict } from "./exactness.js";
import { NativeGarbageCollector } from "./native-garbage.js";

export interface LlamaCppOptions {
  /**
   * The model: a GGUF file path, an `hf:` URI that node-llama-cpp resolves (needs network), or a
   * node-llama-cpp `LlamaModel` the caller loaded already. llma disposes only what it creates: a caller's
   * LlamaModel (and its Llama) stays usable after the LlamaCppModel's dispose().
   */
  readonly model?: string | LlamaModel;
  /** node-llama-cpp's name (`llama.loadModel({ modelPath })`) for a GGUF path: the same as a string `model`. */
  readonly modelPath?: string;
  /** A node-llama-cpp `Llama` (from `getLlama()`) to load the file with; default: llma's own, one per `gpu` setting. Never disposed by llma. */
  readonly llama?: Llama;
  /** CPU threads; default: the number of physical cores (node-llama-cpp's default oversubscribes small machines). */
  readonly threads?: number;
  /** Tokens one sequence can hold (default 4096, capped by the model's training context). */
  readonly contextSize?: number;
  /** Most tokens evaluated in one forward pass (default 512). */
  readonly batchSize?: number;
  /** Parallel sequences (for a server), each in its own context (own KV cache, shared weights); default 1. */
  readonly sequences?: number;
  /** Default true: required for batched logits to equal token-by-token logits. */
  readonly flashAttention?: boolean;
  /** As getLlama's `gpu`: "auto" uses a GPU when node-llama-cpp finds one; default false (CPU). */
  readonly gpu?: "auto" | false;
  /** As loadModel's `gpuLayers`: layers offloaded to the GPU (default: "auto" with `gpu: "auto"`, else 0). */
  readonly gpuLayers?: number | "auto" | "max";
  /**
   * KV cache type (default Q8_0). With F16 or F32 caches llama.cpp's CPU flash attention takes other
   * kernels for a single-token pass (KV split across threads once the cache passes 256 cells) and for
   * passes of 64+ tokens (tiled) than for a few tokens, so batched verification would not reproduce
   * one-by-one decoding bit for bit; with a quantized (Q8_0) or BF16 cache every pass takes the same
   * per-row kernel and the outputs are identical. Q8_0 measured ~5% slower per token than F16 here.
   */
  readonly kvCacheType?: KvCacheType;
  /** Where `hf:` models are downloaded to. */
  readonly modelsDirectory?: string;
  /**
   * Measure (or load the cached verdict) whether batched passes equal one-token passes (default true;
   * see ./exactness.ts). generate() reads `exactness` to keep strict mode lossless.
   */
  readonly probeExactness?: boolean;
  /**
   * Run a major garbage collection after every ~64 MB of native sampler buffers that node-llama-cpp
   * leaves to the collector (default true; see ./native-garbage.ts: it changes no process-wide setting).
   */
  readonly collectNativeGarbage?: boolean;
  /** Told what load() changed from what was asked (e.g. a contextSize above the model's trained one, capped). */
  readonly onWarning?: (message: string) => void;
}

export type KvCacheType = "Q8_0" | "BF16" | "F16" | "F32" | "Q4_0";
export const KV_CACHE_TYPES: readonly KvCacheType[] = ["Q8_0", "BF16", "F16", "F32", "Q4_0"];
/** Cache types whose batched passes reproduce single-token passes exactly (see kvCacheType). */
export const BATCH_INVARIANT_KV_TYPES: readonly KvCacheType[] = ["Q8_0", "BF16", "Q4_0"];

/**
 * How a sequence drops the rejected tail of a draft.
 * - "truncate": remove the tail's KV cells (transformers: the kept cells are exactly what one-by-one
 *   decoding would have left);
 * - "checkpoint": the model has recurrent state (Mamba, Gated DeltaNet, short-conv layers of a hybrid)
 *   that every token overwrites, which llama.cpp cannot cut back (llama_memory_seq_rm refuses a partial
 *   removal on recurrent memory). The sequence snapshots that state before each draft pass and, on a
 *   rejection, restores the snapshot and re-evaluates the accepted tokens: exact, at the price of one
 *   more pass over 1 + accepted tokens per rejected draft (plus copying the state once per draft).
 */
export type RollbackMode = "truncate" | "checkpoint";

/**
 * Checkpoints a recurrent sequence keeps. Only the latest is needed for rollback (the snapshot before
 * the current draft pass, or the one node-llama-cpp takes after a rollback); a few older ones let a
 * new request that shares a shorter prefix skip part of its re-evaluation. Each holds the whole
 * recurrent state (~19 MB for Qwen3.5-0.8B), so node-llama-cpp's default of 32 is far too many.
 */
const RECURRENT_CHECKPOINTS = 4;
/** Validates a KV cache type name (e.g. from the command line). */
export function resolveKvCacheType(type: string): KvCacheType {
  const upper = type.toUpperCase();
  if (!(KV_CACHE_TYPES as readonly string[]).includes(upper)) throw new Error(`unknown KV cache type ${JSON.stringify(type)}: use one of ${KV_CACHE_TYPES.join(", ")}`);
  return upper as KvCacheType;
}

/** Physical cores (not hyper-threads): llama.cpp's matrix kernels gain nothing from SMT siblings. */
export function physicalCoreCount(): number {
  try {
    const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
    const cores = new Set<string>();
    let physicalId = "0";
    for (const line of cpuinfo.split("\n")) {
      const [key, value] = line.split(":").map((part) => part?.trim());
      if (key === "physical id") physicalId = value;
      else if (key === "core id") cores.add(`${physicalId}:${value}`);
    }
    if (cores.size > 0) return Math.min(cores.size, os.availableParallelism());
  } catch {
    // not Linux: fall through
  }
  return Math.max(1, os.availableParallelism());
}

const llamaInstances = new Map<string, Promise<Llama>>();
/** One node-llama-cpp instance per GPU setting, shared by every model and tokenizer of the process. */
export function sharedLlama(gpu: "auto" | false): Promise<Llama> {
  const key = String(gpu);
  let llama = llamaInstances.get(key);
  if (!llama) {
    llama = getLlama({ gpu, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
    llamaInstances.set(key, llama);
  }
  return llama;
}

/** Fails fast with a clear message for a missing, empty, truncated or non-GGUF file (`what` names its role). */
export async function checkGgufFile(path: string, what = "model"): Promise<void> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error(`${what} path ${path} is not a file`);
    size = info.size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`${what} file not found: ${path}`);
    throw error;
  }
  const header = Buffer.alloc(4);
  const handle = await open(path, "r");
  try {
    await handle.read(header, 0, 4, 0);
  } finally {
    await handle.close();
  }
  const magic = header.subarray(0, Math.min(size, 4)).toString("latin1");
  if (magic !== "GGUF") throw new Error(`${what} file ${path} is not a GGUF file (it starts with ${JSON.stringify(magic)}, not "GGUF")`);
  if (size < 32) throw new Error(`${what} file ${path} is too small (${size} bytes) to be a GGUF file`);
}

async function resolveModelPath(model: string, modelsDirectory?: string): Promise<string> {
  if (!/^(hf|https?):/.test(model)) {
    await checkGgufFile(model);
    return model;
  }
  try {
    return await resolveModelFile(model, { directory: modelsDirectory, cli: false, verify: false });
  } catch (error) {
    throw new Error(`could not resolve model ${model} (offline or not found): ${(error as Error).message}`);
  }
}

/** What load() runs on: the caller's LlamaModel, or a file to load (and own). */
type ModelSource = { readonly kind: "instance"; readonly model: LlamaModel } | { readonly kind: "file"; readonly path: string };

function modelSource(options: LlamaCppOptions): ModelSource {
  const { model, modelPath } = options;
  if (model === undefined && modelPath === undefined) throw new Error("no model: give `model` (a GGUF path, an hf: URI or a node-llama-cpp LlamaModel) or `modelPath`");
  if (model !== undefined && modelPath !== undefined) throw new Error("give `model` or `modelPath`, not both (modelPath is node-llama-cpp's name for a model file path)");
  if (modelPath !== undefined) {
    if (typeof modelPath !== "string" || modelPath === "") throw new TypeError(`modelPath must be a non-empty string, got ${JSON.stringify(modelPath)}`);
    return { kind: "file", path: modelPath };
  }
  if (typeof model === "string") {
    if (model === "") throw new TypeError("model must be a non-empty path, an hf: URI or a LlamaModel");
    return { kind: "file", path: model };
  }
  if (typeof model !== "object" || model === null || typeof (model as LlamaModel).createContext !== "function" || typeof (model as LlamaModel).tokenize !== "function")
    throw new TypeError("model must be a GGUF path, an hf: URI or a node-llama-cpp LlamaModel (from llama.loadModel())");
  if (model.disposed) throw new Error("the LlamaModel given as `model` is disposed");
  // With a loaded model these would do nothing: name them rather than ignore them.
  for (const key of ["llama", "gpu", "gpuLayers", "modelsDirectory"] as const)
    if (options[key] !== undefined) throw new Error(`\`${key}\` applies when llma loads the file; a LlamaModel given as \`model\` is loaded already (its Llama and GPU layers are its own)`);
  return { kind: "instance", model };
}

/**
 * The file a caller's LlamaModel was loaded from: the cost-curve and exactness caches key on the file's
 * path, size and mtime. node-llama-cpp 3.21's LlamaModel exposes only the base name (`filename`); the
 * resolved path is its `_modelPath` field.
 */
function filePathOf(model: LlamaModel): string {
  const path = (model as unknown as { _modelPath?: unknown })._modelPath;
  if (typeof path !== "string" || path === "")
    throw new Error("cannot tell which file this LlamaModel was loaded from (node-llama-cpp's LlamaModel._modelPath is missing: a node-llama-cpp version other than 3.21?)");
  return path;
}

export class LlamaCppModel implements TokenModel {
  readonly contextSize: number;
  readonly batchSize: number;
  readonly threads: number;
  readonly kvCacheType: KvCacheType;
  readonly flashAttention: boolean;
  /** Whether a GPU may be used ("auto") or not (false). */
  readonly gpu: "auto" | false;
  private readonly free: LlamaContextSequence[] = [];
  /** Counts the native garbage this model's passes leave (see ./native-garbage.ts). */
  readonly garbage: NativeGarbageCollector;
  /** The first context (all of them are alike). */
  readonly context: LlamaContext;
  /** Parallel sequences (requests that can generate at once). */
  readonly sequenceCount: number;
  /** Whether the model has recurrent state (a recurrent or hybrid architecture: qwen35, mamba2, lfm2, ...). */
  readonly recurrent: boolean;
  /** How rejected draft tokens are dropped (see RollbackMode); "checkpoint" costs a pass per rejection. */
  readonly rollback: RollbackMode;
  /** TokenModel: true with "checkpoint" rollback, so the cost-aware policy prices rejections. */
  readonly rollbackReevaluates: boolean;

  private constructor(
    readonly path: string,
    readonly llama: Llama,
    readonly model: LlamaModel,
    /** One context per parallel sequence (see load()); `context` is the first. */
    readonly contexts: readonly LlamaContext[],
    gpu: "auto" | false,
    kvCacheType: KvCacheType,
    /** Whether llma loaded `model` (then dispose() disposes it); a caller's LlamaModel is left alone. */
    readonly ownsModel: boolean,
    collectNativeGarbage: boolean,
  ) {
    this.gpu = gpu;
    this.garbage = new NativeGarbageCollector(collectNativeGarbage);
    this.kvCacheType = kvCacheType;
    this.flashAttention = contexts[0].flashAttention === true;
    // node-llama-cpp keeps one cell of a sequence free: a pass that would fill the last one first
    // "shifts" the context (erases its beginning), which changes the output and, with a quantized KV
    // cache, crashed the process (SIGSEGV; found by test/backends/bad-input.test.ts). So the decoder
    // sees one cell less and stops with "context-full" before node-llama-cpp would ever shift.
    const context = contexts[0];
    this.context = context;
    this.contextSize = context.contextSize - 1;
    this.batchSize = context.batchSize;
    this.threads = context.currentThreads;
    const insights = model.fileInsights;
    this.recurrent = insights.isRecurrent || insights.isHybrid;
    this.rollback = this.recurrent ? "checkpoint" : "truncate";
    this.rollbackReevaluates = this.rollback === "checkpoint";
    const options = this.recurrent ? { checkpoints: { max: RECURRENT_CHECKPOINTS } } : {};
    for (const each of contexts) for (let i = 0; i < each.totalSequences; i++) this.free.push(each.getSequence(options));
    this.sequenceCount = this.free.length;
  }

  /**
   * Loads a GGUF file (or wraps a caller's LlamaModel, see `model`), creates one context per sequence
   * and, by default, probes the exactness of batched passes.
   */
  static async load(options: LlamaCppOptions): Promise<LlamaCppModel> {
    const source = modelSource(options);
    const threads = options.threads ?? physicalCoreCount();
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be an integer >= 1, got ${threads}`);
    const kvCacheType = options.kvCacheType ?? "Q8_0";
    if (!KV_CACHE_TYPES.includes(kvCacheType)) throw new Error(`unknown kvCacheType ${JSON.stringify(kvCacheType)}: use one of ${KV_CACHE_TYPES.join(", ")}`);
    if (options.gpu !== undefined && options.gpu !== false && options.gpu !== "auto") throw new Error(`gpu must be "auto" or false, got ${JSON.stringify(options.gpu)}`);
    if (options.llama !== undefined && options.gpu !== undefined)
      throw new Error("give `llama` or `gpu`, not both: a Llama given as `llama` has its GPU setting already (getLlama({ gpu }))");
    let path: string;
    let model: LlamaModel;
    if (source.kind === "instance") {
      model = source.model;
      path = filePathOf(model);
    } else {
      path = await resolveModelPath(source.path, options.modelsDirectory);
      const llama = options.llama ?? (await sharedLlama(options.gpu ?? false));
      const gpuLayers = options.gpuLayers ?? (llama.gpu === false ? 0 : "auto");
      if (llama.gpu === false && gpuLayers !== 0)
        throw new Error(`gpuLayers ${JSON.stringify(gpuLayers)} needs a GPU, but this Llama runs on the CPU (use gpu: "auto", or a Llama from getLlama({ gpu }))`);
      try {
        model = await llama.loadModel({ modelPath: path, gpuLayers });
      } catch (error) {
        throw new Error(`could not load model ${path}: ${(error as Error).message} (is the file complete and a llama.cpp-supported GGUF?)`);
      }
    }
    const ownsModel = source.kind === "file";
    const contextSize = Math.min(options.contextSize ?? 4096, model.trainContextSize);
    if (options.contextSize !== undefined && options.contextSize > model.trainContextSize)
      options.onWarning?.(`context size ${options.contextSize} is above this model's trained context of ${model.trainContextSize} tokens: using ${model.trainContextSize}`);
    // One context per sequence, each with its own KV cache: sequences sharing one context share one
    // cache, where their cells interleave and, once drafts are rolled back, a sequence's later tokens can
    // land in cells before its earlier ones; attention then sums in another order than for the same
    // request alone, and concurrent requests drifted from their sequential twins (test/load/loadtest.ts
    // measured 13 of 163 streams differing with 4 slots in one context; none with separate contexts).
    const contexts: LlamaContext[] = [];
    try {
      for (let i = 0; i < (options.sequences ?? 1); i++)
        contexts.push(
          await model.createContext({
            contextSize,
            batchSize: Math.min(options.batchSize ?? 512, contextSize),
            sequences: 1,
            flashAttention: options.flashAttention ?? true,
            threads,
            experimentalKvCacheKeyType: kvCacheType,
            experimentalKvCacheValueType: kvCacheType,
          }),
        );
    } catch (error) {
      for (const context of contexts) await context.dispose();
      if (ownsModel) await model.dispose();
      throw error;
    }
    const gpu = model.llama.gpu === false ? false : "auto";
    const loaded = new LlamaCppModel(path, model.llama, model, contexts, gpu, kvCacheType, ownsModel, options.collectNativeGarbage ?? true);
    if (options.probeExactness ?? true) await loaded.checkExactness().catch(async (error: unknown) => {
      await loaded.dispose();
      throw error;
    });
    return loaded;
  }

  /** Whether batched passes equal one-token passes here (set by checkExactness(); load() runs it by default). */
  exactness?: ExactnessVerdict;

  /** Probes (or loads the cached verdict of) the exactness of batched passes; see ./exactness.ts. */
  async checkExactness(options: { refresh?: boolean; onProbe?: () => void } = {}): Promise<ExactnessVerdict> {
    this.exactness = await exactnessFor(this, options);
    return this.exactness;
  }

  /** Measured cost curve (after calibrate()): the cost-aware policy's prior, refined online (see core/accelerator.ts). */
  costCurve?: CostCurve;
  /** The accelerator generate(model, request) runs on: what requests on this model learn (core/accelerator.ts); created on first use. */
  accelerator?: Accelerator;

  /** Measures (or loads the cached) cost curve of this model on this machine (./calibrate.ts). */
  async calibrate(options: { refresh?: boolean; onMeasure?: () => void } = {}): Promise<CostCurve> {
    this.costCurve = new CostCurve(await costCurveFor(this, options));
    return this.costCurve;
  }

  /** The calibration under way, shared by every caller that needs the curve meanwhile. */
  private calibrating?: Promise<CostCurve>;

  /**
   * The cost curve, measured (or loaded from the cache) on first need: an Accelerator calls this for
   * policy "auto". Concurrent callers share one calibration; a failed one is retried by the next caller.
   */
  async ensureCostCurve(options: { onMeasure?: () => void } = {}): Promise<CostCurve> {
    if (this.costCurve) return this.costCurve;
    this.calibrating ??= this.calibrate(options).finally(() => {
      this.calibrating = undefined;
    });
    return this.calibrating;
  }

  tokenize(text: string, options: { bos?: boolean } = {}): number[] {
    const tokens = this.model.tokenize(text, false) as number[];
    const bos = this.model.tokens.bos;
    if (options.bos && bos != null && this.model.tokens.shouldPrependBosToken) return [bos, ...tokens];
    return tokens;
  }

  detokenize(tokens: readonly number[], context?: readonly number[]): string {
    return this.model.detokenize(tokens as Token[], false, context as Token[] | undefined);
  }

  isEndOfGeneration(token: number): boolean {
    return this.model.isEogToken(token as Token);
  }

  get eosToken(): number | undefined {
    return this.model.tokens.eos ?? undefined;
  }

  /** Native bytes each controlledEvaluate call leaves for the garbage collector (see ./native-garbage.ts). */
  private get samplerBytes(): number {
    const vocabulary = this.model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
    return (vocabulary ?? 256_000) * SAMPLER_BYTES_PER_TOKEN;
  }

  /** Takes a free sequence of the context (one per parallel request). */
  async createSequence(): Promise<TokenSequence> {
    return this.createProbeSequence();
  }

  /** A free sequence as the backend's own class, node-llama-cpp's sequence reachable (the exactness probe needs it). */
  async createProbeSequence(): Promise<LlamaCppSequence> {
    const sequence = this.free.pop();
    if (!sequence) throw new Error(`all ${this.sequenceCount} sequences of this model are in use`);
    return new LlamaCppSequence(sequence, this.contextSize, () => this.free.push(sequence), this.samplerBytes, this.garbage, this.rollback);
  }

  private disposing?: Promise<void>;

  /** Frees the contexts llma created, and the model if llma loaded it (a caller's LlamaModel stays usable). Idempotent. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      for (const context of this.contexts) await context.dispose();
      if (this.ownsModel) await this.model.dispose();
    })();
    return this.disposing;
  }

  /** `await using model = await LlamaCppModel.load(...)` disposes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** One predicted position's request to controlledEvaluate. */
type GenerateNext = { generateNext: { token: true; probabilities?: boolean; options?: Record<string, number | null> } };
const GREEDY: GenerateNext = { generateNext: { token: true } };

/**
 * node-llama-cpp's sampler options for a processed distribution. An option that is off is passed as
 * null, which node-llama-cpp 3.21 drops (removeNullFields) so that llama.cpp's chain gets no such
 * sampler; `topK: 0` would instead install a top-k over the whole vocabulary, a full sort per position
 * (~2 ms on a 32k vocabulary here, 5x the softmax-and-draw that sampling itself costs).
 */
function samplerOptions(options: DistributionOptions, seed: number): Record<string, number | null> {
  return {
    temperature: options.temperature,
    topK: options.topK !== undefined && options.topK > 0 ? options.topK : null,
    topP: options.topP !== undefined && options.topP < 1 ? options.topP : null,
    minP: options.minP !== undefined && options.minP > 0 ? options.minP : null,
    seed,
  };
}

/** sizeof(llama_token_data): node-llama-cpp's AddonSampler keeps one per vocabulary entry. */
const SAMPLER_BYTES_PER_TOKEN = 12;

/**
 * node-llama-cpp's sampler settings for {@link LlamaCppSequence.sampleTokens}: its own temperature, top-k,
 * top-p, min-p, seed, penalties, token bias and grammar, plus whether to return each step's distribution.
 * End-of-generation tokens are always yielded and the context is never shifted, so those are not options.
 */
export type NodeSampling = Omit<SequenceEvaluateOptions, "yieldEogToken" | "contextShift"> & {
  /** Return the distribution (after the sampler's options) each token was drawn from. */
  readonly probabilities?: boolean;
};

/** One step of node-llama-cpp's sampling loop. */
export interface SampledToken {
  readonly token: number;
  /** With `probabilities`: the distribution the token was drawn from, most likely first. */
  readonly probabilities?: ReadonlyMap<number, number>;
}

/**
 * The backend sequence under a TokenSequence, for what only node-llama-cpp does (its own sampler,
 * LlamaChat, per-position probabilities); `purpose` names the feature in the error another backend gets.
 */
export function llamaCppSequence(sequence: TokenSequence, purpose: string): LlamaCppSequence {
  if (!(sequence instanceof LlamaCppSequence)) throw new Error(`${purpose} needs a node-llama-cpp sequence (LlamaCppModel)`);
  return sequence;
}

export class LlamaCppSequence implements TokenSequence {
  /**
   * Sampling draws each predicted position with llama.cpp's dist sampler seeded with that position's
   * seed: u = uniform_real_distribution<double>(mt19937(seed)), inverse CDF over the chain's candidates.
   */
  readonly canSample = true;
  private released = false;
  /** Tokens that rollbacks evaluated again (recurrent models only; 0 with "truncate"). */
  reevaluatedTokens = 0;
  constructor(
    /** node-llama-cpp's sequence underneath, for its own APIs (LlamaChat, LlamaCompletion, controlledEvaluate). */
    readonly sequence: LlamaContextSequence,
    private readonly capacity: number,
    private readonly release: () => void,
    private readonly samplerBytes: number,
    private readonly garbage: NativeGarbageCollector,
    readonly rollback: RollbackMode = "truncate",
  ) {
    if (rollback === "checkpoint" && !sequence.needsCheckpoints)
      throw new Error("internal error: a recurrent model's sequence does not take checkpoints, so rejected drafts could not be rolled back");
  }

  get length(): number {
    return this.sequence.nextTokenIndex;
  }

  get tokens(): readonly number[] {
    return this.sequence.contextTokens;
  }

  async evaluate(tokens: readonly number[], predictFrom = 0, sample?: SampleRequest): Promise<number[]> {
    if (tokens.length === 0) return [];
    // Never let node-llama-cpp shift the context (see LlamaCppModel's constructor): a named error instead.
    if (this.length + tokens.length > this.capacity)
      throw new RangeError(`${tokens.length} more tokens do not fit: the sequence holds ${this.length} of at most ${this.capacity}`);
    if (tokens.length === 1 && predictFrom === 0 && !sample) return [await this.plainStep(tokens[0])];
    if (sample && sample.seeds.length !== tokens.length - predictFrom)
      throw new Error(`${sample.seeds.length} seeds for ${tokens.length - predictFrom} predicted positions`);
    // A pass of several tokens may be cut back (a draft's rejected tail): on recurrent state that needs
    // a snapshot of the state as it is now (see RollbackMode). takeCheckpoint does nothing when one
    // exists at this position already (node-llama-cpp takes one after every rollback).
    if (this.rollback === "checkpoint" && tokens.length > 1 && this.length > 0) await this.sequence.takeCheckpoint();
    const probabilities = sample?.onDistribution !== undefined;
    const items = tokens.map((token, i): Token | [Token, GenerateNext] => {
      if (i < predictFrom) return token as Token;
      if (!sample) return [token as Token, GREEDY];
      return [token as Token, { generateNext: { token: true, probabilities, options: samplerOptions(sample.options, sample.seeds[i - predictFrom]) } }];
    });
    // The option types say number; null (an option switched off) is what node-llama-cpp drops, see samplerOptions.
    const results = await this.sequence.controlledEvaluate(items as Parameters<LlamaContextSequence["controlledEvaluate"]>[0]);
    this.garbage.report(this.samplerBytes);
    const predictions: number[] = [];
    for (let i = predictFrom; i < tokens.length; i++) {
      const next = results[i]?.next;
      const token = next?.token;
      if (token == null) throw new Error(`the backend returned no prediction for position ${i}`);
      predictions.push(token);
      if (probabilities && next?.probabilities) {
        const entries = [...next.probabilities];
        sample.onDistribution!(i - predictFrom, { tokens: entries.map(([t]) => t), probabilities: entries.map(([, p]) => p) });
      }
    }
    return predictions;
  }

  /**
   * node-llama-cpp's own generation loop, for what llma's lossless loop does not carry (penalties, token
   * bias, a grammar, per-token distributions): evaluates `tokens` after what the sequence holds, then
   * yields the token its sampler draws at each step, end-of-generation tokens included (the caller's
   * output decides what ends it). One forward pass per token: a yielded token is evaluated when the next
   * one is asked for. It ends by itself before that pass would fill the context, so node-llama-cpp never
   * shifts it (see LlamaCppModel's constructor).
   */
  async *sampleTokens(tokens: readonly number[], sampling: NodeSampling): AsyncGenerator<SampledToken, void, void> {
    if (tokens.length === 0) throw new Error("sampling needs at least one token to evaluate (the prompt's last one)");
    if (this.length + tokens.length > this.capacity)
      throw new RangeError(`${tokens.length} more tokens do not fit: the sequence holds ${this.length} of at most ${this.capacity}`);
    const { probabilities = false, ...options } = sampling;
    const steps = this.sequence.evaluateWithMetadata(tokens as Token[], { probabilities }, { ...options, yieldEogToken: true });
    for await (const step of steps) {
      const distribution = (step as { probabilities?: Map<Token, number> }).probabilities;
      if (probabilities && !distribution) throw new Error("the backend returned no probabilities for a sampled token");
      yield { token: step.token, ...(probabilities ? { probabilities: distribution } : {}) };
      if (this.length + 1 > this.capacity) return;
    }
  }

  /**
   * A greedy one-token pass, as node-llama-cpp's own generation runs it: through one long-lived
   * evaluate() iterator, whose sampler is created once per sequence. controlledEvaluate creates (and
   * leaves to the garbage collector) a native sampler with a vocabulary-sized buffer on every call,
   * which is noise for a draft pass but a measurable share of a one-token pass on a small model.
   * The iterator appends at the sequence's current end, so passes through controlledEvaluate and
   * truncations in between are fine; with `yieldEogToken` it never ends by itself.
   */
  private async plainStep(token: number): Promise<number> {
    let result: IteratorResult<Token, void>;
    if (!this.plain) {
      this.plain = this.sequence.evaluate([token as Token], { temperature: 0, yieldEogToken: true });
      result = await this.plain.next();
    } else result = await this.plain.next(token as Token);
    if (result.done || result.value == null) {
      this.closePlain();
      throw new Error("the backend returned no prediction for a one-token pass");
    }
    return result.value;
  }

  private plain?: AsyncGenerator<Token, void, Token | Token[] | undefined>;

  private closePlain(): void {
    const plain = this.plain;
    this.plain = undefined;
    void plain?.return();
  }

  async truncate(length: number): Promise<void> {
    const current = this.sequence.nextTokenIndex;
    if (length < 0 || length > current) throw new RangeError(`cannot truncate a sequence of ${current} tokens to ${length}`);
    if (length === current) return;
    if (length === 0) await this.sequence.clearHistory();
    else if (this.rollback === "truncate") await this.sequence.eraseContextTokenRanges([{ start: length, end: current }]);
    else {
      // node-llama-cpp 3.21: llama_memory_seq_rm fails on the recurrent part, so eraseContextTokenRanges
      // restores the latest checkpoint at or before `length` and evaluates the tokens after it again
      // (the snapshot evaluate() took before this draft: 1 + accepted tokens); without any checkpoint
      // it would clear the sequence and evaluate all `length` tokens again, also exactly.
      const meter = this.sequence.tokenMeter;
      const before = meter.usedInputTokens;
      await this.sequence.eraseContextTokenRanges([{ start: length, end: current }]);
      this.reevaluatedTokens += meter.usedInputTokens - before;
    }
    if (this.sequence.nextTokenIndex !== length)
      throw new Error(`rolling back to ${length} tokens left ${this.sequence.nextTokenIndex} in the sequence`);
  }

  dispose(): void {
    if (this.released) return;
    this.released = true;
    this.closePlain();
    // The KV cache stays: the next request on this sequence reuses whatever prompt prefix it shares.
    this.release();
  }
}
