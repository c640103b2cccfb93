/**
 * llma/test-models: GGUF files with seeded random weights and real vocabularies (see the README's
 * "Test models"), and their on-disk cache. Apart from the root entry: the LLaMA-2 vocabulary package
 * alone adds ~33 MB to a process, which `import "llma"` should not pay.
 */
export { writeGgufModel, SHAPES, ARCHITECTURES, type Quant, type ModelShape } from "./gguf-writer.js";
export { ensureModel, modelFileName, type EnsureModelOptions } from "./model-cache.js";
