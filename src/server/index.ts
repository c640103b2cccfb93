/** llma/server: the OpenAI-compatible server (fastify), apart from the root so `import "llma"` does not load it. */
export { buildApp, DEFAULT_QUEUE, DEFAULT_DRAIN_MS, type ServerOptions, type LlmaServer } from "./app.js";
export type * from "./openai-types.js";
