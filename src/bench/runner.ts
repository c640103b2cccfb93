/**
 * `llma bench`: methods side by side on the same samples, in one process, order rotated per sample,
 * speed measured as a ratio against greedy decoding in the same run.
 */
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import type { DecodeResult } from "../core/decoder.js";
import { generate, type GenerateRequest } from "../core/generate.js";
import type { TokenSequence } from "../core/model.js";
import type { Dataset, Sample } from "./dataset.js";
import { InputLookupRunner, TokenPredictorProposer } from "./input-lookup.js";
import { oracleTime } from "./oracle.js";
import { paperRequest } from "./prompts.js";
import { suffixProfile } from "./simulate.js";

export type BenchMode = "forced" | "free";

/** A method: how it decodes one sample. greedy is the baseline every speed-up is measured against. */
export interface BenchMethod {
  readonly name: string;
  readonly description: string;
}

export const BENCH_METHODS: readonly BenchMethod[] = [
  { name: "greedy", description: "plain greedy decoding, one token per forward pass (baseline)" },
  { name: "llma", description: "llma's default: cost-aware draft length (policy auto)" },
  { name: "llma-paper", description: "the paper's fixed policy, n=1, k=20" },
  { name: "input-lookup", description: "node-llama-cpp's InputLookupTokenPredictor with its defaults" },
];

export interface SampleRun {
  readonly dataset: string;
  readonly sample: number;
  readonly method: string;
  readonly tokens: number;
  readonly steps: number;
  readonly draftedTokens: number;
  readonly acceptedTokens: number;
  /** Time after the prompt pass (which every method shares). */
  readonly decodeMs: number;
  /** Of which in the proposer (matching, policy, feedback: the method's own overhead); absent when not measured. */
  readonly draftMs?: number;
  /** Free mode: output equals greedy's token for token. */
  readonly identical: boolean;
}

export interface BenchEntry {
  readonly dataset: string;
  readonly method: string;
  readonly samples: number;
  readonly tokens: number;
  readonly msPerToken: number;
  readonly tokensPerStep: number;
  readonly forwardPasses: number;
  readonly acceptanceRate: number | null;
  /** Greedy's decode time over this method's, same samples, same run. */
  readonly speedup: number;
  readonly identical: number;
  /** speedup / the oracle bound's speed-up (forced mode). */
  readonly oracleFraction: number | null;
  /** Share of decode time spent in the proposer (null for methods without one of ours). */
  readonly proposerShare: number | null;
}

export interface BenchDatasetSummary {
  readonly name: string;
  readonly samples: number;
  /** Speed-up over greedy of a policy that knew every acceptance in advance (forced mode). */
  readonly oracleSpeedup: number | null;
}

export interface BenchReport {
  readonly kind: "llma-bench";
  readonly createdAt: string;
  readonly model: string;
  readonly threads: number;
  readonly mode: BenchMode;
  readonly methods: readonly string[];
  readonly costCurve: readonly { tokens: number; ms: number }[];
  readonly datasets: readonly BenchDatasetSummary[];
  readonly entries: readonly BenchEntry[];
  readonly runs: readonly SampleRun[];
}

export interface BenchOptions {
  readonly model: LlamaCppModel;
  readonly datasets: readonly Dataset[];
  readonly mode: BenchMode;
  readonly methods: readonly string[];
  readonly limit: number;
  /** Free mode: tokens to generate per sample. */
  readonly maxTokens: number;
  readonly onProgress?: (done: number, total: number, label: string) => void;
  /** After each dataset: the report so far (a long run keeps what it measured if it is stopped). */
  readonly onDataset?: (partial: BenchReport) => Promise<void> | void;
}

