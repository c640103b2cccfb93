/**
 * The library's chat entry point: messages rendered through the model's own chat template (the same
 * renderer as the server's /v1/chat/completions), then generate() as for a prompt.
 */
import type { DecodeResult } from "../core/decoder.js";
import { generate } from "../core/generate.js";
import type { GenerateRequest } from "../core/request.js";
import { ChatRenderer, type ChatMessage } from "./chat-template.js";
import type { LlamaCppModel } from "./llama-cpp.js";

export interface ChatRequest extends Omit<GenerateRequest, "prompt" | "target"> {
  /** The conversation so far; the answer is the next assistant turn. */
  readonly messages: readonly ChatMessage[];
}

/** Generates the assistant's answer to `messages`; the template's own plain-text stop strings are added to `stop`. */
export async function chat(model: LlamaCppModel, request: ChatRequest): Promise<DecodeResult> {
  if ("prompt" in request) throw new Error("chat() takes `messages`, not `prompt` (use generate() for a prompt)");
  if ("target" in request) throw new Error("chat() does not take `target` (use generate() with the rendered prompt for target-oriented decoding)");
  const { messages, ...rest } = request;
  const rendered = new ChatRenderer(model).render(messages);
  return generate(model, { ...rest, prompt: rendered.tokens, stop: [...new Set([...(request.stop ?? []), ...rendered.stop])] });
}
