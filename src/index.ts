/**
 * llma: lossless LLM inference acceleration with references (LLMA, arXiv 2304.04487).
 * The root entry is the core and the node-llama-cpp backend only; the server, the store and the
 * benchmarks and the test-model writer are behind `llma/server`, `llma/store`, `llma/bench` and
 * `llma/test-models`, so importing llma loads neither fastify, nor better-sqlite3, nor vega. Importing it changes no process-wide setting.
 */
export { ReferenceIndex, ContextCursor, type ReferenceMatch, type SourceKind } from "./core/reference-index.js";
export { ReferenceProposer, type Draft, type DraftProposer, type ReferenceProposerOptions } from "./core/proposer.js";
export { FixedPolicy, type DraftPolicy, type DraftContext } from "./core/policy.js";
export { verifyDraft, type Verdict } from "./core/verifier.js";
export {
  positionSeed,
  normalizeSeed,
  randomSeed,
  processDistribution,
  sampleToken,
  type DistributionOptions,
  type SamplingOptions,
  type SampleRequest,
  type TokenDistribution,
} from "./core/sampling.js";
export { decode, type DecodeOptions, type DecodeResult, type DecodeStats, type StopReason } from "./core/decoder.js";
export { Accelerator, type AcceleratorOptions } from "./core/accelerator.js";
export { generate } from "./core/generate.js";
export type { GenerateRequest } from "./core/request.js";
export { ForcedSequence } from "./core/target.js";
export type { PassExactness, TokenModel, TokenSequence } from "./core/model.js";
export { EXACTNESS_MODES, type ExactnessMode } from "./core/exactness.js";
export {
  exactnessFor,
  probeExactness,
  exactnessWarning,
  exactnessAdvice,
  type ExactnessVerdict,
  type WidthVerdict,
  type ProbeOptions,
} from "./backends/exactness.js";
export { LlamaCppModel, physicalCoreCount, type LlamaCppOptions, type RollbackMode, type KvCacheType } from "./backends/llama-cpp.js";
export { chat, type ChatRequest } from "./backends/chat.js";
export { ChatRenderer, type ChatMessage, type RenderedChat } from "./backends/chat-template.js";
export { llmaCacheDir, defaultModelDir } from "./backends/cache-dir.js";
export type { DecodeResult as GenerateResult } from "./core/decoder.js";
