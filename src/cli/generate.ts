import { Command } from "commander";
import { exactnessWarning } from "../backends/exactness.js";
import { KV_CACHE_TYPES, LlamaCppModel, resolveKvCacheType } from "../backends/llama-cpp.js";
import { Accelerator } from "../core/accelerator.js";
import { resolveExactnessMode, type ExactnessMode } from "../core/exactness.js";
import type { DecodeResult } from "../core/decoder.js";
import { POLICY_NAMES, type PolicyName } from "../core/request.js";
import { randomSeed } from "../core/sampling.js";
import { indexingProgressDisplay } from "./indexing-progress.js";
import { catchInterrupt, Interrupted } from "./interrupt.js";
import { collect, integerOption, loadWarnings, log, numberOption, readTextFile, STDIN_PATH } from "./options.js";

interface GenerateCliOptions {
  model: string;
  prompt?: string;
  promptFile?: string;
  ref: string[];
  n?: number;
  k?: number;
  policy?: string;
  maxTokens: number;
  threads?: number;
  contextSize: number;
  stop: string[];
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
  seed?: number;
  indexPrompt: boolean;
  indexOutput: boolean;
  compareGreedy?: boolean;
  json?: boolean;
  gpu?: boolean;
  kvType: string;
  exactness: string;
  progress: boolean;
}

export function summary(result: DecodeResult) {
  const { stats } = result;
  return {
    generatedTokens: stats.generatedTokens,
    steps: stats.steps,
    tokensPerStep: round(stats.tokensPerStep, 3),
    draftedTokens: stats.draftedTokens,
    acceptedTokens: stats.acceptedTokens,
    acceptanceRate: stats.draftedTokens > 0 ? round(stats.acceptedTokens / stats.draftedTokens, 3) : null,
    promptMs: round(stats.promptMs, 1),
    forwardMs: round(stats.forwardMs, 1),
    draftMs: round(stats.draftMs, 2),
    totalMs: round(stats.totalMs, 1),
    decodeMsPerToken: stats.generatedTokens > 0 ? round((stats.totalMs - stats.promptMs) / stats.generatedTokens, 2) : null,
    stopReason: result.stopReason,
    ...(stats.seed !== undefined ? { seed: stats.seed } : {}),
    // Whether the output is guaranteed identical to plain decoding (null: the model's exactness is unknown).
    exact: stats.exact ?? null,
    exactness: stats.exactness ?? null,
    maxPassWidth: stats.maxPassWidth ?? null,
  };
}

