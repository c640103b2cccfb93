/**
 * A hybrid model with recurrent state (Qwen3.5, `qwen35`: Gated DeltaNet + attention layers, seeded
 * random weights from src/backends/gguf-recurrent.ts) and exact rollback of rejected drafts on it.
 *
 * Its recurrent state cannot be cut back like a KV cache: llama.cpp refuses the partial removal, and the
 * backend restores a snapshot taken before the draft pass and re-evaluates the accepted tokens. These
 * tests check that LLMA's output stays token-identical to plain decoding through rejected drafts, and
 * that the rollback costs 1 + accepted tokens, not a re-evaluation of the whole context (which is what
 * happens without the snapshot).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planGgufModel } from "../../src/backends/gguf-writer.js";
import { LlamaCppModel, LlamaCppSequence } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { fuzzCorpus, runFuzzCase } from "../../src/bench/fuzz-cases.js";
import { generate } from "../../src/core/generate.js";

const THREADS = Number(process.env.LLMA_TEST_THREADS ?? 1);
const CASES = Number(process.env.LLMA_RECURRENT_CASES ?? 16);
const PROMPT = "The quick brown fox jumps over the lazy dog, and then";

let model: LlamaCppModel;
beforeAll(async () => {
  model = await LlamaCppModel.load({ model: await ensureModel({ shape: "qwen35-tiny", quant: "Q8_0" }), threads: THREADS, contextSize: 3072 });
});
afterAll(async () => {
  await model?.dispose();
});

async function sequence(): Promise<LlamaCppSequence> {
  const created = await model.createSequence();
  if (!(created instanceof LlamaCppSequence)) throw new Error("expected a LlamaCppSequence");
  await created.truncate(0);
  return created;
}

/** Plain one-token-per-pass greedy decoding: `count` tokens after the prompt. */
async function plainTokens(prompt: readonly number[], count: number): Promise<number[]> {
  const seq = await sequence();
  try {
    let next = (await seq.evaluate(prompt, prompt.length - 1))[0];
    const out = [next];
    while (out.length < count) out.push((next = (await seq.evaluate([next]))[0]));
    return out;
  } finally {
    seq.dispose();
  }
}

