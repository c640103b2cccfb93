/**
 * `llma fuzz` (a developer command, hidden from --help's list): the lossless test's random cases
 * (src/bench/fuzz-cases.ts) for as many cases as asked, on the generated test models. Every divergence
 * is reported with its seed (replay: --only-seed); the command fails (exit 1) when there is one.
 */
import { writeFile } from "node:fs/promises";
import { Command, InvalidArgumentError } from "commander";
import { LlamaCppModel } from "../backends/llama-cpp.js";
import { Accelerator } from "../core/accelerator.js";
import { architectureOf, resolveShape, SHAPES, type Quant } from "../backends/gguf-writer.js";
import { ensureModel } from "../backends/model-cache.js";
import { fuzzCorpus, runFuzzCase, type FuzzCaseResult } from "../bench/fuzz-cases.js";
import { integerOption, log, resolveQuant } from "./options.js";

interface FuzzCliOptions {
  cases: number;
  seed: number;
  onlySeed?: number;
  shapes: string[];
  quants: Quant[];
  threads: number;
  contextSize: number;
  out?: string;
  json?: boolean;
}

const QUANTS: readonly Quant[] = ["Q8_0", "Q4_0"];

function listOption(name: string, allowed: readonly string[]) {
  return (value: string): string[] => {
    const items = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
    for (const item of items) if (!allowed.includes(item)) throw new InvalidArgumentError(`${name}: unknown ${JSON.stringify(item)}, use ${allowed.join(", ")}`);
    if (items.length === 0) throw new InvalidArgumentError(`${name} needs at least one value`);
    return items;
  };
}

export function fuzzCommand(): Command {
  return new Command("fuzz")
    .description("Developer check: random lossless cases (greedy, sampled, stop strings, aborts, policies) on generated models; LLMA must equal plain decoding.")
    .option("--cases <n>", "cases in all, split evenly over the models", integerOption("--cases", 1), 200)
    .option("--seed <s>", "seed of the first case (case i has seed s + i)", integerOption("--seed", 0, 2 ** 31), 1)
    .option("--only-seed <s>", "replay one case", integerOption("--only-seed", 0, 2 ** 32))
    .option("--shapes <list>", "model shapes, comma-separated", listOption("--shapes", Object.keys(SHAPES)), ["tiny"])
    .option("--quants <list>", "weight quantizations, comma-separated", (value: string) => listOption("--quants", QUANTS)(value.split(",").map((item) => (item.trim() === "" ? item : resolveQuant(item, "--quants"))).join(",")), ["Q8_0", "Q4_0"])
    .option("-t, --threads <n>", "CPU threads", integerOption("--threads", 1, 256), 1)
    .option("-c, --context-size <n>", "context size", integerOption("--context-size", 256, 131_072), 2048)
    .option("--out <file>", "write a JSON summary here")
    .option("--json", "print the JSON summary on stdout")
    .addHelpText("after", "\nExample:\n  npm run fuzz -- --cases 10000 --seed 1 --shapes tiny --quants Q8_0,Q4_0 --out fuzz.json")
    .action(async (options: FuzzCliOptions) => {
      const texts = await fuzzCorpus();
      const models = options.shapes.flatMap((shape) => options.quants.map((quant) => ({ shape, quant })));
      const perModel = Math.ceil(options.cases / models.length);
      const started = performance.now();
      const divergences: (FuzzCaseResult & { model: string })[] = [];
      const byModel: Record<string, { cases: number; divergences: number; seconds: number; acceptedTokens: number; draftedTokens: number; generatedTokens: number; kinds: Record<string, number> }> = {};
      let run = 0;
      for (const [m, { shape, quant }] of models.entries()) {
        const name = `${shape}-${quant}`;
        const model = await LlamaCppModel.load({ model: await ensureModel({ shape, quant: quant as Quant, onProgress: () => {} }), threads: options.threads, contextSize: options.contextSize });
        try {
          await Accelerator.create(model); // the cost curve "auto" cases need, and the accelerator they all run on
          const stats = { cases: 0, divergences: 0, seconds: 0, acceptedTokens: 0, draftedTokens: 0, generatedTokens: 0, kinds: { sampled: 0, auto: 0, stop: 0, abort: 0 } as Record<string, number> };
          byModel[name] = stats;
          const t0 = performance.now();
          const seeds = options.onlySeed !== undefined ? [options.onlySeed] : Array.from({ length: perModel }, (_, i) => options.seed + m * 1_000_000 + i);
          for (const seed of seeds) {
            let result: FuzzCaseResult;
            try {
              result = await runFuzzCase(model, texts, seed, { vocabularySize: architectureOf(resolveShape(shape)).textTokenCount() });
            } catch (error) {
              result = { seed, ok: false, problem: `threw: ${(error as Error).message}`, kind: { sampled: false, policy: "?", stop: false, promptTokens: 0 }, generatedTokens: 0, draftedTokens: 0, acceptedTokens: 0, ms: 0 };
            }
            stats.cases++;
            run++;
            stats.acceptedTokens += result.acceptedTokens;
            stats.draftedTokens += result.draftedTokens;
            stats.generatedTokens += result.generatedTokens;
            if (result.kind.sampled) stats.kinds.sampled++;
            if (result.kind.policy === "auto") stats.kinds.auto++;
            if (result.kind.stop) stats.kinds.stop++;
            if (result.kind.abortAfter !== undefined) stats.kinds.abort++;
            if (!result.ok) {
              stats.divergences++;
              divergences.push({ ...result, model: name });
              log(`DIVERGENCE ${name} seed ${seed}: ${result.problem} (replay: llma fuzz --shapes ${shape} --quants ${quant} --only-seed ${seed})`);
            }
            if (stats.cases % 50 === 0) log(`${name}: ${stats.cases}/${seeds.length} cases, ${stats.divergences} divergences, ${(stats.cases / ((performance.now() - t0) / 1000)).toFixed(2)} cases/s`);
          }
          stats.seconds = Math.round((performance.now() - t0) / 100) / 10;
        } finally {
          await model.dispose();
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const summary = {
        cases: run,
        divergences: divergences.length,
        divergentSeeds: divergences.map((d) => ({ model: d.model, seed: d.seed, problem: d.problem })),
        seconds: Math.round(seconds * 10) / 10,
        casesPerSecond: Math.round((run / seconds) * 100) / 100,
        firstSeed: options.onlySeed ?? options.seed,
        threads: options.threads,
        byModel,
      };
      if (options.out) await writeFile(options.out, `${JSON.stringify(summary, null, 2)}\n`);
      if (options.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else process.stdout.write(`fuzz: ${run} cases, ${divergences.length} divergences, ${summary.casesPerSecond} cases/s (${summary.seconds} s)\n`);
      if (divergences.length > 0) throw new Error(`${divergences.length} divergence(s): seeds ${divergences.map((d) => `${d.model}:${d.seed}`).join(", ")}`);
    });
}
