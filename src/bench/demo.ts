/**
 * `llma demo`: the paper's three scenarios on the machine it runs on, llma against node-llama-cpp's own
 * generation (native, the same KV settings) in one run, methods alternating per sample:
 * - rag: the paper's retrieval-augmented answers, the documents as references (forced to the paper's
 *   answer: random weights cannot want to copy a document, and a pass costs the same whatever the
 *   weights say; a free run on the same prompt checks the identity);
 * - cache hit: a question asked again, the answer the model gave the first time as reference (free
 *   decoding: the model's own output, which llma must reproduce token for token);
 * - edit: Predicted Outputs, a document rewritten with a few words changed per sentence, the original
 *   as the prediction (forced to the edited text).
 */
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import { generate } from "../core/generate.js";
import type { GenerateRequest } from "../core/request.js";
import type { DecodeResult } from "../core/decoder.js";
import type { Dataset, Sample } from "./dataset.js";
import { NativeRunner } from "./native.js";
import { oracleTime } from "./oracle.js";
import { paperRequest } from "./prompts.js";
import { PassTimes } from "./runner.js";
import { editedCopySet } from "./sets.js";
import { suffixProfile } from "./simulate.js";

export type Scenario = "rag" | "cache-hit" | "edit";
export const SCENARIOS: readonly Scenario[] = ["rag", "cache-hit", "edit"];

export interface DemoRow {
  readonly scenario: Scenario;
  readonly sample: number;
  readonly mode: "forced" | "free";
  readonly tokens: number;
  /** Forward passes, the prompt's included (it yields the first token). */
  readonly nativePasses: number;
  readonly llmaPasses: number;
  readonly tokensPerPass: number;
  /** native's decode time / llma's, this sample. */
  readonly speedup: number;
  /** llma's output equals node-llama-cpp's own (free), or the target (forced) — and the free identity check where one ran. */
  readonly identical: boolean;
  /** What an oracle draft policy could reach on this row with this run's pass times (forced rows). */
  readonly oracle: number | null;
}

export interface DemoReport {
  readonly rows: DemoRow[];
  /** Median speed-up vs native per scenario. */
  readonly medians: Readonly<Record<Scenario, number>>;
  /** This run's pass times: T=1 and what wider passes cost relative to it. */
  readonly passCost: { readonly tokens: number; readonly ms: number }[];
  readonly oracleMedian: number | null;
  readonly identical: boolean;
}

export interface DemoOptions {
  readonly model: LlamaCppModel;
  readonly rag: Dataset;
  readonly edits: Dataset;
  readonly samples: number;
  readonly maxTokens: number;
  /**
   * The draft policy of llma's runs (default: the request default, policy "auto" on this run's
   * calibrated and learned costs). A fixed one ("paper", n, k) drafts the same whatever the machine's
   * load makes passes cost: what a test of the rows' drafting needs.
   */
  readonly drafting?: Pick<GenerateRequest, "policy" | "n" | "k">;
  readonly onRow?: (row: DemoRow) => void;
}

const sameTokens = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((t, i) => t === b[i]);
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const decodeMs = (r: DecodeResult) => r.stats.totalMs - r.stats.promptMs;

/** Runs a then b when `aFirst`, else b then a; returns [a's result, b's result]. */
async function alternate<A, B>(aFirst: boolean, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  if (aFirst) {
    const ra = await a();
    return [ra, await b()];
  }
  const rb = await b();
  return [await a(), rb];
}

