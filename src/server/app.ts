/**
 * The OpenAI-compatible HTTP server (fastify): /v1/chat/completions and /v1/completions with Predicted
 * Outputs and llma's references, /v1/models, /health, /metrics. Greedy and sampled (temperature, top_p,
 * seed) requests are decoded with LLMA (lossless: the text is exactly plain greedy decoding's, or plain
 * sampling's with the same seed), copying from the request's prediction, its `references`, the
 * conversation (the prompt) and the output so far.
 */
import { randomUUID } from "node:crypto";
import type { OutgoingHttpHeaders } from "node:http";
import { basename } from "node:path";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { ChatWrapper } from "node-llama-cpp";
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import { Accelerator } from "../core/accelerator.js";
import { resolveExactnessMode, type ExactnessMode } from "../core/exactness.js";
import type { PolicyName } from "../core/request.js";
import type { DecodeStep } from "../core/decoder.js";
import type { TokenSequence } from "../core/model.js";
import { requireApiKey } from "./auth.js";
import { ChatRenderer } from "../backends/chat-template.js";
import { enableCors } from "./cors.js";
import { hasPenalties, needsPlainSampler, needsSampler, runGeneration, type EngineRequest, type EngineResult, type Sampling } from "./engine.js";
import { ApiError, unsupported } from "./errors.js";
import { Metrics } from "./metrics.js";
import { StoreHealth } from "./store-health.js";
import { QueueFullError, Scheduler, type Slot } from "./scheduler.js";
import { registerPlayground } from "./ui-route.js";
import { TraceRecorder } from "./trace.js";
import { constraintsFor, logprobsAfterDecoding } from "./constrained.js";
import { functionsOf, toChatHistory, toolPath } from "./tools.js";
import { messageId, responseId, responseObject, ResponsesEventStream, translateResponsesRequest, type ResponsesEcho } from "./responses.js";
import { CompletionChunks, completionObject, stats } from "./replies.js";
import { parseChatRequest, parseCompletionRequest, type GenerationParams, type OutputOptions } from "./schemas.js";
import { DEFAULT_TENANT, type CachedAnswer } from "../store/answers.js";
import type { AnswerStore, PassageStore } from "../store/backend.js";
import type { Passage } from "../store/documents.js";
import { lookUpAnswers, retrievePassages, worthCaching } from "../rag/answer.js";
import { fitPrompt, orderReferences, queryFrame, textFrame, withDocs, type ReferenceOrigin } from "../rag/planner.js";

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

type Endpoint = "chat" | "completion" | "responses";

