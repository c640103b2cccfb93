/**
 * `llma bench`: methods side by side on the same samples, in one process, order rotated per sample,
 * speed measured as a ratio against greedy decoding in the same run.
 */
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import { bucketOf, CostCurve, type CostPoint } from "../core/cost-model.js";
import type { DecodeResult } from "../core/decoder.js";
import { generate } from "../core/generate.js";
import type { GenerateRequest } from "../core/request.js";
import type { TokenSequence } from "../core/model.js";
import type { Dataset, Sample } from "./dataset.js";
import { InputLookupRunner, TokenPredictorProposer } from "./input-lookup.js";
import { NativeRunner, type NativeSettings } from "./native.js";
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
  {
    name: "native",
    description:
      "node-llama-cpp's own generation (LlamaCompletion, temperature 0, no repeat penalty; forced: its evaluate() iterator fed the target) with llma's KV settings (flash attention on, Q8_0 KV), on the same sequence: the baseline a user compares with",
  },
  { name: "native-default", description: "the same with node-llama-cpp's default context settings (F16 KV cache, flash attention auto), a context of its own" },
  { name: "native-bf16", description: "the same with flash attention on and a BF16 KV cache (the other exact KV type), a context of its own" },
  { name: "greedy", description: "llma's plain decoding, one token per forward pass (its loop without drafts)" },
  { name: "llma", description: "llma's default: cost-aware draft length (policy auto)" },
  { name: "llma-paper", description: "the paper's fixed policy, n=1, k=20" },
  { name: "input-lookup", description: "node-llama-cpp's InputLookupTokenPredictor with its defaults" },
];

/**
 * Fixed draft lengths besides the named methods: "k<N>" is the paper's policy with n = 1 and k = N
 * (1..63), so a run can hold the default policy against the best fixed k on the same samples.
 */
const FIXED_K = /^k([1-9][0-9]?)$/;

/** The k of a fixed "k<N>" method, undefined for the named methods. */
export function fixedK(method: string): number | undefined {
  const match = FIXED_K.exec(method);
  const k = match ? Number(match[1]) : undefined;
  return k !== undefined && k <= 63 ? k : undefined;
}

/** The method's description (a named method, or a fixed "k<N>"). */
export function describeMethod(method: string): string | undefined {
  const k = fixedK(method);
  if (k !== undefined) return `the paper's fixed policy with n=1, k=${k}`;
  return BENCH_METHODS.find((m) => m.name === method)?.description;
}

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

/** A distribution of per-sample values: median and quartiles (robust to a sample that hit a busy moment). */
export interface Spread {
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
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
  /** Greedy's decode time over this method's, same samples, same run (sums over the samples). */
  readonly speedup: number;
  /** Per sample: greedy's decode time / this method's; median and quartiles over the samples. */
  readonly speedupPerSample: Spread;
  /** Per sample: native's decode time / this method's (null when native did not run). */
  readonly vsNative: Spread | null;
  /** Per sample: native-default's decode time / this method's (null when it did not run). */
  readonly vsNativeDefault: Spread | null;
  readonly identical: number;
  /** This method's speed-up over greedy / the oracle bound's (forced mode), both from this run's pass times. */
  readonly oracleFraction: number | null;
  /** Share of decode time spent in the proposer (null for methods without one of ours). */
  readonly proposerShare: number | null;
}

export interface BenchDatasetSummary {
  readonly name: string;
  readonly samples: number;
  /**
   * Speed-up over greedy of a policy that knew every acceptance in advance (forced mode), priced with
   * this run's pass times: the median over the samples.
   */
  readonly oracleSpeedup: number | null;
  /** The same per sample (forced mode). */
  readonly oracleBySample: readonly { readonly sample: number; readonly speedup: number }[];
  /** What passes cost in this run on this set (median per width bucket of every method's passes; calibration where a width never ran). */
  readonly measuredCurve: readonly CostPoint[];
  /** Passes timed on this set, per width bucket (how much each point of measuredCurve rests on). */
  readonly measuredPasses: number;
}

