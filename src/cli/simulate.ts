import { basename } from "node:path";
import { Command } from "commander";
import { checkTokenizerFile, loadTokenizer } from "../backends/tokenizer.js";
import { loadDataset, type Dataset } from "../bench/dataset.js";
import { formatJson, SIMULATE_METHOD, writeSimulateReport, type SimulateDatasetReport, type SimulateReport } from "../bench/report.js";
import {
  bestPoints,
  DEFAULT_K_GRID,
  DEFAULT_N_GRID,
  MATCHERS,
  MAX_K,
  PAPER_MAX_NGRAM,
  simulateSamples,
  tokenizeSample,
  validateGrid,
  type Grid,
  type Matcher,
} from "../bench/simulate.js";
import { collect, integerOption, log } from "./options.js";

export interface SimulateCliOptions {
  data: string[];
  tokenizer?: string;
  n?: string;
  k?: string;
  matcher?: string;
  limit?: string;
  json?: boolean;
  out?: string;
}

/** The suffix matcher accepts longer minimum matches than the paper's (whose n-grams stop at 5). */
const SUFFIX_MAX_N = 64;

/** Parses an integer option; errors are plain Errors so main() prints them as `llma: error: ...`. */
function integer(name: string, value: string, min: number, max: number): number {
  try {
    return integerOption(name, min, max)(value);
  } catch (error) {
    throw new Error((error as Error).message);
  }
}

/** The grid the options ask for: fixed --n/--k/--matcher, the default grid for the others. */
export function gridFromOptions(options: Pick<SimulateCliOptions, "n" | "k" | "matcher">): Grid {
  let matchers: readonly Matcher[] = MATCHERS;
  if (options.matcher !== undefined) {
    if (!MATCHERS.includes(options.matcher as Matcher))
      throw new Error(`unknown matcher ${JSON.stringify(options.matcher)}: expected ${MATCHERS.join(" or ")}`);
    matchers = [options.matcher as Matcher];
  }
  const n = options.n === undefined ? DEFAULT_N_GRID : [integer("--n", options.n, 1, SUFFIX_MAX_N)];
  const k = options.k === undefined ? DEFAULT_K_GRID : [integer("--k", options.k, 1, MAX_K)];
  const grid = { matchers, n, k };
  try {
    validateGrid(grid);
  } catch (error) {
    const hint = matchers.includes("paper") && n.some((v) => v > PAPER_MAX_NGRAM) ? " (use --matcher suffix for longer n)" : "";
    throw new Error(`${(error as Error).message}${hint}`);
  }
  return grid;
}

/** Runs the simulation described by the CLI options and returns the report (logs go to stderr). */
export async function runSimulate(options: SimulateCliOptions): Promise<SimulateReport> {
  if (options.data.length === 0) throw new Error("give at least one --data FILE (a JSONL in the LLMA schema)");
  if (options.tokenizer === undefined) throw new Error("give --tokenizer GGUF (a GGUF model file whose vocabulary tokenizes the text)");
  const grid = gridFromOptions(options);
  const limit = options.limit === undefined ? undefined : integer("--limit", options.limit, 1, Number.MAX_SAFE_INTEGER);
  const datasets: Dataset[] = [];
  for (const path of options.data) datasets.push(await loadDataset(path));
  await checkTokenizerFile(options.tokenizer);

  const started = performance.now();
  const tokenizer = await loadTokenizer(options.tokenizer);
  const reports: SimulateDatasetReport[] = [];
  try {
    for (const dataset of datasets) {
      const samples = limit === undefined ? dataset.samples : dataset.samples.slice(0, limit);
      const t0 = performance.now();
      const tokenized = samples.map((sample) => tokenizeSample(tokenizer, sample));
      const t1 = performance.now();
      const points = simulateSamples(tokenized, grid);
      const t2 = performance.now();
      log(
        `${dataset.name}: ${tokenized.length} samples tokenized in ${((t1 - t0) / 1000).toFixed(2)} s, ` +
          `${points.length} grid points simulated in ${((t2 - t1) / 1000).toFixed(2)} s`,
      );
      let promptTokens = 0;
      let referenceTokens = 0;
      let targetTokens = 0;
      for (const sample of tokenized) {
        promptTokens += sample.prompt.length;
        referenceTokens += sample.references.reduce((sum, reference) => sum + reference.length, 0);
        targetTokens += sample.target.length;
      }
      reports.push({
        name: dataset.name,
        path: dataset.path,
        samples: tokenized.length,
        skipped: dataset.skipped,
        promptTokens,
        referenceTokens,
        targetTokens,
        greedySteps: targetTokens + tokenized.length,
        points,
        best: bestPoints(points),
      });
    }
  } finally {
    await tokenizer.close();
  }
  log(`simulate: done in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  return { command: "llma simulate", tokenizer: basename(options.tokenizer), grid, method: SIMULATE_METHOD, datasets: reports };
}

function summaryLines(report: SimulateReport): string[] {
  const lines: string[] = [];
  for (const dataset of report.datasets) {
    for (const best of dataset.best)
      lines.push(
        `${dataset.name} ${best.matcher} n=${best.n}: best k=${best.k}: ${best.tokensPerStep.toFixed(2)} tokens/step, ` +
          `${best.stepReduction.toFixed(2)}x fewer steps than greedy, acceptance ${best.acceptanceRate === null ? "-" : (best.acceptanceRate * 100).toFixed(1) + "%"}`,
      );
  }
  return lines;
}

export function simulateCommand(): Command {
  return new Command("simulate")
    .description(
      "Count decoding steps without a model: force each sample's known output (target-oriented decoding, the paper's Algorithm 2) and count the steps LLMA needs over a grid of n and k, for the paper's n-gram matcher and our suffix matcher.",
    )
    .option("--data <file>", "JSONL in the LLMA schema (query, docs, result.text); repeatable", collect, [])
    .option("--tokenizer <gguf>", "GGUF model file whose vocabulary tokenizes the text (loaded vocab-only)")
    .option("--n <n>", `fix the minimum match n (paper: 1..5, suffix: 1..${SUFFIX_MAX_N}; default grid ${DEFAULT_N_GRID.join(",")})`)
    .option("--k <k>", `fix k, the most tokens per step (1..${MAX_K}; default grid ${DEFAULT_K_GRID.join(",")})`)
    .option("--matcher <name>", `fix the matcher: ${MATCHERS.join(" or ")} (default: both)`)
    .option("--limit <n>", "use only the first N samples of each data file")
    .option("--json", "print one JSON document on stdout (logs go to stderr)")
    .option("--out <dir>", "write simulate.json, simulate.md and SVG charts (step reduction vs k) to DIR")
    .addHelpText(
      "after",
      `
Example:
  llma make-model --shape tiny --quant Q8_0 --out tiny.gguf
  llma simulate --data bench/data/llma-rag.jsonl --tokenizer tiny.gguf --n 1 --k 20 --matcher paper --json
  llma simulate --data bench/data/llma-rag.jsonl --data bench/data/llma-cnndm.jsonl --tokenizer tiny.gguf --out bench/results/simulate`,
    )
    .action(async (options: SimulateCliOptions) => {
      const report = await runSimulate(options);
      if (options.out !== undefined) {
        const written = await writeSimulateReport(options.out, report);
        log(`wrote ${written.join(", ")}`);
      }
      if (options.json) process.stdout.write(`${formatJson(report)}\n`);
      else for (const line of summaryLines(report)) process.stdout.write(`${line}\n`);
    });
}