interface Prepared {
  readonly params: GenerationParams;
  /** Structured output and log probabilities (served by constrained decoding, not accelerated). */
  readonly output: OutputOptions;
  /** What a Responses API reply repeats from its request (that endpoint only). */
  readonly echo?: ResponsesEcho;
  readonly engine: Omit<EngineRequest, "signal" | "onText" | "onStep">;
  /** Where each of engine.references came from (same order), to name a draft's source in llma.trace. */
  readonly referenceOrigins: readonly ReferenceOrigin[];
  /** Where to cache the answer (absent: not cached). */
  readonly cacheAs?: { readonly query: string; readonly tenant: string };
  /** llma's extra response fields: cached answers used, passages retrieved. */
  readonly info: { cached_references?: number; sources?: { source: string; score: number }[] };
}

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

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    if (error instanceof ApiError) {
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      return reply.code(error.status).send(error.toJSON());
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      return reply.code(status).send(new ApiError(status, `internal error: ${error.message}`, null, "internal_error").toJSON());
    }
    let message = error.message;
    let code = "invalid_request";
    if (error.code === "FST_ERR_CTP_EMPTY_JSON_BODY") {
      message = "Invalid request body: the body is empty; expected a JSON object";
      code = "invalid_request_body";
    } else if (error instanceof SyntaxError || error.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
      message = `We could not parse the JSON body of your request: ${error.message}`;
      code = "invalid_json";
    } else if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      message = `Unsupported Content-Type: send the body as application/json (${error.message})`;
      code = "unsupported_media_type";
    } else if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      message = `The request body is too large: ${error.message}`;
      code = "body_too_large";
    }
    return reply.code(status).send(new ApiError(status, message, null, code).toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(new ApiError(404, `Unknown request URL: ${request.method} ${request.url}`, null, "unknown_url").toJSON());
  });

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

  /** Validated request -> prompt tokens, limits, sampling and reference sources. */
  async function prepare(endpoint: Endpoint, body: unknown): Promise<Prepared> {
    let params: GenerationParams;
    let output: OutputOptions;
    let echo: ResponsesEcho | undefined;
    let tools: EngineRequest["tools"];
    let prompt: readonly number[];
    let stop: readonly string[];
    let promptParam: string;
    /** The query the cache and retrieval key on: the last user message, or the completions prompt. */
    let query: string;
    /** The retrieved passages the prompt holds (the planner drops what the context cannot hold). */
    let passages: readonly Passage[];
    if (endpoint === "chat" || endpoint === "responses") {
      // The Responses API is chat with another request and response shape (see responses.ts).
      const translated = endpoint === "responses" ? translateResponsesRequest(body) : undefined;
      echo = translated?.echo;
      const request = parseChatRequest(translated ? translated.chat : body);
      params = request;
      output = request;
      query = [...request.messages].reverse().find((m) => m.role === "user")?.content ?? "";
      // Retrieved passages go in as a system message ("docs:\n..."), after the request's own system messages.
      // Offered tools are documented in the prompt as the chat wrapper does it (see tools.ts).
      const functions = request.tools ? functionsOf(request.tools.tools) : undefined;
      const fitted = fitPrompt(model, (docs) => chat.renderHistory(toChatHistory(withDocs(request.messages, docs)), functions), await retrieve(request.retrieveTop, query), room(request.maxTokens));
      passages = fitted.passages;
      prompt = fitted.prompt.tokens;
      const path = toolPath(request.tools);
      if (path) {
        if (request.responseFormat.type !== "text") throw unsupported("response_format", "a structured format cannot be combined with tool calls (tool_choice \"none\" serves both)");
        if (request.topLogprobs !== undefined) throw unsupported("logprobs", "log probabilities are not returned for tool calls (tool_choice \"none\" serves both)");
        tools = { renderer: chat, messages: withDocs(request.messages, passages.map((p) => p.text)), request: request.tools!, path };
      }
      stop = [...new Set([...request.stop, ...fitted.prompt.stop])];
      promptParam = "messages";
    } else {
      const request = parseCompletionRequest(body);
      params = request;
      output = request;
      query = request.prompt;
      // With retrieval the prompt is the paper's, as `llma rag` builds it ("docs:\n...\nquery: <prompt>\nanswer:"): the same query, the same prompt.
      const frame = request.retrieveTop === undefined ? textFrame(model, request.prompt) : queryFrame(model, request.prompt);
      const fitted = fitPrompt(model, frame, await retrieve(request.retrieveTop, query), room(request.maxTokens));
      passages = fitted.passages;
      prompt = fitted.prompt.tokens;
      stop = request.stop;
      promptParam = "prompt";
      if (prompt.length === 0) throw new ApiError(400, "Invalid 'prompt': the prompt is empty (and the model has no BOS token)", "prompt", "invalid_value");
    }
    const contextSize = model.contextSize;
    if (prompt.length >= contextSize)
      throw new ApiError(
        400,
        `This model's maximum context length is ${contextSize} tokens, but the ${promptParam} take ${prompt.length} tokens, leaving no room for the completion. Please shorten the ${promptParam}.`,
        promptParam,
        "context_length_exceeded",
      );
    const roomLeft = contextSize - prompt.length;
    if (params.maxTokens !== undefined && params.maxTokens > roomLeft) {
      throw new ApiError(
        400,
        `This model's maximum context length is ${contextSize} tokens. However, you requested ${prompt.length + params.maxTokens} tokens (${prompt.length} in the ${promptParam}, ${params.maxTokens} in the completion). Please reduce the length of the ${promptParam} or the completion (at most ${roomLeft} completion tokens fit).`,
        "max_tokens",
        "context_length_exceeded",
      );
    }
    if (params.logitBias && vocabularySize !== undefined)
      for (const token of params.logitBias.keys())
        if (token >= vocabularySize) throw new ApiError(400, `Invalid 'logit_bias': token ${token} is not in the model's vocabulary of ${vocabularySize} tokens`, "logit_bias", "invalid_value");

    const sampling: Sampling = {
      temperature: params.temperature ?? defaults.temperature,
      topK: params.topK,
      topP: params.topP,
      minP: params.minP,
      seed: params.seed,
      frequencyPenalty: params.frequencyPenalty,
      presencePenalty: params.presencePenalty,
      repeatPenalty: params.repeatPenalty,
      penaltyWindow: params.repeatLastN,
      penalizeNewline: params.penalizeNewline,
      logitBias: params.logitBias,
    };
    const info: Prepared["info"] = {};
    if (params.retrieveTop !== undefined) info.sources = passages.map((p) => ({ source: p.source, score: Math.round(p.score * 1000) / 1000 }));
    // The answer cache serves greedy requests only: it holds what greedy decoding answered.
    let cacheAs: Prepared["cacheAs"];
    let cached: CachedAnswer[] = [];
    if (answerCache && (params.sources.cache ?? defaults.cache) && !needsSampler(sampling) && query.trim() !== "") {
      const tenant = params.tenant ?? DEFAULT_TENANT;
      try {
        cached = await lookUpAnswers(answerCache, query, { tenant, model: modelName, top: options.cacheTop });
        storeHealth.looked(cached.length);
        info.cached_references = cached.length;
        cacheAs = { query, tenant };
      } catch (error) {
        // The cache only speeds requests up: a locked or broken cache file, or a database that is down, must not fail them.
        storeHealth.failed("cache_lookup", error);
      }
    }
    const indexPrompt = params.sources.conversation ?? defaults.conversation;
    const { references, origins: referenceOrigins } = orderReferences({
      prediction: (params.sources.prediction ?? defaults.prediction) ? params.prediction : undefined,
      cached,
      references: (params.sources.references ?? defaults.references) ? params.references : [],
      passages,
      indexPrompt,
    });
    // "auto" tool calls run node-llama-cpp's LlamaChat, whose penalty window counts other tokens than ours: refused, not approximated.
    if (tools?.path === "auto" && sampling.logitBias)
      throw unsupported("logit_bias", "logit_bias is not served with tool_choice \"auto\" (name the function, or \"required\", or \"none\")");
    if (tools?.path === "auto" && hasPenalties(sampling)) {
      const field = sampling.repeatPenalty !== undefined ? "repeat_penalty" : sampling.frequencyPenalty ? "frequency_penalty" : "presence_penalty";
      throw unsupported(field, `penalties are not served with tool_choice "auto" (name the function, or "required", or "none")`);
    }
    if (params.stream && output.topLogprobs !== undefined && endpoint === "responses")
      throw new ApiError(400, "Unsupported 'top_logprobs': log probabilities are returned on non-streamed responses only; send stream: false", "top_logprobs", "unsupported_parameter");
    return {
      cacheAs,
      info,
      params,
      referenceOrigins,
      output,
      echo,
      engine: {
        prompt,
        maxTokens: params.maxTokens ?? roomLeft,
        stop,
        sampling: needsSampler(sampling) ? sampling : undefined,
        references,
        indexPrompt,
        indexOutput: params.sources.output ?? defaults.output,
        policy,
        exactness,
        ...(tools ? { tools } : {}),
      },
    };
  }

  /** The top passages for a request that asks for retrieval (`llma.retrieve`). */
  async function retrieve(top: number | undefined, query: string): Promise<Passage[]> {
    if (top === undefined) return [];
    if (!documents) throw new ApiError(400, "Invalid 'llma.retrieve': this server has no document store (start it with --docs DB)", "llma.retrieve", "invalid_value");
    try {
      const passages = await retrievePassages(documents, query, top);
      storeHealth.succeeded();
      return passages;
    } catch (error) {
      // The passages are the prompt's context: without them the answer would differ, so the request fails (503), it does not go on.
      storeHealth.failed("retrieve", error);
      throw new ApiError(503, `document store unavailable: ${(error as Error).message}`, null, "store_unavailable", "service_unavailable");
    }
  }

  /** Tokens the completion needs after the prompt when retrieval may drop passages: max_tokens, else at least one. */
  function room(maxTokens: number | undefined): number {
    return maxTokens ?? 1;
  }

  /**
   * Caches a finished greedy answer before the response ends, so the client's next request (on any
   * replica sharing the store) finds it; a cache that fails is warned about and counted, never the request's failure.
   */
  async function cacheAnswer(prepared: Prepared, result: EngineResult): Promise<void> {
    if (!answerCache || !prepared.cacheAs || result.mode !== "accelerated" || !worthCaching(result.text, result.finishReason === "abort")) return;
    try {
      await answerCache.put({ query: prepared.cacheAs.query, answer: result.text, tokens: result.tokens, model: modelName, tenant: prepared.cacheAs.tenant });
      storeHealth.succeeded();
    } catch (error) {
      storeHealth.failed("cache_write", error);
    }
  }

  /** A slot for this request, or the reason there is none (429 with Retry-After, 503 when shutting down). */
  async function acquire(signal: AbortSignal): Promise<Slot> {
    try {
      return await scheduler.acquire(signal);
    } catch (error) {
      if (error instanceof QueueFullError)
        throw new ApiError(429, error.message, null, "queue_full", "rate_limit_error", { "retry-after": String(metrics.retryAfterSeconds()) });
      if (error instanceof ApiError) throw error;
      throw new ApiError(503, (error as Error).message, null, "unavailable", "service_unavailable");
    }
  }

  async function handle(endpoint: Endpoint, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const prepared = await prepare(endpoint, request.body);
    const { params } = prepared;
    const constraints = await constraintsFor(model, prepared.output.responseFormat, prepared.output.topLogprobs);
    const accelerated =
      !needsPlainSampler(prepared.engine.sampling) && (!constraints || logprobsAfterDecoding(constraints, prepared.engine.sampling, params.stream)) && !prepared.engine.tools;
    const trace = params.trace ? new TraceRecorder(model, prepared.referenceOrigins, prepared.engine.prompt) : undefined;
    const onStep = trace && ((step: DecodeStep) => trace.record(step));

    // The client going away (or a drain running out of time) aborts the generation and frees the slot.
    const controller = new AbortController();
    const onShutdown = () => controller.abort(new Error("the server is shutting down"));
    shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    const onClose = () => {
      if (!reply.raw.writableFinished) controller.abort(new Error("the client closed the connection"));
    };
    reply.raw.once("close", onClose);
    try {
      const slot = await acquire(controller.signal);
      const started = performance.now();
      let result: EngineResult | undefined;
      let sequence: TokenSequence | undefined;
      try {
        sequence = await model.createSequence();
        const id = endpoint === "responses" ? responseId() : `${endpoint === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replace(/-/g, "")}`;
        const createdAt = Math.floor(Date.now() / 1000);
        const responseParts = prepared.echo ? { id, messageId: messageId(), createdAt, model: modelName, echo: prepared.echo } : undefined;
        if (!params.stream) {
          result = await runGeneration(accelerator, sequence, { ...prepared.engine, constraints, signal: controller.signal, onStep });
          // Cut short by a drain running out of time (a client that left gets nothing anyway).
          if (result.finishReason === "abort") throw shutDownError();
          await cacheAnswer(prepared, result);
          reply.header("x-llma-accelerated", String(accelerated));
          const info = trace ? { ...prepared.info, trace: trace.entries } : prepared.info;
          if (responseParts) return responseObject(responseParts, result, { ...stats(result), ...info });
          return completionObject(endpoint === "chat" ? "chat" : "completion", { id, createdAt, model: modelName }, result, info);
        }

        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          ...(reply.getHeaders() as OutgoingHttpHeaders), // CORS headers, set by the onRequest hook
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
          connection: closing ? "close" : "keep-alive",
          "x-accel-buffering": "no",
          "x-llma-accelerated": String(accelerated),
        });
        const send = (data: unknown) => {
          if (!res.destroyed && !res.writableEnded) res.write(`data: ${JSON.stringify(data)}\n\n`);
        };
        if (responseParts) {
          const events = new ResponsesEventStream(responseParts, (chunk) => {
            if (!res.destroyed && !res.writableEnded) res.write(chunk);
          });
          events.start();
          try {
            result = await runGeneration(accelerator, sequence!, { ...prepared.engine, constraints, signal: controller.signal, onText: (text) => events.delta(text) });
          } catch (error) {
            events.fail(new ApiError(500, `generation failed: ${(error as Error).message}`, null, "internal_error"));
            res.end();
            return reply;
          }
          if (result.finishReason === "abort") events.fail(shutDownError());
          else {
            await cacheAnswer(prepared, result);
            events.finish(result, { ...stats(result), ...prepared.info });
          }
          res.end();
          return reply;
        }
        const usageField = params.includeUsage ? { usage: null } : {};
        // The passes recorded since the last chunk ride on the next one (only when the request asked for them).
        const chunks = new CompletionChunks(endpoint === "chat" ? "chat" : "completion", { id, createdAt, model: modelName }, () => {
          const entries = trace?.take() ?? [];
          return { ...usageField, ...(entries.length > 0 ? { llma: { trace: entries } } : {}) };
        });
        const opening = chunks.opening();
        if (opening) send(opening);
        /** Text streamed so far (completions' logprobs text_offset counts from the start of the text). */
        let streamedText = "";
        try {
          result = await runGeneration(accelerator, sequence!, {
            ...prepared.engine,
            constraints,
            signal: controller.signal,
            onStep,
            onText: (text, entries) => {
              send(chunks.text(text, entries, streamedText.length));
              streamedText += text;
            },
          });
        } catch (error) {
          send(new ApiError(500, `generation failed: ${(error as Error).message}`, null, "internal_error").toJSON());
          res.end();
          return reply;
        }
        if (result.finishReason === "abort") send(shutDownError().toJSON());
        else {
          await cacheAnswer(prepared, result);
          if (result.toolCalls) send(chunks.toolCalls(result));
          send(chunks.finish(result));
          if (params.includeUsage) send(chunks.usage(result));
          if (!res.destroyed && !res.writableEnded) res.write("data: [DONE]\n\n");
        }
        res.end();
        return reply;
      } finally {
        sequence?.dispose();
        slot.release();
        if (result) metrics.recordGeneration({ ...result, generatedTokens: result.completionTokens }, (performance.now() - started) / 1000);
      }
    } finally {
      shutdown.signal.removeEventListener("abort", onShutdown);
      reply.raw.removeListener("close", onClose);
    }
  }

  app.post("/v1/chat/completions", (request, reply) => handle("chat", request, reply));
  app.post("/v1/completions", (request, reply) => handle("completion", request, reply));
  app.post("/v1/responses", (request, reply) => handle("responses", request, reply));

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

function shutDownError(): ApiError {
  return new ApiError(503, "the server shut down before this generation finished; retry", null, "shutting_down", "service_unavailable");
}