export interface BenchReport {
  readonly kind: "llma-bench";
  readonly createdAt: string;
  readonly model: string;
  readonly threads: number;
  readonly mode: BenchMode;
  readonly methods: readonly string[];
  /** The calibration (the policy's prior). */
  readonly costCurve: readonly { tokens: number; ms: number }[];
  /** The settings of each native method, in words. */
  readonly nativeSettings: Readonly<Record<string, string>>;
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
    if (!known.includes(method) && fixedK(method) === undefined)
      throw new Error(`unknown method ${JSON.stringify(method)}: use one of ${known.join(", ")}, or k1..k63 (fixed n=1, k)`);
  if (!methods.includes("greedy")) throw new Error("methods must include greedy: every speed-up is measured against it (and against native, when listed)");
  if (new Set(methods).size !== methods.length) throw new Error("a method is listed twice");
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

const NATIVE_SETTINGS: Record<string, NativeSettings> = { native: "llma", "native-default": "default", "native-bf16": { kvCacheType: "BF16" } };

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { model, mode, methods } = options;
  validateMethods(methods);
  const costs = await model.ensureCostCurve();
  const sequence = await model.createSequence();
  const inputLookup = mode === "free" && methods.includes("input-lookup") ? await InputLookupRunner.create(model) : undefined;
  const natives = new Map<string, NativeRunner>();
  const runs: SampleRun[] = [];
  const datasets: BenchDatasetSummary[] = [];
  const total = options.datasets.reduce((sum, d) => sum + Math.min(options.limit, d.samples.length), 0) * methods.length;
  let done = 0;
  try {
    for (const method of methods) if (method in NATIVE_SETTINGS) natives.set(method, await NativeRunner.create(model, NATIVE_SETTINGS[method], sequence));
    // Warm-up: first-call allocations are paid before anything is timed.
    await generate(model, { prompt: "warm-up", method: "greedy", maxTokens: 4, sequence });
    for (const native of natives.values()) await native.forced(model.tokenize("warm-up", { bos: true }), model.tokenize(" and more"));
    for (const dataset of options.datasets) {
      const samples = dataset.samples.slice(0, options.limit);
      const passes = new PassTimes();
      const profiles: { sample: number; agree: ArrayLike<number>; length: number }[] = [];
      for (const [position, sample] of samples.entries()) {
        const { prompt, references } = paperRequest(model, sample);
        const promptTokens = model.tokenize(prompt, { bos: true });
        const referenceTokens = references.map((r) => model.tokenize(r));
        const target = model.tokenize(sample.target);
        if (mode === "forced")
          profiles.push({ sample: sample.id, agree: suffixProfile({ id: sample.id, prompt: promptTokens, references: referenceTokens, target }, 64).agree, length: target.length });
        const results = new Map<string, RunResult>();
        // Rotate the order per sample so no method always runs first (caches, thermal state, load).
        const order = methods.map((_, j) => methods[(j + position) % methods.length]);
        for (const method of order) {
          options.onProgress?.(done, total, `${dataset.name} #${sample.id} ${method}`);
          const run = await runMethod(method, { model, sequence, inputLookup, natives, mode, maxTokens: options.maxTokens, promptTokens, referenceTokens, target, prompt, passes });
          results.set(method, run);
          done++;
        }
        const greedyTokens = results.get("greedy")!.tokens;
        for (const method of methods) {
          const run = results.get(method)!;
          runs.push({
            dataset: dataset.name,
            sample: sample.id,
            method,
            tokens: run.tokens.length,
            steps: run.steps,
            draftedTokens: run.draftedTokens,
            acceptedTokens: run.acceptedTokens,
            decodeMs: run.decodeMs,
            draftMs: run.draftMs,
            identical: sameTokens(run.tokens, greedyTokens),
          });
        }
      }
      // The bound is priced with what passes cost in this run, not at calibration time.
      const measured = passes.curve(costs);
      const oracleBySample = profiles.map((profile) => {
        const bound = oracleTime(profile.agree, profile.length, measured);
        return { sample: profile.sample, speedup: bound.oracleMs > 0 ? bound.greedyMs / bound.oracleMs : 1 };
      });
      datasets.push({
        name: dataset.name,
        samples: samples.length,
        oracleSpeedup: oracleBySample.length > 0 ? median(oracleBySample.map((o) => o.speedup)) : null,
        oracleBySample,
        measuredCurve: measured.measured,
        measuredPasses: passes.count,
      });
      await options.onDataset?.(report());
    }
  } finally {
    sequence.dispose();
    await inputLookup?.dispose();
    for (const native of natives.values()) await native.dispose();
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
      nativeSettings: Object.fromEntries([...natives].map(([name, runner]) => [name, runner.settings])),
      datasets: [...datasets],
      entries: summarize(runs, datasets, methods),
      runs: [...runs],
    };
  }
}

