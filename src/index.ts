/** llma: lossless LLM inference acceleration with references (LLMA, arXiv 2304.04487). */
export { ReferenceIndex, ContextCursor, type ReferenceMatch, type SourceKind } from "./core/reference-index.js";
export { ReferenceProposer, type Draft, type DraftProposer, type ReferenceProposerOptions } from "./core/proposer.js";
export { FixedPolicy, type DraftPolicy, type DraftContext } from "./core/policy.js";
export { verifyGreedy, verifySampled, type Verdict } from "./core/verifier.js";
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
export { generate, type GenerateRequest } from "./core/generate.js";
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
export { LlamaCppModel, physicalCoreCount, type LlamaCppOptions, type RollbackMode } from "./backends/llama-cpp.js";
export { writeGgufModel, SHAPES, ARCHITECTURES, type Quant, type ModelShape } from "./backends/gguf-writer.js";
export { ensureModel } from "./backends/model-cache.js";
export { loadDataset, parseDataset, samplePrompt, type Dataset, type Sample } from "./bench/dataset.js";
export { buildApp, type ServerOptions, type LlmaServer } from "./server/app.js";
export * from "./store/index.js";
