import { Command } from "commander";
import { KV_CACHE_TYPES, resolveKvCacheType } from "../backends/llama-cpp.js";
import { checkModel, type ModelCheck } from "../backends/model-check.js";
import { integerOption, loadWarnings, log } from "./options.js";

interface CheckCliOptions {
  model: string;
  threads?: number;
  kvType: string;
  gpu?: string;
  contextSize: number;
  refresh?: boolean;
  json?: boolean;
}

export function checkCommand(): Command {
  return new Command("check")
    .description(
      "Check a GGUF model for llma: architecture, vocabulary, weight types, backend, whether batched passes are exact (llma's losslessness), KV rollback, the cost curve, and what to change.",
    )
    .requiredOption("-m, --model <path>", "GGUF model file")
    .option("-t, --threads <n>", "CPU threads (default: physical cores)", integerOption("--threads", 1, 1024))
    .option("--kv-type <type>", `KV cache type: ${KV_CACHE_TYPES.join(", ")}`, "Q8_0")
    .option("--gpu <mode>", "auto: use a GPU if node-llama-cpp finds one")
    .option("-c, --context-size <n>", "context size in tokens (the probe checks past 256 cached tokens when it fits)", integerOption("--context-size", 16, 1 << 20), 4096)
    .option("--refresh", "probe and measure again instead of using the cached results")
    .option("--json", "print one JSON document (the report) on stdout")
    .addHelpText(
      "after",
      `
Example:
  llma check --model my-model.gguf --threads 2
  llma check --model my-model.gguf --kv-type F16 --json`,
    )
    .action(async (options: CheckCliOptions, command: Command) => {
      if (options.gpu !== undefined && options.gpu !== "auto") throw new Error(`--gpu takes "auto", got ${JSON.stringify(options.gpu)}`);
      const report = await checkModel({
        model: options.model,
        threads: options.threads,
        kvCacheType: resolveKvCacheType(options.kvType),
        gpu: options.gpu === "auto" ? "auto" : false,
        contextSize: options.contextSize,
        refresh: options.refresh,
        onProgress: log,
        onWarning: loadWarnings(command, "llma check"),
      });
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : render(report));
    });
}

function render(report: ModelCheck): string {
  const { vocabulary: v, weights: w, backend: b, rollback: r, exactness: e } = report;
  const types = Object.entries(w.tensorTypes)
    .map(([type, count]) => `${type} x${count}`)
    .join(", ");
  const widths = e.widths
    .map((x) => `${x.width}:${x.argmaxEqual && x.bitsEqual ? "exact" : x.argmaxEqual ? "bits differ" : "tokens differ"}`)
    .join(" ");
  const curve = report.costCurve.map((p) => `T=${p.tokens} ${p.ms.toFixed(1)} ms`).join(", ");
  return `${[
    `model         ${report.file.path} (${(report.file.bytes / 2 ** 20).toFixed(1)} MiB)${report.name ? `, "${report.name}"` : ""}`,
    `architecture  ${report.architecture}`,
    `vocabulary    ${v.typeName} (${v.type}), ${v.size} tokens, BOS ${v.bos ? `${v.bos.id} ${JSON.stringify(v.bos.text)}${v.addsBos ? "" : " (not added to prompts)"}` : "none (prompts start without one)"}, EOS ${v.eos ? `${v.eos.id} ${JSON.stringify(v.eos.text)}` : "none"}`,
    `weights       ${w.fileType ?? "file type not given"}; tensors: ${types}`,
    `backend       ${b.device}${b.device === "CPU" ? "" : ` (${b.gpuLayers} layers offloaded)`}, ${b.threads} thread(s), KV ${b.kvCacheType}, flash attention ${b.flashAttention ? "on" : "off"}, context ${b.contextSize}, batch ${b.batchSize}`,
    `exactness     ${e.exact ? "EXACT" : "NOT EXACT"} (exact up to ${e.exactUpTo}-token passes; widths ${widths}; runs of ${e.runTokens} tokens after ${e.anchors.join(" and ")} cached; ${e.cached ? "cached verdict" : `probed in ${e.ms} ms`})`,
    `rollback      ${r.kvTruncatable ? "KV cache truncatable" : "NOT truncatable"} (recurrent ${r.recurrent}, hybrid ${r.hybrid}, sliding window ${r.slidingWindow ?? "none"}, needs checkpoints ${r.needsCheckpoints})`,
    `cost curve    ${curve}`,
    "",
    "recommendations:",
    ...report.recommendations.map((line) => `  - ${line}`),
  ].join("\n")}\n`;
}
