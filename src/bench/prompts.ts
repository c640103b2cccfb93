import type { TokenModel } from "../core/model.js";
import { samplePrompt, type Sample } from "./dataset.js";

/** The paper truncates each retrieved document to 768 tokens. */
export const PAPER_DOC_TOKENS = 768;

/** What building a request needs: a model, or just a tokenizer (e.g. src/backends/tokenizer.ts). */
export type TextTokenizer = Pick<TokenModel, "tokenize" | "detokenize">;

export function truncateToTokens(model: TextTokenizer, text: string, maxTokens: number): string {
  const tokens = model.tokenize(text);
  return tokens.length <= maxTokens ? text : model.detokenize(tokens.slice(0, maxTokens));
}

/**
 * Prompt and references of a sample as the paper builds them (documents truncated, used as references),
 * plus the sample's cached texts as references first (the paper's cache-assisted scenario).
 */
export function paperRequest(model: TextTokenizer, sample: Sample): { prompt: string; references: string[] } {
  const docs = sample.docs.map((doc) => truncateToTokens(model, doc, PAPER_DOC_TOKENS));
  return { prompt: samplePrompt(sample, docs), references: [...(sample.cached ?? []), ...docs] };
}
