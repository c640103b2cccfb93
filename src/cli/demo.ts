import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { LlamaCppModel } from "../backends/llama-cpp.js";
import { Accelerator } from "../core/accelerator.js";
import { ensureModel } from "../backends/model-cache.js";
import { loadDataset } from "../bench/dataset.js";
import { demoEdits, runDemo, SCENARIOS, type DemoRow } from "../bench/demo.js";
import { integerOption, log } from "./options.js";

const DATA_DIR = fileURLToPath(new URL("../../../bench/data/", import.meta.url));

interface DemoCliOptions {
  data: string;
  editData: string;
  shape: string;
  samples: number;
  maxTokens: number;
  threads?: number;
  json?: boolean;
}

const LABEL: Record<DemoRow["scenario"], string> = {
  rag: "retrieval (forced to the paper's answer)",
  "cache-hit": "cache hit (question asked again)",
  edit: "edit (Predicted Outputs, forced)",
};

export function demoCommand(): Command {
  return new Command("demo")
    .description(
      "Make a model (seeded random weights, real LLaMA-2 tokenizer; no download), then run the paper's three scenarios — retrieval, a cache hit, an edit with a predicted output — with llma and with node-llama-cpp's own generation side by side: tokens per forward pass, speed vs native, identical output.",
    )
    .option("--data <file>", "LLMA-schema JSONL for the retrieval and cache-hit rows", `${DATA_DIR}llma-rag.jsonl`)
    .option("--edit-data <file>", "LLMA-schema JSONL whose documents the edit rows rewrite", `${DATA_DIR}llma-cnndm.jsonl`)
    .option("--shape <shape>", "model shape to generate", "smollm2-135m")
    .option("--samples <n>", "samples per scenario", integerOption("--samples", 1, 1000), 3)
    .option("-n, --max-tokens <n>", "tokens per free generation", integerOption("--max-tokens", 1, 4096), 96)
    .option("-t, --threads <n>", "CPU threads (default: physical cores)", integerOption("--threads", 1, 1024))
    .option("--json", "print one JSON document on stdout")
    .addHelpText("after", "\nExample:\n  llma demo --samples 3")
    .action(async (options: DemoCliOptions) => {
      const rag = await loadDataset(options.data);
      const edits = demoEdits(await loadDataset(options.editData));
      const modelPath = await ensureModel({
        shape: options.shape,
        quant: "Q8_0",
        onProgress: (fraction) => process.stderr.write(`\rgenerating ${options.shape} Q8_0 model: ${Math.floor(fraction * 100)}%`),
      });
      process.stderr.write("\n");
      const model = await LlamaCppModel.load({ model: modelPath, threads: options.threads, contextSize: 4096 });
      let report;
      try {
        // The model's own accelerator from here on: the demo's requests (generate(model, ...)) learn into it.
        await Accelerator.create(model, { onMeasure: () => log("measuring this machine's forward-pass cost curve (a prior; llma keeps learning it while it decodes)...") });
        report = await runDemo({
          model,
          rag,
          edits,
          samples: options.samples,
          maxTokens: options.maxTokens,
          onRow: (row) =>
            log(
              `${row.scenario} #${row.sample}: ${row.tokens} tokens, passes ${row.nativePasses} -> ${row.llmaPasses}, ${row.tokensPerPass.toFixed(2)} tokens/pass, ${row.speedup.toFixed(2)}x vs native, identical ${row.identical}`,
            ),
        });
      } finally {
        await model.dispose();
      }
      if (options.json) process.stdout.write(`${JSON.stringify({ model: modelPath, shape: options.shape, threads: model.threads, ...report }, null, 2)}\n`);
      else {
        const out: string[] = [];
        out.push("");
        out.push(`LLMA demo: ${options.shape} Q8_0 (random weights, LLaMA-2 tokenizer), ${model.threads} threads, KV ${model.kvCacheType}, llma's default policy`);
        out.push("native = node-llama-cpp's own generation (LlamaCompletion, temperature 0), same model and KV settings, alternating order");
        out.push("");
        out.push(`${"scenario".padEnd(42)} ${"sample".padStart(6)} ${"tokens".padStart(6)} ${"passes native->llma".padStart(20)} ${"tok/pass".padStart(8)} ${"vs native".padStart(9)}  identical`);
        for (const row of report.rows)
          out.push(
            `${LABEL[row.scenario].padEnd(42)} ${String(row.sample).padStart(6)} ${String(row.tokens).padStart(6)} ${`${row.nativePasses} -> ${row.llmaPasses}`.padStart(20)} ${row.tokensPerPass.toFixed(2).padStart(8)} ${`${row.speedup.toFixed(2)}x`.padStart(9)}  ${row.identical}`,
          );
        out.push("");
        out.push(`median speed-up vs native: ${SCENARIOS.map((s) => `${s} ${report.medians[s].toFixed(2)}x`).join(", ")}`);
        const one = report.passCost.find((p) => p.tokens === 1)!;
        out.push(
          `this machine, this run: a pass over T tokens costs ${report.passCost.map((p) => `T=${p.tokens} ${(p.ms / one.ms).toFixed(1)}x`).join(", ")} of T=1 (${one.ms.toFixed(1)} ms)` +
            (report.oracleMedian !== null ? `; with that curve an oracle draft policy could reach ${report.oracleMedian.toFixed(2)}x on the forced rows (median)` : ""),
        );
        out.push(`identical: ${report.identical}`);
        process.stdout.write(`${out.join("\n")}\n`);
      }
      if (!report.identical) throw new Error("llma's output differed from node-llama-cpp's own generation: this is a bug, please report it");
    });
}