/** Pass durations of a run, by width bucket: the run's own cost curve. */
export class PassTimes {
  private readonly byBucket = new Map<number, { widths: number[]; ms: number[] }>();
  count = 0;

  add(width: number, ms: number): void {
    if (!(ms > 0)) return;
    const bucket = bucketOf(width);
    let entry = this.byBucket.get(bucket);
    if (!entry) this.byBucket.set(bucket, (entry = { widths: [], ms: [] }));
    entry.widths.push(width);
    entry.ms.push(ms);
    this.count++;
  }

  /**
   * Median per bucket at the bucket's median width; widths this run never timed take the prior's
   * shape, scaled by this run's one-token passes. A wider pass never costs less.
   */
  curve(prior: CostCurve): CostCurve {
    const one = this.byBucket.get(bucketOf(1));
    const scale = one ? median(one.ms) / prior.cost(1) : 1;
    const points: CostPoint[] = [];
    for (const t of prior.measured.map((p) => p.tokens)) {
      const entry = this.byBucket.get(bucketOf(t));
      // Normalize each observation to width t with the prior's shape inside the bucket.
      const ms = entry ? median(entry.ms.map((m, i) => (m * prior.cost(t)) / prior.cost(entry.widths[i]))) : prior.cost(t) * scale;
      points.push({ tokens: t, ms: Math.max(ms, points.length > 0 ? points[points.length - 1].ms : 0) });
    }
    return new CostCurve(points);
  }
}


function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

function spread(values: readonly number[]): Spread {
  return { median: quantile(values, 0.5), q1: quantile(values, 0.25), q3: quantile(values, 0.75) };
}

interface RunResult {
  readonly tokens: number[];
  readonly steps: number;
  readonly draftedTokens: number;
  readonly acceptedTokens: number;
  readonly decodeMs: number;
  readonly draftMs?: number;
}

interface RunContext {
  readonly model: LlamaCppModel;
  readonly sequence: TokenSequence;
  readonly inputLookup?: InputLookupRunner;
  readonly natives: ReadonlyMap<string, NativeRunner>;
  readonly mode: BenchMode;
  readonly maxTokens: number;
  readonly prompt: string;
  readonly promptTokens: number[];
  readonly referenceTokens: number[][];
  readonly target: number[];
  readonly passes: PassTimes;
}

function fromDecode(result: DecodeResult): RunResult {
  const { stats } = result;
  return {
    tokens: result.tokens,
    steps: stats.steps,
    draftedTokens: stats.draftedTokens,
    acceptedTokens: stats.acceptedTokens,
    decodeMs: stats.totalMs - stats.promptMs,
    draftMs: stats.draftMs,
  };
}