/** The model's exactness verdict and what this run's mode does with it, for --json. */
export function exactnessReport(model: LlamaCppModel, mode: ExactnessMode) {
  const verdict = model.exactness;
  return {
    mode,
    exact: verdict?.exact ?? null,
    exactUpTo: verdict?.exactUpTo ?? null,
    widths: verdict?.widths ?? null,
    warning: verdict ? (exactnessWarning(verdict, mode) ?? null) : null,
  };
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function generateCommand(): Command {
  return new Command("generate")
    .description(
      "Generate text with LLMA: copy spans from reference files, verify them in one forward pass; output identical to greedy decoding (or, with --temperature, to plain sampling with the same seed).",
    )
    .requiredOption("-m, --model <path>", "GGUF model file (or hf: URI, needs network)")
    .option("-p, --prompt <text>", "prompt text")
    .option("-f, --prompt-file <file>", "read the prompt from a file ('-': standard input, to its end)")
    .option("--ref <file>", "reference text file to copy from (repeatable; '-': standard input, when the prompt is not read from it)", collect, [])
    .option("--policy <policy>", "draft length: auto (cost-aware, measures this machine once) or paper (fixed n, k); default auto, or paper when --n/--k is given")
    .option("--n <n>", "paper policy: minimum matched tokens before copying (default 1)", integerOption("--n", 1, 64))
    .option("--k <k>", "paper policy: most tokens copied per step (default 20)", integerOption("--k", 0, 256))
    .option("-n, --max-tokens <n>", "most tokens to generate", integerOption("--max-tokens", 0, 1_000_000), 256)
    .option("-t, --threads <n>", "CPU threads (default: physical cores)", integerOption("--threads", 1, 1024))
    .option("-c, --context-size <n>", "context size in tokens", integerOption("--context-size", 16, 1 << 20), 4096)
    .option("--stop <text>", "stop string (repeatable)", collect, [])
    .option("--temperature <t>", "sampling temperature (0: greedy); sampling stays lossless: the output is plain sampling's for the seed", numberOption("--temperature", 0, 100), 0)
    .option("--top-k <k>", "sample from the k most likely tokens (0: all)", integerOption("--top-k", 0, 1_000_000))
    .option("--top-p <p>", "nucleus sampling: the most likely tokens up to this probability (1: all)", numberOption("--top-p", 0, 1, true))
    .option("--min-p <p>", "drop tokens less likely than p times the most likely one (0: none)", numberOption("--min-p", 0, 0.999999))
    .option("--seed <n>", "sampling seed (default: a random one, reported in stats.seed)", integerOption("--seed", 0, 2 ** 32 - 1))
    .option("--no-index-prompt", "do not copy from the prompt")
    .option("--no-index-output", "do not copy from the output generated so far")
    .option("--compare-greedy", "also run plain decoding (greedy, or sampling with the same seed); report identical and the speed ratio")
    .option("--gpu", "use a GPU if node-llama-cpp finds one")
    .option("--kv-type <type>", `KV cache type: ${KV_CACHE_TYPES.join(", ")} (Q8_0 and BF16 keep batched passes exact on the CPU; F16 does not past 256 cells)`, "Q8_0")
    .option("--exactness <mode>", "strict: verify drafts only in passes this model computes exactly like one-token passes (probed once, cached); relaxed: draft anyway, output not guaranteed identical", "strict")
    .option("--json", "print one JSON document (text, tokens, stats) on stdout; logs go to stderr")
    .option("--no-progress", "no progress display while large references are tokenized and indexed")
    .addHelpText(
      "after",
      `
Example:
  llma make-model --shape tiny --quant Q8_0 --out tiny.gguf
  llma generate --model tiny.gguf --prompt-file question.txt --ref doc1.txt --ref doc2.txt --compare-greedy --json
  llma generate --model tiny.gguf --prompt-file question.txt --ref previous-answer.txt --temperature 0.7 --top-p 0.95 --seed 7 --compare-greedy --json
    (--compare-greedy runs plain decoding with the same options and seed: identical must be true)`,
    )
    .action(async (options: GenerateCliOptions, command: Command) => {
      if (options.policy === "auto" && (options.n !== undefined || options.k !== undefined))
        throw new Error("--n and --k set the paper policy; they cannot be combined with --policy auto");
      const policy = options.policy ?? (options.n !== undefined || options.k !== undefined ? "paper" : "auto");
      if (!POLICY_NAMES.includes(policy as PolicyName)) throw new Error(`unknown --policy ${JSON.stringify(policy)}: use one of ${POLICY_NAMES.join(", ")}`);
      if ((options.prompt === undefined) === (options.promptFile === undefined))
        throw new Error("give exactly one of --prompt TEXT or --prompt-file FILE");
      const stdinReaders = [...(options.promptFile === STDIN_PATH ? ["--prompt-file -"] : []), ...options.ref.filter((file) => file === STDIN_PATH).map(() => "--ref -")];
      if (stdinReaders.length > 1) throw new Error(`standard input can be read only once, but ${stdinReaders.join(" and ")} both ask for it: give the others as files`);
      if (stdinReaders.length === 1 && process.stdin.isTTY) log(`llma: reading the ${options.promptFile === STDIN_PATH ? "prompt" : "reference"} from standard input (end it with Ctrl-D)...`);
      const prompt = options.prompt ?? (await readTextFile(options.promptFile!, "prompt"));
      const references = await Promise.all(options.ref.map((file) => readTextFile(file, "reference")));
      const exactness = resolveExactnessMode(options.exactness);
      // Ctrl-C stops indexing or decoding at its next chunk or step; exit 130 (see ./interrupt.ts).
      const interrupt = catchInterrupt();
      try {
        await generateWith(options, command, { prompt, references, policy: policy as PolicyName, exactness }, interrupt.signal);
      } finally {
        interrupt.dispose();
      }
    });
}

interface ResolvedInput {
  readonly prompt: string;
  readonly references: readonly string[];
  readonly policy: PolicyName;
  readonly exactness: ExactnessMode;
}

async function generateWith(options: GenerateCliOptions, command: Command, input: ResolvedInput, signal: AbortSignal): Promise<void> {
  const { prompt, references, policy, exactness } = input;
  const model = await LlamaCppModel.load({
    model: options.model,
    threads: options.threads,
    contextSize: options.contextSize,
    gpu: options.gpu ? "auto" : false,
    kvCacheType: resolveKvCacheType(options.kvType),
    onWarning: loadWarnings(command),
  });
  try {
    const warning = model.exactness && exactnessWarning(model.exactness, exactness);
    if (warning) log(`llma: warning: ${warning}`);
    const llma = await Accelerator.create(model, { policy, onMeasure: () => log("measuring this machine's forward-pass cost curve (once per model and settings)...") });
    if (signal.aborted) throw new Interrupted("interrupted (SIGINT) while loading the model");
    const request = {
      prompt,
      references,
      signal,
      policy,
      n: options.n,
      k: options.k,
      maxTokens: options.maxTokens,
      stop: options.stop,
      indexPrompt: options.indexPrompt,
      indexOutput: options.indexOutput,
      exactness,
      temperature: options.temperature,
      topK: options.topK,
      topP: options.topP,
      minP: options.minP,
      // Resolved here so that --compare-greedy's plain run samples with the same seed.
      seed: options.temperature > 0 ? (options.seed ?? randomSeed()) : undefined,
    };
    let greedy: DecodeResult | undefined;
    if (options.compareGreedy) {
      // Warm-up pass so neither method pays first-call allocation costs.
      await llma.generate({ ...request, method: "greedy", maxTokens: 2 });
      greedy = await llma.generate({ ...request, method: "greedy" });
      if (greedy.stopReason === "abort") throw new Interrupted(`interrupted (SIGINT) after ${greedy.stats.generatedTokens} tokens of plain decoding`);
      log(`${request.temperature > 0 ? "plain sampling" : "greedy"}: ${greedy.stats.generatedTokens} tokens in ${greedy.stats.totalMs.toFixed(0)} ms`);
    }
    const streamToStdout = !options.json && !options.compareGreedy;
    const progress = indexingProgressDisplay(process.stderr, references.reduce((sum, text) => sum + text.length, 0), options.progress);
    let result: DecodeResult;
    try {
      result = await llma.generate({
        ...request,
        method: "llma",
        onIndexProgress: progress.onProgress,
        onText: streamToStdout ? (text) => process.stdout.write(text) : undefined,
      });
    } finally {
      progress.stop();
    }
    if (streamToStdout) process.stdout.write("\n");
    if (result.stopReason === "abort")
      throw new Interrupted(
        progress.finished || references.length === 0
          ? `interrupted (SIGINT) after ${result.stats.generatedTokens} generated tokens`
          : "interrupted (SIGINT) while tokenizing and indexing the references",
      );
    const output: Record<string, unknown> = {
      text: result.text,
      tokens: result.tokens,
      model: options.model,
      threads: model.threads,
      kvCacheType: model.kvCacheType,
      policy,
      n: policy === "paper" ? (options.n ?? 1) : undefined,
      k: policy === "paper" ? (options.k ?? 20) : undefined,
      ...(request.seed !== undefined
        ? { sampling: { temperature: request.temperature, topK: request.topK, topP: request.topP, minP: request.minP, seed: request.seed } }
        : {}),
      stats: summary(result),
      exactness: exactnessReport(model, exactness),
    };
    if (greedy) {
      output.greedy = summary(greedy);
      output.identical = greedy.tokens.length === result.tokens.length && greedy.tokens.every((t, i) => t === result.tokens[i]);
      output.speedup = round(greedy.stats.totalMs / result.stats.totalMs, 3);
      output.decodeSpeedup = round(
        (greedy.stats.totalMs - greedy.stats.promptMs) / Math.max(1e-9, result.stats.totalMs - result.stats.promptMs),
        3,
      );
    }
    if (options.json) process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
    else {
      if (!streamToStdout) process.stdout.write(`${result.text}\n`);
      log(JSON.stringify({ stats: output.stats, identical: output.identical, speedup: output.speedup }));
    }
  } finally {
    await model.dispose();
  }
}
