/**
 * The OpenAI-compatible HTTP server (fastify): /v1/chat/completions and /v1/completions with Predicted
 * Outputs and llma's references, /v1/models, /health, /metrics. Greedy and sampled (temperature, top_p,
 * seed) requests are decoded with LLMA (lossless: the text is exactly plain greedy decoding's, or plain
 * sampling's with the same seed), copying from the request's prediction, its `references`, the
 * conversation (the prompt) and the output so far.
 *
 * This file holds the server's routes and its life cycle (hooks, listen, drain). What a generation
 * request becomes is requests.ts; running it and writing its reply is generation-route.ts; the error
 * replies are errors.ts.
 */
import { basename } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import type { ChatWrapper } from "node-llama-cpp";
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import { Accelerator } from "../core/accelerator.js";
import { resolveExactnessMode, type ExactnessMode } from "../core/exactness.js";
import type { PolicyName } from "../core/request.js";
import { requireApiKey } from "./auth.js";
import { ChatRenderer } from "../backends/chat-template.js";
import { enableCors } from "./cors.js";
import { ApiError, registerErrorReplies } from "./errors.js";
import { GenerationRoute, shutDownError } from "./generation-route.js";
import { Metrics } from "./metrics.js";
import { RequestPreparer } from "./requests.js";
import { StoreHealth } from "./store-health.js";
import { Scheduler } from "./scheduler.js";
import { registerPlayground } from "./ui-route.js";
import type { AnswerStore, PassageStore } from "../store/backend.js";

export interface ServerOptions {
  /** A loaded model; its sequences are the slots (load it with `sequences: parallel`). */
  readonly model: LlamaCppModel;
  /** The accelerator of `model` that requests run on, and learn on (default: the model's own, see Accelerator.of). */
  readonly accelerator?: Accelerator<LlamaCppModel>;
  /** The id /v1/models lists and responses carry (default: the GGUF's file name without .gguf). */
  readonly modelName?: string;
  /** Requests generating at once (default: all the model's sequences). */
  readonly parallel?: number;
  /** Requests that may wait for a slot; more get 429 (default 64). */
  readonly queue?: number;
  /** Temperature of requests that give none (default 0: greedy, accelerated). */
  readonly temperature?: number;
  /** Defaults of the per-request `llma` switches. */
  readonly conversationReferences?: boolean;
  readonly predictionReferences?: boolean;
  readonly requestReferences?: boolean;
  readonly outputReferences?: boolean;
  /** Draft policy (default: "auto" when the model is calibrated, else "paper"). */
  readonly policy?: PolicyName;
  /** "strict" (default): verify drafts only at pass widths the model computes exactly (model.exactness); "relaxed": at any. */
  readonly exactness?: ExactnessMode;
  /** Largest request body in bytes (default 16 MiB: references can be long). */
  readonly bodyLimit?: number;
  /** fastify's request log on stderr, JSON lines (default off). */
  readonly logger?: boolean;
  /** Chat template (default: node-llama-cpp's resolveChatWrapper for the model). */
  readonly chatWrapper?: ChatWrapper;
  /**
   * Answer cache (`llma serve --store`): greedy requests copy from the cached answers to the most
   * similar past queries of their tenant (`llma.tenant`, else `user`), and their answers are cached.
   */
  readonly answerCache?: AnswerStore;
  /** Default of the per-request `llma.cache` switch (default true when there is a cache). */
  readonly cacheReferences?: boolean;
  /** Cached answers used as references per request (default 3). */
  readonly cacheTop?: number;
  /** Document store (`llma serve --docs`): requests with `llma.retrieve` get its top passages as context. */
  readonly documents?: PassageStore;
  /** Every route but GET /health needs `Authorization: Bearer apiKey` (default: no key). */
  readonly apiKey?: string;
  /** Origins allowed to call from a browser (CORS; `*`: any; default: none, no CORS headers). */
  readonly corsOrigins?: readonly string[];
  /** Serve the playground page at `GET /` (default true; `llma serve --no-ui`). */
  readonly ui?: boolean;
}

export interface LlmaServer {
  readonly app: FastifyInstance;
  readonly scheduler: Scheduler;
  readonly metrics: Metrics;
  readonly modelName: string;
  /** Listens (port 0: any free port); resolves to the base URL, e.g. http://127.0.0.1:8080. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  /**
   * Graceful stop: refuses new requests (503), lets in-flight and queued ones finish for up to
   * `drainMs`, then aborts what is left and closes. The model is not disposed.
   */
  close(drainMs?: number): Promise<void>;
}

export const DEFAULT_QUEUE = 64;
export const DEFAULT_DRAIN_MS = 30_000;

