/**
 * One generation request from start to end: prepare it (requests.ts), wait for a slot, decode on the
 * model's accelerator (engine.ts), and write the reply: a JSON object, or server-sent events (chat and
 * completion chunks, or the Responses API's events). The client leaving, or a drain running out of
 * time, aborts the generation and frees the slot.
 */
import { randomUUID } from "node:crypto";
import type { OutgoingHttpHeaders } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import type { Accelerator } from "../core/accelerator.js";
import type { DecodeStep } from "../core/decoder.js";
import type { TokenSequence } from "../core/model.js";
import { needsPlainSampler, runGeneration, type EngineResult } from "./engine.js";
import { ApiError } from "./errors.js";
import type { Metrics } from "./metrics.js";
import { QueueFullError, type Scheduler, type Slot } from "./scheduler.js";
import { TraceRecorder } from "./trace.js";
import { constraintsFor, logprobsAfterDecoding } from "./constrained.js";
import { messageId, responseId, responseObject, ResponsesEventStream } from "./responses.js";
import { CompletionChunks, completionObject, stats } from "./replies.js";
import type { Endpoint, RequestPreparer } from "./requests.js";

export interface GenerationContext {
  readonly model: LlamaCppModel;
  readonly accelerator: Accelerator<LlamaCppModel>;
  readonly modelName: string;
  readonly preparer: RequestPreparer;
  readonly scheduler: Scheduler;
  readonly metrics: Metrics;
  /** Aborted when a drain runs out of time: every generation still running stops. */
  readonly shutdown: AbortSignal;
  /** Whether the server is draining (streams then ask the client to close the connection). */
  closing(): boolean;
}

/** The handler of POST /v1/chat/completions, /v1/completions and /v1/responses. */
export class GenerationRoute {
  constructor(readonly context: GenerationContext) {}

  async handle(endpoint: Endpoint, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
      const { model, accelerator, modelName, preparer, metrics, shutdown } = this.context;
    const prepared = await preparer.prepare(endpoint, request.body);
    const { params } = prepared;
    const constraints = await constraintsFor(model, prepared.output.responseFormat, prepared.output.topLogprobs);
    const accelerated =
      !needsPlainSampler(prepared.engine.sampling) && (!constraints || logprobsAfterDecoding(constraints, prepared.engine.sampling, params.stream)) && !prepared.engine.tools;
    const trace = params.trace ? new TraceRecorder(model, prepared.referenceOrigins, prepared.engine.prompt) : undefined;
    const onStep = trace && ((step: DecodeStep) => trace.record(step));

    // The client going away (or a drain running out of time) aborts the generation and frees the slot.
    const controller = new AbortController();
    const onShutdown = () => controller.abort(new Error("the server is shutting down"));
    shutdown.addEventListener("abort", onShutdown, { once: true });
    const onClose = () => {
      if (!reply.raw.writableFinished) controller.abort(new Error("the client closed the connection"));
    };
    reply.raw.once("close", onClose);
    try {
      const slot = await this.acquire(controller.signal);
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
          await preparer.cacheAnswer(prepared, result);
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
          connection: this.context.closing() ? "close" : "keep-alive",
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
            await preparer.cacheAnswer(prepared, result);
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
          await preparer.cacheAnswer(prepared, result);
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
      shutdown.removeEventListener("abort", onShutdown);
      reply.raw.removeListener("close", onClose);
    }
  }

  /** A slot for this request, or the reason there is none (429 with Retry-After, 503 when shutting down). */
  private async acquire(signal: AbortSignal): Promise<Slot> {
    const { scheduler, metrics } = this.context;
    try {
      return await scheduler.acquire(signal);
    } catch (error) {
      if (error instanceof QueueFullError)
        throw new ApiError(429, error.message, null, "queue_full", "rate_limit_error", { "retry-after": String(metrics.retryAfterSeconds()) });
      if (error instanceof ApiError) throw error;
      throw new ApiError(503, (error as Error).message, null, "unavailable", "service_unavailable");
    }
  }
}

export function shutDownError(): ApiError {
  return new ApiError(503, "the server shut down before this generation finished; retry", null, "shutting_down", "service_unavailable");
}
