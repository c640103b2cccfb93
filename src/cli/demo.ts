import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { LlamaCppModel } from "../backends/llama-cpp.js";
import { ensureModel } from "../backends/model-cache.js";
import { loadDataset } from "../bench/dataset.js";
import { paperRequest } from "../bench/prompts.js";
import { generate } from "../core/generate.js";
import { integerOption, log } from "./options.js";

const DEFAULT_DATA = fileURLToPath(new URL("../../../bench/data/llma-rag.jsonl", import.meta.url));

interface DemoOptions {
  data: string;
  shape: string;
  samples: number;
  maxTokens: number;
  threads?: number;
  json?: boolean;
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((token, i) => token === b[i]);
}

export function demoCommand(): Command {
  return new Command("demo")
    .description(
      "Make a model (seeded random weights, real LLaMA-2 tokenizer; no download), then run greedy and LLMA side by side on samples of the paper's RAG data: free decoding (must be identical) and forced decoding to the paper's target answers (the paper's timing method).",
    )
    .option("--data <file>", "LLMA-schema JSONL", DEFAULT_DATA)
    .option("--shape <shape>", "model shape to generate", "smollm2-135m")
    .option("--samples <n>", "samples to run", integerOption("--samples", 1, 1000), 3)
    .option("--max-tokens <n>", "tokens per free generation", integerOption("--max-tokens", 1, 4096), 64)
    .option("--threads <n>", "CPU threads (default: physical cores)", integerOption("--threads", 1, 1024))
    .option("--json", "print one JSON document on stdout")
    .addHelpText("after", "\nExample:\n  llma demo --samples 3")
    .action(async (options: DemoOptions) => {
      const dataset = await loadDataset(options.data);
      const modelPath = await ensureModel({
        shape: options.shape,
        quant: "Q8_0",
        onProgress: (fraction) => process.stderr.write(`\rgenerating ${options.shape} Q8_0 model: ${Math.floor(fraction * 100)}%`),
      });
      process.stderr.write("\n");
      const model = await LlamaCppModel.load({ model: modelPath, threads: options.threads, contextSize: 4096 });
      const rows = [];
      try {
        await model.calibrate({ onMeasure: () => log("measuring this machine's forward-pass cost curve (once)...") });
        await generate(model, { prompt: "warm-up", method: "greedy", maxTokens: 2 });
        for (const sample of dataset.samples.slice(0, options.samples)) {
          const { prompt, references } = paperRequest(model, sample);
          const common = { prompt, references }; // llma's default policy: auto (cost-aware)
          const freeGreedy = await generate(model, { ...common, method: "greedy", maxTokens: options.maxTokens });
          const freeLlma = await generate(model, { ...common, method: "llma", maxTokens: options.maxTokens });
          const forcedGreedy = await generate(model, { ...common, method: "greedy", target: sample.target, maxTokens: 1024 });
          const forcedLlma = await generate(model, { ...common, method: "llma", target: sample.target, maxTokens: 1024 });
          const decodeMs = (r: typeof freeGreedy) => r.stats.totalMs - r.stats.promptMs;
          const row = {
            sample: sample.id,
            query: sample.query,
            free: {
              identical: sameTokens(freeGreedy.tokens, freeLlma.tokens),
              tokens: freeLlma.stats.generatedTokens,
              tokensPerStep: freeLlma.stats.tokensPerStep,
              speedup: decodeMs(freeGreedy) / decodeMs(freeLlma),
            },
            forced: {
              identical: sameTokens(forcedGreedy.tokens, forcedLlma.tokens),
              tokens: forcedLlma.stats.generatedTokens,
              greedySteps: forcedGreedy.stats.steps,
              llmaSteps: forcedLlma.stats.steps,
              tokensPerStep: forcedLlma.stats.tokensPerStep,
              speedup: decodeMs(forcedGreedy) / decodeMs(forcedLlma),
            },
            answer: forcedLlma.text,
          };
          rows.push(row);
          log(
            `sample ${sample.id}: free identical=${row.free.identical} (${row.free.tokens} tokens, ${row.free.tokensPerStep.toFixed(2)} tok/step, ${row.free.speedup.toFixed(2)}x) | ` +
              `forced to the paper's answer identical=${row.forced.identical} (${row.forced.tokens} tokens, ${row.forced.greedySteps} -> ${row.forced.llmaSteps} steps, ${row.forced.speedup.toFixed(2)}x)`,
          );
        }
      } finally {
        await model.dispose();
      }
      const identical = rows.every((row) => row.free.identical && row.forced.identical);
      const report = { model: modelPath, shape: options.shape, threads: model.threads, policy: "auto", identical, samples: rows };
      if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else {
        process.stdout.write(
          `\nLLMA demo: ${options.shape} Q8_0 (random weights, LLaMA-2 tokenizer), ${model.threads} threads, policy auto, data ${dataset.name}\n` +
            `sample | free: identical tok/step speedup | forced to the paper's answer: identical steps greedy->llma speedup\n`,
        );
        for (const row of rows)
          process.stdout.write(
            `${String(row.sample).padStart(6)} | ${String(row.free.identical).padEnd(9)} ${row.free.tokensPerStep.toFixed(2).padStart(8)} ${row.free.speedup.toFixed(2).padStart(6)}x | ` +
              `${String(row.forced.identical).padEnd(9)} ${`${row.forced.greedySteps}->${row.forced.llmaSteps}`.padStart(9)} ${row.forced.speedup.toFixed(2).padStart(6)}x\n`,
          );
        process.stdout.write(`identical: ${identical}\n`);
      }
      if (!identical) throw new Error("LLMA output differed from greedy decoding: this is a bug, please report it");
    });
}