async function runMethod(method: string, c: RunContext): Promise<RunResult> {
  const native = c.natives.get(method);
  if (native) {
    const run = c.mode === "forced" ? await native.forced(c.promptTokens, c.target) : await native.free(c.promptTokens, c.maxTokens);
    // Only the passes on llma's own context price the oracle (the others have other KV settings).
    if (method === "native") for (const ms of run.passMs) c.passes.add(1, ms);
    return { tokens: run.tokens, steps: run.tokens.length, draftedTokens: 0, acceptedTokens: 0, decodeMs: run.decodeMs };
  }
  if (method === "input-lookup" && c.mode === "free") {
    const run = await c.inputLookup!.generate(c.prompt, c.maxTokens);
    return { tokens: run.tokens, steps: run.tokens.length, draftedTokens: 0, acceptedTokens: 0, decodeMs: run.decodeMs };
  }
  const base: GenerateRequest = {
    prompt: c.promptTokens,
    references: c.referenceTokens,
    sequence: c.sequence,
    onPass: (width, ms) => c.passes.add(width, ms),
    ...(c.mode === "forced" ? { target: c.target, maxTokens: c.target.length + 1 } : { maxTokens: c.maxTokens }),
  };
  switch (method) {
    case "greedy":
      return fromDecode(await generate(c.model, { ...base, method: "greedy" }));
    case "llma":
      return fromDecode(await generate(c.model, { ...base, policy: "auto" }));
    case "llma-paper":
      return fromDecode(await generate(c.model, { ...base, policy: "paper", n: 1, k: 20 }));
    case "input-lookup":
      return fromDecode(await generate(c.model, { ...base, proposer: new TokenPredictorProposer() }));
    default: {
      const k = fixedK(method);
      if (k === undefined) throw new Error(`unknown method ${method}`);
      return fromDecode(await generate(c.model, { ...base, policy: "paper", n: 1, k }));
    }
  }
}

function summarize(runs: readonly SampleRun[], datasets: readonly BenchDatasetSummary[], methods: readonly string[]): BenchEntry[] {
  const entries: BenchEntry[] = [];
  for (const dataset of datasets) {
    const mineOf = (method: string) => runs.filter((r) => r.dataset === dataset.name && r.method === method);
    const greedyRuns = mineOf("greedy");
    const greedyMs = greedyRuns.reduce((sum, r) => sum + r.decodeMs, 0);
    /** Per-sample ratios baseline / method, over the samples both ran. */
    const ratios = (baseline: string, mine: readonly SampleRun[]): Spread | null => {
      const base = new Map(mineOf(baseline).map((r) => [r.sample, r.decodeMs]));
      const values = mine.filter((r) => base.has(r.sample) && r.decodeMs > 0).map((r) => base.get(r.sample)! / r.decodeMs);
      return values.length > 0 ? spread(values) : null;
    };
    for (const method of methods) {
      const mine = mineOf(method);
      const tokens = mine.reduce((sum, r) => sum + r.tokens, 0);
      const decodeMs = mine.reduce((sum, r) => sum + r.decodeMs, 0);
      const steps = mine.reduce((sum, r) => sum + r.steps, 0);
      const drafted = mine.reduce((sum, r) => sum + r.draftedTokens, 0);
      const accepted = mine.reduce((sum, r) => sum + r.acceptedTokens, 0);
      const speedup = decodeMs > 0 ? greedyMs / decodeMs : 0;
      const measured = mine.length > 0 && mine.every((r) => r.draftMs !== undefined);
      const draftMs = mine.reduce((sum, r) => sum + (r.draftMs ?? 0), 0);
      const perSample = ratios("greedy", mine)!;
      // Per sample: the method's speed-up over greedy as a share of what the oracle could reach there.
      const oracleOf = new Map(dataset.oracleBySample.map((o) => [o.sample, o.speedup]));
      const greedyOf = new Map(greedyRuns.map((r) => [r.sample, r.decodeMs]));
      const fractions = mine.filter((r) => oracleOf.has(r.sample) && greedyOf.has(r.sample) && r.decodeMs > 0).map((r) => greedyOf.get(r.sample)! / r.decodeMs / oracleOf.get(r.sample)!);
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
        speedupPerSample: perSample,
        vsNative: methods.includes("native") ? ratios("native", mine) : null,
        vsNativeDefault: methods.includes("native-default") ? ratios("native-default", mine) : null,
        identical: mine.filter((r) => r.identical).length,
        oracleFraction: fractions.length > 0 ? median(fractions) : null,
        proposerShare: measured && decodeMs > 0 ? draftMs / decodeMs : null,
      });
    }
  }
  return entries;
}

export type { Sample };
