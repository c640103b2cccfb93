/**
 * Chat messages -> prompt tokens, with the model's own chat template (node-llama-cpp's chat wrapper for
 * the GGUF: a specialized wrapper when it recognises the template, else the GGUF's Jinja template). The
 * assistant turn is left open so generation writes the answer. Used by the server's chat endpoint and
 * by the library's chat() (./chat.ts).
 */
import { resolveChatWrapper, type ChatHistoryItem, type ChatModelFunctions, type ChatWrapper, type LlamaModel, type LlamaText } from "node-llama-cpp";
import type { LlamaCppModel } from "./llama-cpp.js";

/** One chat message, as OpenAI's chat API has it (text content only). */
export interface ChatMessage {
  readonly role: "system" | "developer" | "user" | "assistant";
  readonly content: string;
}

export interface RenderedChat {
  /** Prompt tokens, BOS first when the model wants one. */
  readonly tokens: number[];
  /** Plain-text stop triggers of the template (special-token ends are the model's EOG tokens). */
  readonly stop: readonly string[];
}

/** resolveChatWrapper compares the GGUF's template with every specialized wrapper (seconds): once per model. */
const wrappers = new WeakMap<LlamaModel, ChatWrapper>();
function chatWrapperOf(model: LlamaModel): ChatWrapper {
  let wrapper = wrappers.get(model);
  if (!wrapper) wrappers.set(model, (wrapper = resolveChatWrapper(model)));
  return wrapper;
}

export class ChatRenderer {
  readonly wrapper: ChatWrapper;

  constructor(private readonly model: LlamaCppModel, wrapper?: ChatWrapper) {
    this.wrapper = wrapper ?? chatWrapperOf(model.model);
  }

  /** The wrapper's name (e.g. "JinjaTemplate", "Llama 3.1"). */
  get name(): string {
    return this.wrapper.wrapperName;
  }

  /** Text-only messages -> prompt tokens (the library's chat(); the server's tool messages go through renderHistory). */
  render(messages: readonly ChatMessage[], functions?: ChatModelFunctions): RenderedChat {
    if (!Array.isArray(messages) || messages.length === 0) throw new Error("messages must be a non-empty array of { role, content }");
    const chatHistory: ChatHistoryItem[] = messages.map((message, i): ChatHistoryItem => {
      if (typeof message?.content !== "string") throw new TypeError(`messages[${i}].content must be a string, got ${message?.content === null ? "null" : typeof message?.content}`);
      switch (message.role) {
        case "system":
        case "developer":
          return { type: "system", text: message.content };
        case "user":
          return { type: "user", text: message.content };
        case "assistant":
          return { type: "model", response: [message.content] };
        default:
          throw new Error(`messages[${i}].role ${JSON.stringify((message as { role?: unknown }).role)} is not one of system, developer, user, assistant`);
      }
    });
    chatHistory.push({ type: "model", response: [] }); // the open assistant turn
    return this.renderHistory(chatHistory, functions);
  }

  /** A node-llama-cpp chat history (its last item the open assistant turn) -> prompt tokens; `functions` documented as the wrapper does it. */
  renderHistory(chatHistory: ChatHistoryItem[], functions?: ChatModelFunctions): RenderedChat {
    const state = this.wrapper.generateContextState({ chatHistory, availableFunctions: functions, documentFunctionParams: true });
    return { tokens: this.tokenize(state.contextText), stop: plainTextTriggers(state.stopGenerationTriggers) };
  }

  /** The rendered text of a chat history (its last item the open assistant turn). */
  contextText(chatHistory: ChatHistoryItem[], functions?: ChatModelFunctions): LlamaText {
    return this.wrapper.generateContextState({ chatHistory, availableFunctions: functions, documentFunctionParams: true }).contextText;
  }

  /** Tokens of rendered text, BOS first when the model wants one. */
  tokenize(text: LlamaText): number[] {
    const tokens = text.tokenize(this.model.model.tokenizer) as number[];
    const bos = this.model.model.tokens.bos;
    // As llama.cpp's server does: templates that do not write BOS themselves still get one.
    if (bos != null && this.model.model.tokens.shouldPrependBosToken && tokens[0] !== bos) tokens.unshift(bos);
    return tokens;
  }
}

/** Stop triggers made only of ordinary text (e.g. "\n\n### Human:"); token triggers end generation as EOG tokens. */
function plainTextTriggers(triggers: readonly LlamaText[]): string[] {
  const stops = new Set<string>();
  for (const trigger of triggers) {
    const values = trigger.values;
    if (values.length > 0 && values.every((value) => typeof value === "string")) {
      const text = values.join("");
      if (text.length > 0) stops.add(text);
    }
  }
  return [...stops];
}