export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const { model } = options;
  const costs = await model.ensureCostCurve();
  const sequence = await model.createSequence();
  const native = await NativeRunner.create(model, "llma", sequence);
  const passes = new PassTimes();
  const rows: DemoRow[] = [];
  const profiles: { row: number; agree: ArrayLike<number>; length: number }[] = [];
  try {
    await generate(model, { prompt: "warm-up", method: "greedy", maxTokens: 4, sequence });
    await native.forced(model.tokenize("warm-up", { bos: true }), model.tokenize(" and more"));
    let position = 0;
    for (const scenario of SCENARIOS) {
      const samples = (scenario === "edit" ? options.edits : options.rag).samples.slice(0, options.samples);
      for (const sample of samples) {
        const row = await runRow(scenario, sample, position++);
        rows.push(row);
        options.onRow?.(row);
      }
    }
  } finally {
    sequence.dispose();
    await native.dispose();
  }
  const measured = passes.curve(costs);
  const withOracle = rows.map((row, i) => {
    const profile = profiles.find((p) => p.row === i);
    if (!profile) return row;
    const bound = oracleTime(profile.agree, profile.length, measured);
    return { ...row, oracle: bound.greedyMs / bound.oracleMs };
  });
  const medians = Object.fromEntries(SCENARIOS.map((s) => [s, median(withOracle.filter((r) => r.scenario === s).map((r) => r.speedup))])) as Record<Scenario, number>;
  const oracles = withOracle.map((r) => r.oracle).filter((o): o is number => o !== null);
  return {
    rows: withOracle,
    medians,
    passCost: measured.measured.filter((p) => [1, 2, 4, 8, 16].includes(p.tokens)),
    oracleMedian: oracles.length > 0 ? median(oracles) : null,
    identical: withOracle.every((r) => r.identical),
  };

  async function runRow(scenario: Scenario, sample: Sample, position: number): Promise<DemoRow> {
    const { prompt, references } = paperRequest(model, sample);
    const promptTokens = model.tokenize(prompt, { bos: true });
    const base: Pick<GenerateRequest, "prompt" | "sequence" | "onPass" | "policy" | "n" | "k"> = {
      ...options.drafting,
      prompt: promptTokens,
      sequence,
      onPass: (w, ms) => passes.add(w, ms),
    };
    // Alternate which method runs first, so neither always meets a warmer (or busier) machine.
    const nativeFirst = position % 2 === 0;
    if (scenario === "cache-hit") {
      // The first time the question is asked: the model's own answer, which the application caches.
      const first = await native.free(promptTokens, options.maxTokens);
      const cached = model.detokenize(first.tokens);
      const again = () => native.free(promptTokens, options.maxTokens);
      const llma = () => generate(model, { ...base, references: [cached], maxTokens: options.maxTokens });
      const [nativeRun, llmaRun] = await alternate(nativeFirst, again, llma);
      for (const ms of nativeRun.passMs) passes.add(1, ms);
      return {
        scenario,
        sample: sample.id,
        mode: "free",
        tokens: llmaRun.tokens.length,
        nativePasses: nativeRun.tokens.length,
        llmaPasses: llmaRun.stats.steps,
        tokensPerPass: llmaRun.stats.tokensPerStep,
        speedup: nativeRun.decodeMs / decodeMs(llmaRun),
        identical: sameTokens(llmaRun.tokens, nativeRun.tokens) && sameTokens(nativeRun.tokens, first.tokens),
        oracle: null,
      };
    }
    const target = model.tokenize(sample.target);
    const referenceTokens = references.map((r) => model.tokenize(r));
    profiles.push({ row: rows.length, agree: suffixProfile({ id: sample.id, prompt: promptTokens, references: referenceTokens, target }, 64).agree, length: target.length });
    const forcedNative = () => native.forced(promptTokens, target);
    const forcedLlma = () => generate(model, { ...base, references: referenceTokens, target, maxTokens: target.length + 1 });
    const [nativeRun, llmaRun] = await alternate(nativeFirst, forcedNative, forcedLlma);
    for (const ms of nativeRun.passMs) passes.add(1, ms);
    // Forced output is the target by construction; the identity that matters is free decoding's.
    let identical = sameTokens(llmaRun.tokens, target);
    if (scenario === "rag") {
      const freeNative = await native.free(promptTokens, options.maxTokens);
      const freeLlma = await generate(model, { ...options.drafting, prompt: promptTokens, sequence, references: referenceTokens, maxTokens: options.maxTokens });
      identical &&= sameTokens(freeNative.tokens, freeLlma.tokens);
    }
    return {
      scenario,
      sample: sample.id,
      mode: "forced",
      tokens: llmaRun.tokens.length,
      nativePasses: nativeRun.passMs.length + 1,
      llmaPasses: llmaRun.stats.steps,
      tokensPerPass: llmaRun.stats.tokensPerStep,
      speedup: nativeRun.decodeMs / decodeMs(llmaRun),
      identical,
      oracle: null,
    };
  }
}

/** The demo's edit scenario: documents of the given data rewritten with a few words changed. */
export function demoEdits(dataset: Dataset): Dataset {
  return editedCopySet(dataset, 600);
}
