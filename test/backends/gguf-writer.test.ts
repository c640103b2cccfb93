import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLlama, LlamaLogLevel, readGgufFileInfo, resolveChatWrapper } from "node-llama-cpp";
import type { Llama, LlamaModel, Token } from "node-llama-cpp";
import llamaTokenizer from "llama-tokenizer-js";
import {
  GGUF_WRITER_VERSION,
  planGgufModel,
  QUANTS,
  SHAPES,
  ZEPHYR_CHAT_TEMPLATE,
  writeGgufModel,
} from "../../src/backends/gguf-writer.js";
import type { Quant } from "../../src/backends/gguf-writer.js";
import { isKQuantRecipe } from "../../src/backends/gguf-kquants.js";
import { loadLlama2Vocab } from "../../src/backends/llama2-vocab.js";
import { ensureModel, modelFileName } from "../../src/backends/model-cache.js";

const THREADS = 2;
const dir = mkdtempSync(join(tmpdir(), "llma-gguf-test-"));
let llama: Llama;
const models = new Map<Quant, LlamaModel>();
const paths = new Map<Quant, string>();

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: THREADS });
});

afterAll(async () => {
  for (const m of models.values()) await m.dispose();
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function tinyModel(quant: Quant): Promise<LlamaModel> {
  let m = models.get(quant);
  if (!m) {
    const modelPath = join(dir, `tiny-${quant}-seed7.gguf`);
    await writeGgufModel({ shape: "tiny", quant, out: modelPath, seed: 7 });
    paths.set(quant, modelPath);
    m = await llama.loadModel({ modelPath });
    models.set(quant, m);
  }
  return m;
}

async function greedy(model: LlamaModel, prompt: string, n: number): Promise<Token[]> {
  const ctx = await model.createContext({ contextSize: 256, threads: THREADS, flashAttention: true });
  try {
    const seq = ctx.getSequence();
    const out: Token[] = [];
    for await (const t of seq.evaluate([model.tokens.bos!, ...model.tokenize(prompt)], { temperature: 0 })) {
      out.push(t);
      if (out.length >= n) break;
    }
    return out;
  } finally {
    await ctx.dispose();
  }
}

// The K-quant recipes need rows that are multiples of 256 (not tiny's); test/backends/gguf-kquants.test.ts covers them.
const LEGACY_QUANTS = QUANTS.filter((q): q is "Q8_0" | "Q4_0" | "F16" => !isKQuantRecipe(q));

describe.each(LEGACY_QUANTS)("tiny %s", (quant) => {
  it("loads in node-llama-cpp with the planned layout and metadata", async () => {
    const model = await tinyModel(quant);
    const path = paths.get(quant)!;
    const plan = planGgufModel("tiny", quant, 7);
    expect(statSync(path).size).toBe(plan.totalBytes);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);

    const info = await readGgufFileInfo(path, { logWarnings: false });
    const md = info.metadata as unknown as Record<string, Record<string, any>>;
    const s = SHAPES.tiny;
    expect(info.version).toBe(3);
    expect(md.general.architecture).toBe("llama");
    expect(md.general.name).toBe("llma-random-tiny");
    expect(md.general.file_type).toBe({ Q8_0: 7, Q4_0: 2, F16: 1 }[quant]);
    expect(md.general.alignment).toBe(32);
    expect(md.llama.context_length).toBe(s.contextLength);
    expect(md.llama.embedding_length).toBe(s.nEmbd);
    expect(md.llama.block_count).toBe(s.nLayer);
    expect(md.llama.feed_forward_length).toBe(s.nFf);
    expect(md.llama.attention.head_count).toBe(s.nHead);
    expect(md.llama.attention.head_count_kv).toBe(s.nHeadKv);
    expect(md.llama.attention.layer_norm_rms_epsilon).toBeCloseTo(s.rmsEps, 9);
    expect(md.llama.rope.dimension_count).toBe(s.nEmbd / s.nHead);
    expect(md.llama.rope.freq_base).toBe(s.ropeFreqBase);
    expect(md.llama.vocab_size).toBe(32000);
    const tok = md.tokenizer.ggml;
    const vocab = loadLlama2Vocab();
    expect(tok.model).toBe("llama");
    expect(tok.tokens).toEqual(vocab.tokens);
    expect(tok.token_type.slice(0, 4)).toEqual([2, 3, 3, 6]);
    expect(tok.token_type[258]).toBe(6);
    expect(tok.token_type[259]).toBe(1);
    expect([tok.bos_token_id, tok.eos_token_id, tok.unknown_token_id]).toEqual([1, 2, 0]);
    expect([tok.add_bos_token, tok.add_eos_token]).toEqual([true, false]);
    expect(md.tokenizer.chat_template).toBe(ZEPHYR_CHAT_TEMPLATE);

    const tensors = info.tensorInfo!;
    expect(tensors.length).toBe(3 + 9 * s.nLayer);
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const qType = { Q8_0: 8, Q4_0: 2, F16: 1 }[quant];
    expect(byName.get("token_embd.weight")!.dimensions.map(Number)).toEqual([s.nEmbd, 32000]);
    expect(byName.get("output.weight")!.dimensions.map(Number)).toEqual([s.nEmbd, 32000]);
    expect(byName.get("blk.1.ffn_down.weight")!.dimensions.map(Number)).toEqual([s.nFf, s.nEmbd]);
    expect(byName.get("blk.1.attn_k.weight")!.ggmlType).toBe(qType);
    expect(byName.get("blk.0.attn_norm.weight")!.ggmlType).toBe(0);

    expect(model.tokens.bos).toBe(1);
    expect(model.tokens.eos).toBe(2);
    expect(model.trainContextSize).toBe(s.contextLength);
    // The Zephyr template is picked up for chat.
    const wrapper = resolveChatWrapper(model)!;
    const state = wrapper.generateContextState({
      chatHistory: [
        { type: "system", text: "S" },
        { type: "user", text: "U" },
        { type: "model", response: [""] },
      ],
    });
    expect(state.contextText.toString()).toBe("<|system|>\nSEOS\n<|user|>\nUEOS\n<|assistant|>\n");
  });

  it("same seed → identical bytes, other seed → different bytes", async () => {
    await tinyModel(quant);
    const again = join(dir, `tiny-${quant}-seed7-again.gguf`);
    const other = join(dir, `tiny-${quant}-seed8.gguf`);
    await writeGgufModel({ shape: "tiny", quant, out: again, seed: 7 });
    await writeGgufModel({ shape: "tiny", quant, out: other, seed: 8 });
    const a = readFileSync(paths.get(quant)!);
    expect(readFileSync(again).equals(a)).toBe(true);
    const b = readFileSync(other);
    expect(b.length).toBe(a.length);
    expect(b.equals(a)).toBe(false);
    rmSync(again);
    rmSync(other);
  });

  it("greedy generation of 48 tokens is varied", async () => {
    const model = await tinyModel(quant);
    for (const prompt of ["The capital of France is", "def main():"]) {
      const out = await greedy(model, prompt, 48);
      expect(out.length).toBe(48);
      const distinct = new Set(out).size;
      console.log(`tiny ${quant} ${JSON.stringify(prompt)}: ${distinct}/48 distinct tokens`);
      expect(distinct).toBeGreaterThanOrEqual(32);
    }
  });
});

describe("errors", () => {
  it("unknown shape names the value and lists the valid ones", async () => {
    const out = join(dir, "bad-shape.gguf");
    await expect(writeGgufModel({ shape: "huge-9000b", quant: "Q8_0", out })).rejects.toThrow(
      /Unknown model shape "huge-9000b".*tiny, smollm2-135m, tinyllama-1\.1b, llama-7b/,
    );
    await expect(ensureModel({ shape: "huge-9000b", quant: "Q8_0", dir })).rejects.toThrow(/Unknown model shape "huge-9000b"/);
  });

  it("unknown quant names the value and lists the valid ones", async () => {
    const out = join(dir, "bad-quant.gguf");
    await expect(writeGgufModel({ shape: "tiny", quant: "Q5_K" as Quant, out })).rejects.toThrow(
      /Unknown quant "Q5_K".*Q8_0, Q4_0, F16/,
    );
    expect(readdirSync(dir).filter((f) => f.startsWith("bad-"))).toEqual([]);
  });
});

describe("model cache", () => {
  it("writes once, shares concurrent calls, encodes the parameters in the file name", async () => {
    const cacheDir = join(dir, "cache");
    let progressCalls = 0;
    const [a, b] = await Promise.all([
      ensureModel({ shape: "tiny", quant: "Q4_0", seed: 3, dir: cacheDir, onProgress: () => progressCalls++ }),
      ensureModel({ shape: "tiny", quant: "Q4_0", seed: 3, dir: cacheDir }),
    ]);
    expect(a).toBe(b);
    expect(a).toBe(join(cacheDir, modelFileName("tiny", "Q4_0", 3)));
    expect(a).toMatch(new RegExp(`tiny-Q4_0-seed3-v${GGUF_WRITER_VERSION}\\.gguf$`));
    expect(progressCalls).toBeGreaterThan(0);
    expect(readdirSync(cacheDir)).toEqual([modelFileName("tiny", "Q4_0", 3)]);
    const mtime = statSync(a).mtimeMs;
    expect(await ensureModel({ shape: "tiny", quant: "Q4_0", seed: 3, dir: cacheDir })).toBe(a);
    expect(statSync(a).mtimeMs).toBe(mtime);
  });
});

describe("tokenization: llama.cpp (GGUF vocab) vs llama-tokenizer-js", () => {
  const texts: string[] = [];
  for (const file of ["bench/data/llma-rag.jsonl", "bench/data/llma-cnndm.jsonl"]) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line.trim()) continue;
      const row = JSON.parse(line) as { query: string; docs: string[]; result: { text: string } };
      texts.push(row.query, ...row.docs, row.result.text);
    }
  }
  // No BOS; SentencePiece's "▁" prefix (llama.cpp adds it too).
  const jsEncode = (text: string): number[] => llamaTokenizer.encode(text, false, true);

  it("uses LLaMA-2's ids (not Mistral-7B's) and its original scores", () => {
    expect(jsEncode("Hello world")).toEqual([15043, 3186]);
    const vocab = loadLlama2Vocab();
    const id = (piece: string) => vocab.tokens.indexOf(piece);
    expect([id("<unk>"), id("<s>"), id("</s>"), id("<0x0A>"), id("▁▁"), id("▁t"), id("▁Hello"), id("▁")]).toEqual([
      0, 1, 2, 13, 259, 260, 15043, 29871,
    ]);
    expect([vocab.scores[1], vocab.scores[13], vocab.scores[259], vocab.scores[260], vocab.scores[268]]).toEqual([0, 0, -1e9, -1, -1e9]);
    expect(vocab.scores[15043]).toBe(-(15043 - 259));
    expect(vocab.types[29871]).toBe(1);
  });

  it("matches token-for-token on every bench text and round-trips", async () => {
    const model = await tinyModel("Q8_0");
    // LLaMA-2 ids, including Meta's SentencePiece output for "This is 🦙.cpp" (quoted in llama.cpp issue #167).
    expect(model.tokenize("Hello world")).toEqual([15043, 3186]);
    expect(model.tokenize("This is 🦙.cpp")).toEqual([910, 338, 29871, 243, 162, 169, 156, 29889, 8223]);
    expect(jsEncode("This is 🦙.cpp")).toEqual([910, 338, 29871, 243, 162, 169, 156, 29889, 8223]);
    expect(model.tokenize("<s></s>", true)).toEqual([1, 2]);
    expect(texts.length).toBe(1500);
    let mismatches = 0;
    let roundTripFailures = 0;
    let tokens = 0;
    const firstMismatches: string[] = [];
    for (const text of texts) {
      const ours = model.tokenize(text);
      const ref = jsEncode(text);
      tokens += ref.length;
      if (ours.length !== ref.length || ours.some((t, i) => t !== ref[i])) {
        mismatches++;
        if (firstMismatches.length < 3) firstMismatches.push(JSON.stringify(text.slice(0, 100)));
      }
      if (model.detokenize(ours) !== text) roundTripFailures++;
    }
    console.log(
      `tokenization: ${texts.length} texts, ${tokens} tokens, ${mismatches} mismatching texts, ${roundTripFailures} round-trip failures`,
    );
    expect(firstMismatches).toEqual([]);
    expect(mismatches).toBe(0);
    expect(roundTripFailures).toBe(0);
  });

  it("matches on edge cases (spaces, newlines, byte fallback, unicode, special-token text)", async () => {
    const model = await tinyModel("Q8_0");
    const edge = [
      " leading space",
      "  two leading",
      "trailing  ",
      "tabs\tand\nnewlines\r\n",
      "multiple     spaces",
      "                                          x",
      "emoji 😬🎉 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
      "日本語のテキスト",
      "Ünïcödé ñ e\u0301 ﬁ Ω Å x\u00a0y",
      "\u0000nul",
      "a",
      " ",
      "\n",
      "<0x0A> literal",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      // llama-tokenizer-js has no special-token parsing; neither has llama.cpp unless asked.
      "<s> not special </s> <unk>",
    ];
    // Whitespace runs of every length (the -1e9 pieces) between words, at the ends, around newlines.
    for (let k = 1; k <= 40; k++) {
      const run = " ".repeat(k);
      edge.push(`a${run}b`, `${run}x`, `x${run}`, `x${run}\n${run}y`, `1.${run}the${run}${run}end`);
    }
    for (const text of edge) {
      expect(model.tokenize(text), JSON.stringify(text)).toEqual(jsEncode(text));
      expect(model.detokenize(model.tokenize(text))).toBe(text);
    }
  });

  it("documented difference: literal ▁", async () => {
    const model = await tinyModel("Q8_0");
    // A literal U+2581 is SentencePiece's space marker: same tokens, but it decodes as a space.
    const meta = "▁already metaspace";
    expect(model.tokenize(meta)).toEqual(jsEncode(meta));
    expect(model.detokenize(model.tokenize(meta))).toBe(" already metaspace");
  });
});
