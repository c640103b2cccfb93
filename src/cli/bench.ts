import { fileURLToPath } from "node:url";
import { Command } from "commander";
import cliProgress from "cli-progress";
import { LlamaCppModel } from "../backends/llama-cpp.js";
import { Accelerator } from "../core/accelerator.js";
import { ensureModel } from "../backends/model-cache.js";
import { writeBenchReport } from "../bench/bench-report.js";
import { loadDataset, type Dataset } from "../bench/dataset.js";
import { BENCH_METHODS, runBench, validateMethods, type BenchMode } from "../bench/runner.js";
import { DERIVED_SETS } from "../bench/sets.js";
import { collect, integerOption, log } from "./options.js";

const DATA_DIR = fileURLToPath(new URL("../../../bench/data/", import.meta.url));
/** Every speed-up is stated against node-llama-cpp's own generation (native) and llma's plain loop. */
const DEFAULT_METHODS = "native,greedy,llma,input-lookup";

interface BenchCliOptions {
  data: string[];
  model?: string;
  shape: string;
  mode: string;
  methods: string;
  limit: number;
  maxTokens: number;
  threads?: number;
  sets: string[];
  out?: string;
  json?: boolean;
  progress: boolean;
  recalibrate?: boolean;
}

export function benchCommand(): Command {
  return new Command("bench")
    .description(
      "Benchmark methods side by side (node-llama-cpp's own generation, llma's plain loop, llma, the paper's fixed policy, node-llama-cpp's input lookup) on LLMA-schema data, forced to the target outputs (the paper's method) or free; writes JSON, Markdown and an SVG chart.",
    )
    .option("--data <file>", "LLMA-schema JSONL (repeatable; default: the shipped rag and cnndm sets)", collect, [])
    .option("-m, --model <gguf>", "GGUF model (default: generate --shape)")
    .option("--shape <shape>", "shape of the generated model when --model is not given", "tinyllama-1.1b")
    .option("--mode <mode>", "forced (emit the target, as the paper) or free (the model's own greedy output)", "forced")
    .option("--methods <list>", `comma-separated, from: ${BENCH_METHODS.map((m) => m.name).join(",")}, or k1..k63 (the paper's policy, n=1, fixed k)`, DEFAULT_METHODS)
    .option("--limit <n>", "samples per dataset", integerOption("--limit", 1, 100_000), 20)
    .option("-n, --max-tokens <n>", "free mode: tokens per sample", integerOption("--max-tokens", 1, 4096), 128)
    .option("-t, --threads <n>", "CPU threads (default: physical cores)", integerOption("--threads", 1, 1024))
    .option("--sets <name>", `derived sets to add from the first dataset: ${Object.keys(DERIVED_SETS).join(", ")} (repeatable; 'none' for none)`, collect, [])
    .option("--out <dir>", "write bench.json, bench.md and bench.svg here")
    .option("--json", "print the report as one JSON document on stdout")
    .option("--no-progress", "no progress bar")
    .option("--recalibrate", "measure the cost curve again (run on a quiet machine)")
    .addHelpText(
      "after",
      "\nExample:\n  llma bench --shape tinyllama-1.1b --mode forced --limit 20 --sets swapped --sets edited --out bench/results/tinyllama",
    )
    .action(async (options: BenchCliOptions) => {
      if (options.mode !== "forced" && options.mode !== "free") throw new Error(`--mode must be forced or free, got ${JSON.stringify(options.mode)}`);
      const methods = options.methods.split(",").map((m) => m.trim()).filter((m) => m.length > 0);
      validateMethods(methods);
      const dataFiles = options.data.length > 0 ? options.data : [`${DATA_DIR}llma-rag.jsonl`, `${DATA_DIR}llma-cnndm.jsonl`];
      const datasets: Dataset[] = [];
      for (const file of dataFiles) datasets.push(await loadDataset(file));
      const setNames = options.sets.length > 0 ? options.sets.filter((s) => s !== "none") : ["cached", "edited", "swapped"];
      const loaded = [...datasets];
      for (const name of setNames) {
        if (!(name in DERIVED_SETS)) throw new Error(`unknown --sets ${JSON.stringify(name)}: use ${Object.keys(DERIVED_SETS).join(", ")} or none`);
        // swapped, cached: from the first data file (rag by default); edited: from the last (cnndm's articles by default).
        const source = name === "edited" ? loaded[loaded.length - 1] : loaded[0];
        datasets.push(DERIVED_SETS[name as keyof typeof DERIVED_SETS](source));
      }
      const modelPath =
        options.model ??
        (await ensureModel({
          shape: options.shape,
          quant: "Q8_0",
          onProgress: (f) => process.stderr.write(`\rgenerating ${options.shape} Q8_0: ${Math.floor(f * 100)}%`),
        }));
      const model = await LlamaCppModel.load({ model: modelPath, threads: options.threads, contextSize: 4096 });
      const bar = options.progress
        ? new cliProgress.SingleBar(
            {
              stream: process.stderr,
              format: "bench [{bar}] {percentage}% | {value}/{total} runs | ETA {eta_formatted} | {label}",
              etaBuffer: 20,
              // Redirected to a file (a long run in the background): a plain line every 30 s instead.
              noTTYOutput: !process.stderr.isTTY,
              notTTYSchedule: 30_000,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      try {
        const onMeasure = () => log("measuring this machine's forward-pass cost curve (once per model and settings)...");
        // --recalibrate measures anew (instead of loading the cached curve); the accelerator then starts from that curve.
        if (options.recalibrate) await model.calibrate({ refresh: true, onMeasure });
        await Accelerator.create(model, { onMeasure });
        let started = false;
        const report = await runBench({
          model,
          datasets,
          mode: options.mode as BenchMode,
          methods,
          limit: options.limit,
          maxTokens: options.maxTokens,
          onDataset: options.out ? async (partial) => void (await writeBenchReport(options.out!, partial, `llma ${process.argv.slice(2).join(" ")}`)) : undefined,
          onProgress: (done, total, label) => {
            if (!bar) return;
            if (!started) {
              bar.start(total, done, { label });
              started = true;
            } else bar.update(done, { label });
          },
        });
        bar?.stop();
        const command = `llma ${process.argv.slice(2).join(" ")}`;
        if (options.out) {
          const files = await writeBenchReport(options.out, report, command);
          log(`wrote ${files.join(", ")}`);
        }
        if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
        else
          for (const e of report.entries)
            log(
              `${e.dataset.padEnd(16)} ${e.method.padEnd(15)} ${e.vsNative ? `${e.vsNative.median.toFixed(2)}x vs native  ` : ""}${e.speedupPerSample.median.toFixed(2)}x vs greedy  ${e.tokensPerStep.toFixed(2)} tok/step  identical ${e.identical}/${e.samples}`,
            );
      } finally {
        bar?.stop();
        await model.dispose();
      }
    });
}
