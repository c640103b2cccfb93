/**
 * From an OpenAI request body to what the engine runs: the request is parsed (schemas.ts), its prompt
 * rendered and fitted with the retrieved passages (rag/planner.ts, the planner `llma rag` uses too), its
 * limits checked against the context, its sampling settled, and its references ordered (prediction,
 * cached answers, the request's own, passages). The finished greedy answer is written back to the
 * answer cache here too. Routes and response writing are elsewhere (app.ts, generation-route.ts).
 */
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import type { ChatRenderer } from "../backends/chat-template.js";
import type { ExactnessMode } from "../core/exactness.js";
import type { PolicyName } from "../core/request.js";
import { hasPenalties, needsSampler, type EngineRequest, type EngineResult, type Sampling } from "./engine.js";
import { ApiError, unsupported } from "./errors.js";
import type { StoreHealth } from "./store-health.js";
import { functionsOf, toChatHistory, toolPath } from "./tools.js";
import { translateResponsesRequest, type ResponsesEcho } from "./responses.js";
import { parseChatRequest, parseCompletionRequest, type GenerationParams, type OutputOptions } from "./schemas.js";
import { DEFAULT_TENANT, type CachedAnswer } from "../store/answers.js";
import type { AnswerStore, PassageStore } from "../store/backend.js";
import type { Passage } from "../store/documents.js";
import { lookUpAnswers, retrievePassages, worthCaching } from "../rag/answer.js";
import { fitPrompt, orderReferences, queryFrame, textFrame, withDocs, type ReferenceOrigin } from "../rag/planner.js";

export type Endpoint = "chat" | "completion" | "responses";

/** What a request's `llma` switches default to when it does not set them (the server's options). */
export interface SourceDefaults {
  readonly temperature: number;
  readonly conversation: boolean;
  readonly prediction: boolean;
  readonly references: boolean;
  readonly output: boolean;
  readonly cache: boolean;
}

/** What preparing a request needs from the server: the model and its template, the defaults, the stores. */
export interface RequestContext {
  readonly model: LlamaCppModel;
  readonly chat: ChatRenderer;
  /** The id responses carry, and the model the answer cache keys on. */
  readonly modelName: string;
  readonly policy: PolicyName;
  readonly exactness: ExactnessMode;
  readonly defaults: SourceDefaults;
  /** The model's vocabulary size, to reject logit_bias entries past it (undefined: not checked). */
  readonly vocabularySize?: number;
  readonly answerCache?: AnswerStore;
  /** Cached answers used as references per request (undefined: the store's default). */
  readonly cacheTop?: number;
  readonly documents?: PassageStore;
  /** Store failures are counted and warned about here; only a failed retrieval fails its request. */
  readonly storeHealth: StoreHealth;
}

export interface PreparedRequest {
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

/** Prepares the requests of one server (one model): stateless apart from the context it is given. */
export class RequestPreparer {
  constructor(readonly context: RequestContext) {}

  /** Validated request -> prompt tokens, limits, sampling and reference sources. */
  async prepare(endpoint: Endpoint, body: unknown): Promise<PreparedRequest> {
    const { model, chat, defaults, answerCache, modelName, policy, exactness, vocabularySize, storeHealth, cacheTop } = this.context;
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
      const fitted = fitPrompt(model, (docs) => chat.renderHistory(toChatHistory(withDocs(request.messages, docs)), functions), await this.retrieve(request.retrieveTop, query), room(request.maxTokens));
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
      const fitted = fitPrompt(model, frame, await this.retrieve(request.retrieveTop, query), room(request.maxTokens));
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
    const info: PreparedRequest["info"] = {};
    if (params.retrieveTop !== undefined) info.sources = passages.map((p) => ({ source: p.source, score: Math.round(p.score * 1000) / 1000 }));
    // The answer cache serves greedy requests only: it holds what greedy decoding answered.
    let cacheAs: PreparedRequest["cacheAs"];
    let cached: CachedAnswer[] = [];
    if (answerCache && (params.sources.cache ?? defaults.cache) && !needsSampler(sampling) && query.trim() !== "") {
      const tenant = params.tenant ?? DEFAULT_TENANT;
      try {
        cached = await lookUpAnswers(answerCache, query, { tenant, model: modelName, top: cacheTop });
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
  private async retrieve(top: number | undefined, query: string): Promise<Passage[]> {
    const { documents, storeHealth } = this.context;
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

  /**
   * Caches a finished greedy answer before the response ends, so the client's next request (on any
   * replica sharing the store) finds it; a cache that fails is warned about and counted, never the request's failure.
   */
  async cacheAnswer(prepared: PreparedRequest, result: EngineResult): Promise<void> {
    const { answerCache, modelName, storeHealth } = this.context;
    if (!answerCache || !prepared.cacheAs || result.mode !== "accelerated" || !worthCaching(result.text, result.finishReason === "abort")) return;
    try {
      await answerCache.put({ query: prepared.cacheAs.query, answer: result.text, tokens: result.tokens, model: modelName, tenant: prepared.cacheAs.tenant });
      storeHealth.succeeded();
    } catch (error) {
      storeHealth.failed("cache_write", error);
    }
  }
}

/** Tokens the completion needs after the prompt when retrieval may drop passages: max_tokens, else at least one. */
function room(maxTokens: number | undefined): number {
  return maxTokens ?? 1;
}
