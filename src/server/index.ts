/**
 * llma/server: the OpenAI-compatible server (fastify), apart from the root so `import "llma"` does not
 * load it. The types of its OpenAI extensions, for clients, are in `llma/openai`.
 */
export { buildApp, DEFAULT_QUEUE, DEFAULT_DRAIN_MS, type ServerOptions, type LlmaServer } from "./app.js";