export function validateMethods(methods: readonly string[]): void {
  const known = BENCH_METHODS.map((m) => m.name);
  for (const method of methods)
    if (!known.includes(method)) throw new Error(`unknown method ${JSON.stringify(method)}: use one of ${known.join(", ")}`);
  if (!methods.includes("greedy")) throw new Error("methods must include greedy: every speed-up is measured against it");
  if (new Set(methods).size !== methods.length) throw new Error("a method is listed twice");
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { model, mode, methods } = options;
  validateMethods(methods);
  if (!model.costCurve) await model.calibrate();
  const costs = model.costCurve!;
  const sequence = await model.createSequence();
  const inputLookup = mode === "free" && methods.includes("input-lookup") ? await InputLookupRunner.create(model) : undefined;
  const runs: SampleRun[] = [];
  const datasets: BenchDatasetSummary[] = [];
  const total = options.datasets.reduce((sum, d) => sum + Math.min(options.limit, d.samples.length), 0) * methods.length;
  let done = 0;
  try {
    // Warm-up: first-call allocations are paid before anything is timed.
    await generate(model, { prompt: "warm-up", method: "greedy", maxTokens: 4, sequence });
    for (const dataset of options.datasets) {
      const samples = dataset.samples.slice(0, options.limit);
      let oracleMs = 0;
      let oracleGreedyMs = 0;
      for (const [position, sample] of samples.entries()) {
        const { prompt, references } = paperRequest(model, sample);
        const promptTokens = model.tokenize(prompt, { bos: true });
        const referenceTokens = references.map((r) => model.tokenize(r));
        const target = model.tokenize(sample.target);
        if (mode === "forced") {
          const profile = suffixProfile({ id: sample.id, prompt: promptTokens, references: referenceTokens, target }, 64);
          const bound = oracleTime(profile.agree, target.length, costs);
          oracleMs += bound.oracleMs;
          oracleGreedyMs += bound.greedyMs;
        }
        let greedyTokens: number[] | undefined;
        const results = new Map<string, { result: DecodeResult | { tokens: number[]; decodeMs: number } }>();
        // Rotate the order per sample so no method always runs first (caches, thermal state).
        const order = methods.map((_, j) => methods[(j + position) % methods.length]);
        for (const method of order) {
          options.onProgress?.(done, total, `${dataset.name} #${sample.id} ${method}`);
          const run = await runMethod(method, { model, sequence, inputLookup, mode, maxTokens: options.maxTokens, promptTokens, referenceTokens, target, prompt });
          results.set(method, { result: run });
          done++;
        }
        greedyTokens = results.get("greedy")!.result.tokens;
        for (const method of methods) {
          const run = results.get(method)!.result;
          const stats = "stats" in run ? run.stats : undefined;
          runs.push({
            dataset: dataset.name,
            sample: sample.id,
            method,
            tokens: run.tokens.length,
            steps: stats ? stats.steps : run.tokens.length,
            draftedTokens: stats?.draftedTokens ?? 0,
            acceptedTokens: stats?.acceptedTokens ?? 0,
            decodeMs: stats ? stats.totalMs - stats.promptMs : (run as { decodeMs: number }).decodeMs,
            draftMs: stats?.draftMs,
            identical: sameTokens(run.tokens, greedyTokens),
          });
        }
      }
      datasets.push({
        name: dataset.name,
        samples: samples.length,
        oracleSpeedup: mode === "forced" && oracleMs > 0 ? oracleGreedyMs / oracleMs : null,
      });
      await options.onDataset?.(report());
    }
  } finally {
    sequence.dispose();
    await inputLookup?.dispose();
  }
  options.onProgress?.(done, total, "done");
  return report();

  function report(): BenchReport {
    return {
      kind: "llma-bench",
      createdAt: new Date().toISOString(),
      model: model.path,
      threads: model.threads,
      mode,
      methods,
      costCurve: costs.measured,
      datasets: [...datasets],
      entries: summarize(runs, datasets, methods),
      runs: [...runs],
    };
  }
}

interface RunContext {
  readonly model: LlamaCppModel;
  readonly sequence: TokenSequence;
  readonly inputLookup?: InputLookupRunner;
  readonly mode: BenchMode;
  readonly maxTokens: number;
  readonly prompt: string;
  readonly promptTokens: number[];
  readonly referenceTokens: number[][];
  readonly target: number[];
}

async function runMethod(method: string, c: RunContext): Promise<DecodeResult | { tokens: number[]; decodeMs: number }> {
  if (method === "input-lookup" && c.mode === "free") {
    const run = await c.inputLookup!.generate(c.prompt, c.maxTokens);
    return { tokens: run.tokens, decodeMs: run.decodeMs };
  }
  const base: GenerateRequest = {
    prompt: c.promptTokens,
    references: c.referenceTokens,
    sequence: c.sequence,
    ...(c.mode === "forced" ? { target: c.target, maxTokens: c.target.length + 1 } : { maxTokens: c.maxTokens }),
  };
  switch (method) {
    case "greedy":
      return generate(c.model, { ...base, method: "greedy" });
    case "llma":
      return generate(c.model, { ...base, policy: "auto" });
    case "llma-paper":
      return generate(c.model, { ...base, policy: "paper", n: 1, k: 20 });
    case "input-lookup":
      return generate(c.model, { ...base, proposer: new TokenPredictorProposer() });
    default:
      throw new Error(`unknown method ${method}`);
  }
}

function summarize(runs: readonly SampleRun[], datasets: readonly BenchDatasetSummary[], methods: readonly string[]): BenchEntry[] {
  const entries: BenchEntry[] = [];
  for (const dataset of datasets) {
    const greedyMs = runs.filter((r) => r.dataset === dataset.name && r.method === "greedy").reduce((sum, r) => sum + r.decodeMs, 0);
    for (const method of methods) {
      const mine = runs.filter((r) => r.dataset === dataset.name && r.method === method);
      const tokens = mine.reduce((sum, r) => sum + r.tokens, 0);
      const decodeMs = mine.reduce((sum, r) => sum + r.decodeMs, 0);
      const steps = mine.reduce((sum, r) => sum + r.steps, 0);
      const drafted = mine.reduce((sum, r) => sum + r.draftedTokens, 0);
      const accepted = mine.reduce((sum, r) => sum + r.acceptedTokens, 0);
      const speedup = decodeMs > 0 ? greedyMs / decodeMs : 0;
      const measured = mine.length > 0 && mine.every((r) => r.draftMs !== undefined);
      const draftMs = mine.reduce((sum, r) => sum + (r.draftMs ?? 0), 0);
      entries.push({
        dataset: dataset.name,
        method,
        samples: mine.length,
        tokens,
        msPerToken: tokens > 0 ? decodeMs / tokens : 0,
        tokensPerStep: steps > 0 ? tokens / steps : 0,
        forwardPasses: steps,
        acceptanceRate: drafted > 0 ? accepted / drafted : null,
        speedup,
        identical: mine.filter((r) => r.identical).length,
        oracleFraction: dataset.oracleSpeedup ? speedup / dataset.oracleSpeedup : null,
        proposerShare: measured && decodeMs > 0 ? draftMs / decodeMs : null,
      });
    }
  }
  return entries;
}

export type { Sample };
