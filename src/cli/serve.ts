import { Command, InvalidArgumentError } from "commander";
import { exactnessWarning } from "../backends/exactness.js";
import { KV_CACHE_TYPES, LlamaCppModel, resolveKvCacheType } from "../backends/llama-cpp.js";
import { Accelerator } from "../core/accelerator.js";
import { resolveExactnessMode } from "../core/exactness.js";
import { POLICY_NAMES, type PolicyName } from "../core/request.js";
import { buildApp, DEFAULT_DRAIN_MS, DEFAULT_QUEUE } from "../server/app.js";
import { resolveAccessOptions } from "../server/access-options.js";
import { DEFAULT_MAX_ENTRIES } from "../store/answers.js";
import { collect, integerOption, loadWarnings, log } from "./options.js";
import { openServeStores } from "./serve-stores.js";

interface ServeCliOptions {
  model: string;
  host: string;
  port: number;
  parallel: number;
  threads?: number;
  queue: number;
  contextSize: number;
  conversationReferences: boolean;
  predictionReferences: boolean;
  requestReferences: boolean;
  outputReferences: boolean;
  temperature: number;
  policy: string;
  modelName?: string;
  drainTimeout: number;
  gpu?: boolean;
  logRequests?: boolean;
  store?: string;
  docs?: string;
  storeOptional?: boolean;
  cacheReferences: boolean;
  cacheSize: number;
  kvType: string;
  exactness: string;
  apiKey?: string;
  cors?: string[];
  ui: boolean;
}

function temperatureOption(value: string): number {
  const parsed = Number(value);
  if (value.trim() === "" || !Number.isFinite(parsed) || parsed < 0 || parsed > 2)
    throw new InvalidArgumentError(`--temperature must be a number between 0 and 2, got ${JSON.stringify(value)}`);
  return parsed;
}

