import { Command, InvalidArgumentError } from "commander";
import { QUANTS, SHAPES } from "../backends/gguf-writer.js";
import { KV_CACHE_TYPES, sharedLlama, type KvCacheType } from "../backends/llama-cpp.js";
import { MATRIX_KV_TYPES, MATRIX_THREADS, renderMatrixMarkdown, runExactnessMatrix, testShapes, writeMatrix } from "../bench/exactness-matrix.js";
import { integerOption, log } from "./options.js";

interface ExactnessCliOptions {
  shapes?: string[];
  quants?: string[];
  kvTypes: KvCacheType[];
  threads: number[];
  gpu?: string;
  contextSize: number;
  refresh?: boolean;
  out?: string;
  json?: boolean;
}

/** A comma-separated list whose items must be among `allowed()` (read when parsing: the writer's lists grow). */
function listOption(name: string, allowed: () => readonly string[], normalize: (item: string) => string = (item) => item) {
  return (value: string): string[] => {
    const items = value.split(",").map((s) => normalize(s.trim())).filter((s) => s.length > 0);
    for (const item of items) if (!allowed().includes(item)) throw new InvalidArgumentError(`${name}: unknown ${JSON.stringify(item)}, use ${allowed().join(", ")}`);
    if (items.length === 0) throw new InvalidArgumentError(`${name} needs at least one value`);
    return items;
  };
}

function threadsOption(value: string): number[] {
  const parse = integerOption("--threads", 1, 1024);
  const items = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new InvalidArgumentError("--threads needs at least one value");
  return items.map(parse);
}

export function exactnessCommand(): Command {
  return new Command("exactness")
    .description(
      "Exactness matrix: whether batched passes equal one-token passes for each test shape x weight type x KV cache type x thread count (long contexts: past 256 and 1,024 cached tokens); names the setting that makes inexact weights exact.",
    )
    .option("--shapes <list>", `model shapes, comma-separated (default: the writer's test shapes: ${testShapes().join(", ")})`, listOption("--shapes", () => Object.keys(SHAPES)))
    .option("--quants <list>", `weight types, comma-separated (default: all the writer's: ${QUANTS.join(", ")})`, listOption("--quants", () => QUANTS, (s) => s.toUpperCase()))
    .option("--kv-types <list>", `KV cache types, comma-separated (${KV_CACHE_TYPES.join(", ")})`, listOption("--kv-types", () => KV_CACHE_TYPES, (s) => s.toUpperCase()), [...MATRIX_KV_TYPES])
    .option("-t, --threads <list>", "CPU thread counts, comma-separated", threadsOption, [...MATRIX_THREADS])
    .option("--gpu <mode>", "auto: run on the GPU node-llama-cpp finds (without one: says so, exits 0)")
    .option("-c, --context-size <n>", "context size (the runs need 1,105 tokens to reach past 1,024)", integerOption("--context-size", 128, 1 << 20), 2048)
    .option("--refresh", "probe again instead of using cached verdicts")
    .option("--out <dir>", "write exactness.json and exactness.md here")
    .option("--json", "print the JSON matrix on stdout (default: the Markdown table)")
    .addHelpText("after", "\nExample:\n  llma exactness --shapes tiny --out bench/results/exactness\n  llma exactness --gpu auto --kv-types F16,Q8_0 --threads 4")
    .action(async (options: ExactnessCliOptions) => {
      if (options.gpu !== undefined && options.gpu !== "auto") throw new Error(`--gpu takes "auto", got ${JSON.stringify(options.gpu)}`);
      const gpu = options.gpu === "auto" ? ("auto" as const) : false;
      if (gpu === "auto" && (await sharedLlama("auto")).gpu === false) {
        const message = "no GPU: node-llama-cpp found none on this machine (it would run on the CPU), so there is nothing to probe with --gpu auto";
        log(message);
        if (options.json) process.stdout.write(`${JSON.stringify({ backend: null, message, cells: [] }, null, 2)}\n`);
        return;
      }
      const started = performance.now();
      const matrix = await runExactnessMatrix({
        shapes: options.shapes,
        quants: options.quants,
        kvTypes: options.kvTypes,
        threads: options.threads,
        gpu,
        contextSize: options.contextSize,
        refresh: options.refresh,
        onProgress: log,
      });
      const command = `llma exactness ${process.argv.slice(3).join(" ")}`.trim();
      if (options.out) {
        const written = await writeMatrix(options.out, matrix, command);
        log(`wrote ${written.json} and ${written.markdown}`);
      }
      process.stdout.write(options.json ? `${JSON.stringify(matrix, null, 2)}\n` : renderMatrixMarkdown(matrix, command));
      log(`${matrix.cells.length} cells in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    });
}
