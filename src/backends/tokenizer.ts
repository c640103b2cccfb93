/**
 * A tokenizer taken from a GGUF file, without the weights: node-llama-cpp loads the file vocab-only,
 * so even a multi-GB model opens in milliseconds and nothing is evaluated. Used where only token
 * counts matter (model-free step simulation).
 */
import type { Token } from "node-llama-cpp";
import { checkGgufFile, sharedLlama } from "./llama-cpp.js";

export interface Tokenizer {
  /** Tokens of `text` (special-token text is not parsed); with `bos`, the BOS token first when the vocabulary uses one. */
  tokenize(text: string, options?: { bos?: boolean }): number[];
  detokenize(tokens: readonly number[]): string;
  close(): Promise<void>;
}

/** Fails with a clear message for a missing, non-file, too small or non-GGUF tokenizer path. */
export function checkTokenizerFile(path: string): Promise<void> {
  return checkGgufFile(path, "tokenizer");
}

/** Loads the vocabulary of a GGUF model (no weights, no GPU, no build). */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  await checkTokenizerFile(path);
  const llama = await sharedLlama(false);
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
