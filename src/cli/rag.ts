import { basename } from "node:path";
import { Command } from "commander";
import { LlamaCppModel } from "../backends/llama-cpp.js";
import { Accelerator } from "../core/accelerator.js";
import type { DecodeResult } from "../core/decoder.js";
import { POLICY_NAMES, type PolicyName } from "../core/request.js";
import { DEFAULT_MAX_ENTRIES, DEFAULT_TENANT } from "../store/answers.js";
import { openStore } from "../store/open.js";
import { DEFAULT_CACHE_TOP, DEFAULT_TOP, ragAnswer } from "../rag/answer.js";
import { round, summary } from "./generate.js";
import { integerOption, loadWarnings, log } from "./options.js";

interface RagCliOptions {
  store: string;
  model: string;
  query: string;
  top: number;
  cache: boolean;
  cacheTop: number;
  cacheSize: number;
  tenant: string;
  maxTokens: number;
  policy?: string;
  n?: number;
  k?: number;
  threads?: number;
  contextSize: number;
  compareGreedy?: boolean;
  gpu?: boolean;
  json?: boolean;
}

export function ragCommand(): Command {
  return new Command("rag")
    .description(
      "Answer a query from a document store: retrieve the top passages (BM25), prompt with the paper's template, generate with LLMA copying from the passages and from cached answers to similar queries; the answer is cached. Output identical to greedy decoding.",
    )
    .requiredOption("--store <db>", "store made by `llma index`: a SQLite file or a postgres:// URL")
    .requiredOption("-m, --model <path>", "GGUF model file")
    .requiredOption("--query <text>", "the question")
    .option("--top <n>", "passages retrieved", integerOption("--top", 1, 1000), DEFAULT_TOP)
    .option("--no-cache", "neither copy from nor store into the answer cache")
    .option("--cache-top <n>", "cached answers to similar queries used as references", integerOption("--cache-top", 0, 100), DEFAULT_CACHE_TOP)
    .option("--cache-size <n>", "most answers the cache keeps (least recently used evicted)", integerOption("--cache-size", 1, 1e9), DEFAULT_MAX_ENTRIES)
    .option("--tenant <name>", "answer cache namespace", DEFAULT_TENANT)
    .option("-n, --max-tokens <n>", "most tokens to generate", integerOption("--max-tokens", 0, 1_000_000), 256)
    .option("--policy <policy>", "draft length: auto (cost-aware) or paper (fixed n, k); default auto, or paper when --n/--k is given")
    .option("--n <n>", "paper policy: minimum matched tokens before copying (default 1)", integerOption("--n", 1, 64))
    .option("--k <k>", "paper policy: most tokens copied per step (default 20)", integerOption("--k", 0, 256))
    .option("-t, --threads <n>", "CPU threads (default: physical cores)", integerOption("--threads", 1, 1024))
    .option("-c, --context-size <n>", "context size in tokens (passages that do not fit are dropped, lowest ranked first)", integerOption("--context-size", 16, 1 << 20), 4096)
    .option("--compare-greedy", "also run plain greedy decoding on the same prompt; report identical and the speed ratio")
    .option("--gpu", "use a GPU if node-llama-cpp finds one")
    .option("--json", "print one JSON document (answer, sources, cache, stats) on stdout; logs go to stderr")
    .addHelpText(
      "after",
      `
Example:
  llma index --store rag.db bench/data/llma-rag.jsonl
  llma rag --store rag.db --model tiny.gguf --query "where does real insulin come from" --top 5 --json`,
    )
    .action(async (options: RagCliOptions, command: Command) => {
      if (options.policy === "auto" && (options.n !== undefined || options.k !== undefined))
        throw new Error("--n and --k set the paper policy; they cannot be combined with --policy auto");
      const policy = options.policy ?? (options.n !== undefined || options.k !== undefined ? "paper" : "auto");
      if (!POLICY_NAMES.includes(policy as PolicyName)) throw new Error(`unknown --policy ${JSON.stringify(policy)}: use one of ${POLICY_NAMES.join(", ")}`);
      if (options.query.trim() === "") throw new Error("--query is empty");
      // The store first: a bad store file fails before the model loads.
      const store = await openStore(options.store, { create: false, maxEntries: options.cacheSize });
      try {
        const model = await LlamaCppModel.load({ model: options.model, threads: options.threads, contextSize: options.contextSize, gpu: options.gpu ? "auto" : false, onWarning: loadWarnings(command, "llma rag") });
        try {
          const llma = await Accelerator.create(model, { policy: policy as PolicyName, onMeasure: () => log("measuring this machine's forward-pass cost curve (once per model and settings)...") });
          const streamToStdout = !options.json && !options.compareGreedy;
          const rag = await ragAnswer(llma, {
            query: options.query,
            documents: store.documents,
            top: options.top,
            cache: options.cache ? store.answers : undefined,
            cacheTop: options.cacheTop,
            tenant: options.tenant,
            modelName: basename(options.model),
            policy: policy as PolicyName,
            n: options.n,
            k: options.k,
            maxTokens: options.maxTokens,
            onText: streamToStdout ? (text) => process.stdout.write(text) : undefined,
          });
          let greedy: DecodeResult | undefined;
          if (options.compareGreedy) greedy = await llma.generate({ prompt: rag.prompt, method: "greedy", maxTokens: options.maxTokens });
          const output: Record<string, unknown> = {
            query: options.query,
            answer: rag.answer,
            sources: rag.sources.map((p, i) => ({ rank: i + 1, source: p.source, row: p.row, passage: p.ord, score: round(p.score, 3), text: p.text })),
            cache: {
              enabled: options.cache,
              tenant: options.tenant,
              references: rag.cached.map((c) => ({ id: c.id, query: c.query, exact: c.exact, score: round(c.score, 3) })),
              storedAs: rag.storedAs ?? null,
            },
            model: options.model,
            threads: model.threads,
            policy,
            stats: summary(rag.result),
          };
          if (greedy) {
            output.greedy = summary(greedy);
            output.identical = greedy.tokens.length === rag.result.tokens.length && greedy.tokens.every((t, i) => t === rag.result.tokens[i]);
            output.speedup = round(greedy.stats.totalMs / rag.result.stats.totalMs, 3);
          }
          if (options.json) process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
          else {
            process.stdout.write(streamToStdout ? "\n" : `${rag.answer}\n`);
            process.stdout.write(`\nsources:\n`);
            rag.sources.forEach((p, i) => process.stdout.write(`  [${i + 1}] ${p.source}${p.ord > 0 ? ` (passage ${p.ord + 1})` : ""}  score ${p.score.toFixed(2)}\n`));
            if (rag.cached.length > 0) process.stdout.write(`cached answers used as references: ${rag.cached.map((c) => JSON.stringify(c.query)).join(", ")}\n`);
            log(JSON.stringify({ stats: output.stats, identical: output.identical, speedup: output.speedup }));
          }
        } finally {
          await model.dispose();
        }
      } finally {
        await store.close();
      }
    });
}