export function serveCommand(): Command {
  return new Command("serve")
    .description(
      "OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions) with Predicted Outputs and references; greedy requests are accelerated losslessly.",
    )
    .requiredOption("-m, --model <path>", "GGUF model file (or hf: URI, needs network)")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port to listen on (0: any free port)", integerOption("--port", 0, 65535), 8080)
    .option("--parallel <n>", "requests generating at once (one sequence each)", integerOption("--parallel", 1, 256), 1)
    .option("--queue <n>", "requests that may wait for a slot; more get 429", integerOption("--queue", 0, 1_000_000), DEFAULT_QUEUE)
    .option("-t, --threads <n>", "CPU threads (default: physical cores)", integerOption("--threads", 1, 1024))
    .option("-c, --context-size <n>", "context size in tokens, per sequence", integerOption("--context-size", 16, 1 << 20), 4096)
    .option("--temperature <t>", "temperature of requests that give none (0: greedy, accelerated)", temperatureOption, 0)
    .option("--policy <policy>", "draft length: auto (cost-aware, measures this machine once) or paper (fixed n = 1, k = 20)", "auto")
    .option("--no-conversation-references", "by default, do not copy from the conversation (the prompt); requests may still turn it on")
    .option("--no-prediction-references", "by default, do not copy from `prediction`; requests may still turn it on")
    .option("--no-request-references", "by default, do not copy from `references`; requests may still turn it on")
    .option("--no-output-references", "by default, do not copy from the output so far; requests may still turn it on")
    .option("--model-name <name>", "model id in /v1/models and responses (default: the file name)")
    .option("--drain-timeout <ms>", "on SIGINT/SIGTERM, how long in-flight requests may finish", integerOption("--drain-timeout", 0, 86_400_000), DEFAULT_DRAIN_MS)
    .option("--store <db>", "answer cache: a SQLite file (created when missing) or a postgres:// URL that replicas share: greedy requests copy from cached answers to similar queries of their tenant (llma.tenant or user), and their answers are cached")
    .option("--no-cache-references", "with --store: by default, do not use the cache; requests may turn it on with llma.cache")
    .option("--cache-size <n>", "most answers the cache keeps (least recently used evicted)", integerOption("--cache-size", 1, 1e9), DEFAULT_MAX_ENTRIES)
    .option("--store-optional", "start even when --store or --docs cannot be opened (without it; a PostgreSQL store is retried on every request)")
    .option("--docs <db>", "document store made by `llma index` (SQLite file or postgres:// URL): requests with llma.retrieve get its top passages as context and references")
    .option("--api-key <key>", "require 'Authorization: Bearer KEY' on every route but GET /health (default: $LLMA_API_KEY, else no key)")
    .option("--cors <origins>", "allow browser calls from these origins (comma list or repeated; * for any); default: no CORS headers", collect)
    .option("--no-ui", "do not serve the playground page at GET / (the API is unchanged)")
    .option("--log-requests", "log every request to stderr (JSON lines)")
    .option("--gpu", "use a GPU if node-llama-cpp finds one")
    .option("--kv-type <type>", `KV cache type: ${KV_CACHE_TYPES.join(", ")} (Q8_0 and BF16 keep batched passes exact on the CPU; F16 does not past 256 cells)`, "Q8_0")
    .option("--exactness <mode>", "strict: verify drafts only in passes this model computes exactly like one-token passes (probed once, cached); relaxed: draft anyway, output not guaranteed identical", "strict")
    .addHelpText(
      "after",
      `
Example:
  llma make-model --shape tiny --quant Q8_0 --out tiny.gguf
  llma serve --model tiny.gguf --port 8080 --parallel 2
  curl http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"tiny","messages":[{"role":"user","content":"Hi"}],"max_tokens":32,"prediction":{"type":"content","content":"Hello"}}'`,
    )
    .action(async (options: ServeCliOptions, command: Command) => {
      if (!POLICY_NAMES.includes(options.policy as PolicyName))
        throw new Error(`unknown --policy ${JSON.stringify(options.policy)}: use one of ${POLICY_NAMES.join(", ")}`);
      const exactness = resolveExactnessMode(options.exactness);
      const kvCacheType = resolveKvCacheType(options.kvType);
      // Before the model loads: a bad key or origin fails at once.
      const access = resolveAccessOptions({ apiKey: options.apiKey, cors: options.cors, env: process.env });
      // The stores first: a bad store file fails before the model loads.
      const stores = await openServeStores({ ...options, storeOptional: options.storeOptional ?? false }, (line) => log(`llma serve: warning: ${line}`));
      const { answerCache, documents } = stores;
      const closeStores = () => stores.close();
      const model = await LlamaCppModel.load({
        model: options.model,
        threads: options.threads,
        contextSize: options.contextSize,
        sequences: options.parallel,
        gpu: options.gpu ? "auto" : false,
        kvCacheType,
        onWarning: loadWarnings(command, "llma serve"),
      }).catch(async (error: unknown) => {
        await closeStores();
        throw error;
      });
      let server: ReturnType<typeof buildApp> | undefined;
      try {
        const warning = model.exactness && exactnessWarning(model.exactness, exactness);
        if (warning) log(`llma serve: warning: ${warning}`);
        const accelerator = await Accelerator.create(model, { policy: options.policy as PolicyName, onMeasure: () => log("measuring this machine's forward-pass cost curve (once per model and settings)...") });
        server = buildApp({
          model,
          accelerator,
          modelName: options.modelName,
          parallel: options.parallel,
          queue: options.queue,
          temperature: options.temperature,
          policy: options.policy as PolicyName,
          exactness,
          conversationReferences: options.conversationReferences,
          predictionReferences: options.predictionReferences,
          requestReferences: options.requestReferences,
          outputReferences: options.outputReferences,
          logger: options.logRequests ?? false,
          answerCache,
          cacheReferences: options.cacheReferences,
          documents,
          ...access,
          ui: options.ui,
        });
        const running = server;
        const stopped = new Promise<string>((resolve) => {
          process.once("SIGINT", () => resolve("SIGINT"));
          process.once("SIGTERM", () => resolve("SIGTERM"));
        });
        const url = await running.listen({ host: options.host, port: options.port });
        log(
          `llma serve: listening on ${url}${options.ui ? ` (playground: ${url}/)` : ""} (model ${running.modelName}, ${options.parallel} parallel, queue ${options.queue}, context ${model.contextSize}, ${model.threads} threads` +
            `${access.apiKey !== undefined ? ", API key required" : ""}${access.corsOrigins ? `, CORS for ${access.corsOrigins.join(", ")}` : ""})`,
        );
        const signal = await stopped;
        log(`llma serve: ${signal}: draining (${running.scheduler.active} generating, ${running.scheduler.queued} queued; at most ${options.drainTimeout} ms)...`);
        await running.close(options.drainTimeout);
        log("llma serve: stopped");
      } finally {
        await server?.close(0);
        await model.dispose();
        await closeStores();
      }
    });
}