export function buildApp(options: ServerOptions): LlmaServer {
  const { model } = options;
  const accelerator = options.accelerator ?? Accelerator.of(model);
  if (accelerator.model !== model) throw new Error("the accelerator is another model's: give buildApp the model it accelerates");
  const totalSequences = model.sequenceCount;
  const parallel = options.parallel ?? totalSequences;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > totalSequences)
    throw new RangeError(`parallel must be an integer between 1 and the model's ${totalSequences} sequences, got ${parallel}`);
  const scheduler = new Scheduler(parallel, options.queue ?? DEFAULT_QUEUE);
  const metrics = new Metrics(() => ({
    queueLength: scheduler.queued,
    activeRequests: scheduler.active,
    slots: scheduler.slots,
    queueLimit: scheduler.queueLimit,
  }));
  const modelName = options.modelName ?? basename(model.path).replace(/\.gguf$/i, "");
  const created = Math.floor(Date.now() / 1000);
  const policy: PolicyName = options.policy ?? (model.costCurve ? "auto" : "paper");
  const exactness = resolveExactnessMode(options.exactness);
  const chat = new ChatRenderer(model, options.chatWrapper);
  const defaults = {
    temperature: options.temperature ?? 0,
    conversation: options.conversationReferences ?? true,
    prediction: options.predictionReferences ?? true,
    references: options.requestReferences ?? true,
    output: options.outputReferences ?? true,
    cache: options.cacheReferences ?? true,
  };
  const { answerCache, documents } = options;
  // Store failures never fail a request that can go on without the store: they are warned about (once per outage) and counted.
  const storeHealth = new StoreHealth((line) => (options.logger ? app.log.warn(line) : process.stderr.write(`llma serve: warning: ${line}\n`)));
  const vocabularySize = model.model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length;

  /** Aborted when a drain runs out of time: every generation still running stops. */
  const shutdown = new AbortController();
  let closing = false;
  let closed: Promise<void> | undefined;

  const app = Fastify({
    logger: options.logger ? { level: "info", stream: process.stderr } : false,
    bodyLimit: options.bodyLimit ?? 16 * 1024 * 1024,
    return503OnClosing: false,
    forceCloseConnections: "idle",
  });

  // Every request is counted once its response is over (streams included, client aborts as 499).
  app.addHook("onRequest", async (request, reply) => {
    const started = performance.now();
    const res = reply.raw;
    res.once("close", () => {
      const endpoint = request.routeOptions.url ?? "unmatched";
      metrics.recordRequest(endpoint, res.writableFinished ? res.statusCode : 499, (performance.now() - started) / 1000);
      if (closing) setImmediate(() => app.server.closeIdleConnections());
    });
    if (closing && request.url !== "/health" && request.url !== "/metrics") {
      reply.header("connection", "close");
      throw new ApiError(503, "the server is shutting down; retry on another instance", null, "shutting_down", "service_unavailable");
    }
  });

  if (options.corsOrigins !== undefined) enableCors(app, options.corsOrigins);
  if (options.apiKey !== undefined) requireApiKey(app, options.apiKey);

  registerErrorReplies(app);

  app.get("/health", async (_request, reply) => {
    return reply.code(closing ? 503 : 200).send({
      status: closing ? "draining" : "ok",
      model: modelName,
      slots: { total: scheduler.slots, active: scheduler.active },
      queue: { length: scheduler.queued, limit: scheduler.queueLimit },
    });
  });

  // llma's extension: whether this model's batched passes were measured exact, and what the server does about it.
  const modelEntry = () => ({
    id: modelName,
    object: "model",
    created,
    owned_by: "llma",
    llma: {
      exactness,
      exact: model.exactness?.exact ?? null,
      exact_up_to: model.exactness?.exactUpTo ?? null,
      kv_cache_type: model.kvCacheType,
      threads: model.threads,
      backend: model.exactness?.settings.backend ?? null,
    },
  });
  app.get("/v1/models", async () => ({ object: "list", data: [modelEntry()] }));
  app.get<{ Params: { id: string } }>("/v1/models/:id", async (request) => {
    if (request.params.id !== modelName) throw new ApiError(404, `The model '${request.params.id}' does not exist; this server serves '${modelName}'`, "model", "model_not_found");
    return modelEntry();
  });

  if (options.ui ?? true) registerPlayground(app);

  app.get("/metrics", async (_request, reply) => reply.type(metrics.contentType).send((await metrics.render()) + storeHealth.render()));

  const preparer = new RequestPreparer({ model, chat, modelName, policy, exactness, defaults, vocabularySize, answerCache, cacheTop: options.cacheTop, documents, storeHealth });
  const generation = new GenerationRoute({ model, accelerator, modelName, preparer, scheduler, metrics, shutdown: shutdown.signal, closing: () => closing });
  app.post("/v1/chat/completions", (request, reply) => generation.handle("chat", request, reply));
  app.post("/v1/completions", (request, reply) => generation.handle("completion", request, reply));
  app.post("/v1/responses", (request, reply) => generation.handle("responses", request, reply));

  return {
    app,
    scheduler,
    metrics,
    modelName,
    async listen({ host = "127.0.0.1", port = 8080 } = {}) {
      await app.listen({ host, port });
      const address = app.server.address();
      const actualPort = typeof address === "object" && address ? address.port : port;
      return `http://${host.includes(":") ? `[${host}]` : host}:${actualPort}`;
    },
    close(drainMs = DEFAULT_DRAIN_MS) {
      closed ??= (async () => {
        closing = true;
        let force: NodeJS.Timeout | undefined;
        const timer = setTimeout(() => {
          // Out of time: stop every generation (streams get an error event), refuse the queue, and
          // a moment later close whatever connection is still open.
          shutdown.abort(new Error("drain timeout"));
          scheduler.close(shutDownError());
          force = setTimeout(() => app.server.closeAllConnections(), 1000);
        }, drainMs);
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
          clearTimeout(force);
        }
      })();
      return closed;
    },
  };
}