describe("qwen35 test model", () => {
  it("has the hybrid layout (3 Gated DeltaNet layers, 1 attention layer) and few parameters beyond the vocabulary", () => {
    const plan = planGgufModel("qwen35-tiny", "Q8_0");
    const names = plan.tensors.map((t) => t.name);
    for (const il of [0, 1, 2]) for (const t of ["attn_qkv.weight", "attn_gate.weight", "ssm_conv1d.weight", "ssm_a", "ssm_dt.bias", "ssm_beta.weight", "ssm_alpha.weight", "ssm_norm.weight", "ssm_out.weight"]) expect(names).toContain(`blk.${il}.${t}`);
    for (const t of ["attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "attn_q_norm.weight", "attn_k_norm.weight"]) expect(names).toContain(`blk.3.${t}`);
    expect(names).not.toContain("blk.3.ssm_a");
    const vocabulary = 2 * 32000 * 256;
    expect(plan.nParams - vocabulary).toBeGreaterThan(1e6);
    expect(plan.nParams - vocabulary).toBeLessThan(5e6);
  });

  it("loads in llama.cpp as a hybrid model whose drafts roll back through checkpoints", () => {
    expect(model.model.fileInsights.isHybrid).toBe(true);
    expect(model.recurrent).toBe(true);
    expect(model.rollback).toBe("checkpoint");
  });

  it("generates deterministic, varied greedy tokens", async () => {
    const a = await generate(model, { prompt: PROMPT, method: "greedy", maxTokens: 48 });
    const b = await generate(model, { prompt: PROMPT, method: "greedy", maxTokens: 48 });
    expect(a.tokens).toHaveLength(48);
    expect(b.tokens).toEqual(a.tokens);
    expect(new Set(a.tokens).size).toBeGreaterThan(30);
  });
});

describe("rollback of a rejected draft on recurrent state", () => {
  for (const accepted of [0, 2, 5]) {
    it(`continues exactly as plain decoding after a draft with ${accepted} accepted tokens, re-evaluating only ${accepted + 1}`, async () => {
      const prompt = model.tokenize(PROMPT, { bos: true });
      const plain = await plainTokens(prompt, 40);
      const seq = await sequence();
      try {
        await seq.evaluate(prompt, prompt.length - 1);
        const before = seq.length;
        // [the model's token, `accepted` correct draft tokens, then tokens the model would not choose]
        const wrong = [plain[accepted + 1] === 7 ? 8 : 7, 9, 11];
        const pass = [plain[0], ...plain.slice(1, accepted + 1), ...wrong];
        const predictions = await seq.evaluate(pass);
        expect(predictions.slice(0, accepted + 1)).toEqual(plain.slice(1, accepted + 2));
        expect(predictions[accepted + 1]).not.toBe(plain[accepted + 2]); // the state now holds a rejected token

        await seq.truncate(before + accepted + 1);
        expect(seq.length).toBe(before + accepted + 1);
        expect(seq.reevaluatedTokens).toBe(accepted + 1);
        let next = predictions[accepted];
        const continued = [...plain.slice(0, accepted + 1), next];
        while (continued.length < plain.length) continued.push((next = (await seq.evaluate([next]))[0]));
        expect(continued).toEqual(plain);
      } finally {
        seq.dispose();
      }
    });
  }

  it("without the snapshot, llama.cpp refuses the cut and node-llama-cpp re-evaluates the whole context", async () => {
    const prompt = model.tokenize(PROMPT, { bos: true });
    const plain = await plainTokens(prompt, 24);
    const seq = await sequence();
    try {
      // The raw node-llama-cpp sequence, as the backend used it before (eraseContextTokenRanges only).
      const raw = seq.sequence;
      await raw.evaluateWithoutGeneratingNewTokens(prompt as never);
      const kept = raw.nextTokenIndex + 3;
      await raw.evaluateWithoutGeneratingNewTokens([...plain.slice(0, 3), 7, 9, 11] as never);
      // llama_memory_seq_rm on recurrent memory: a partial removal of the tail is refused (internal API).
      const native = (raw as unknown as { _context: { _ctx: { removeTokenCellsFromSequence(id: number, start: number, end: number): boolean } }; _sequenceId: number });
      expect(native._context._ctx.removeTokenCellsFromSequence(native._sequenceId, kept, raw.nextTokenIndex)).toBe(false);
      const meter = raw.tokenMeter.usedInputTokens;
      await raw.eraseContextTokenRanges([{ start: kept, end: raw.nextTokenIndex }]);
      // Exact, but the whole kept context was evaluated again: O(context) per rejected draft.
      expect(raw.tokenMeter.usedInputTokens - meter).toBe(kept);
      expect(kept).toBeGreaterThan(10);
      const continued = [...plain.slice(0, 3)];
      let next = plain[3];
      continued.push(next);
      while (continued.length < plain.length) continued.push((next = (await seq.evaluate([next]))[0]));
      expect(continued).toEqual(plain);
    } finally {
      seq.dispose();
    }
  });
});

describe("lossless on the qwen35 model", () => {
  it(`llma output equals plain decoding (${CASES} random cases, rejected drafts included)`, async () => {
    const texts = await fuzzCorpus();
    await model.calibrate(); // policy "auto" cases (pricing re-evaluations) need the cost curve; cached after the first run
    let drafted = 0;
    let accepted = 0;
    let auto = 0;
    for (let seed = 1; seed <= CASES; seed++) {
      const result = await runFuzzCase(model, texts, 500_000 + seed, { maxTokens: 48 });
      expect(result.problem, `seed ${500_000 + seed}`).toBeUndefined();
      expect(result.ok).toBe(true);
      if (result.kind.policy === "auto") auto++;
      drafted += result.draftedTokens;
      accepted += result.acceptedTokens;
    }
    // Drafts were verified, some accepted and some rejected (so rollbacks happened).
    expect(accepted).toBeGreaterThan(CASES);
    expect(drafted - accepted).toBeGreaterThan(CASES);
    expect(auto).toBeGreaterThan(0);
  }, 600_000);
});
