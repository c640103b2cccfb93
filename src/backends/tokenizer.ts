/**
 * A tokenizer taken from a GGUF file, without the weights: node-llama-cpp loads the file vocab-only,
 * so even a multi-GB model opens in milliseconds and nothing is evaluated. Used where only token
 * counts matter (model-free step simulation).
 */
import { open, stat } from "node:fs/promises";
import { getLlama, LlamaLogLevel, type Llama, type Token } from "node-llama-cpp";

export interface Tokenizer {
  /** Tokens of `text` (special-token text is not parsed); with `bos`, the BOS token first when the vocabulary uses one. */
  tokenize(text: string, options?: { bos?: boolean }): number[];
  detokenize(tokens: readonly number[]): string;
  close(): Promise<void>;
}

/** Fails with a clear message for a missing, non-file, too small or non-GGUF tokenizer path. */
export async function checkTokenizerFile(path: string): Promise<void> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error(`tokenizer path ${path} is not a file`);
    size = info.size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`tokenizer file not found: ${path}`);
    throw error;
  }
  const header = Buffer.alloc(4);
  const handle = await open(path, "r");
  try {
    await handle.read(header, 0, 4, 0);
  } finally {
    await handle.close();
  }
  if (size < 4 || header.toString("latin1") !== "GGUF")
    throw new Error(
      `tokenizer file ${path} is not a GGUF file (it starts with ${JSON.stringify(header.subarray(0, Math.min(size, 4)).toString("latin1"))}, not "GGUF")`,
    );
}

let sharedLlama: Promise<Llama> | undefined;

/** Loads the vocabulary of a GGUF model (no weights, no GPU, no build). */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  await checkTokenizerFile(path);
  sharedLlama ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  const llama = await sharedLlama;
  let model;
  try {
    model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  } catch (error) {
    throw new Error(`could not load the vocabulary of ${path}: ${(error as Error).message}`);
  }
  const bos = model.tokens.bos;
  const prependBos = bos != null && model.tokens.shouldPrependBosToken;
  return {
    tokenize(text, options = {}) {
      const tokens = model.tokenize(text, false) as number[];
      return options.bos && prependBos ? [bos as number, ...tokens] : tokens;
    },
    detokenize(tokens) {
      return model.detokenize(tokens as Token[], false);
    },
    async close() {
      await model.dispose();
    },
  };
}
