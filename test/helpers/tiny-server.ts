/**
 * The in-process server most server tests talk to: the tiny test model (1 thread, 1 sequence), the
 * paper's policy, listening on a free loopback port, and an official `openai` client for it (no
 * retries). Registers the file's beforeAll/afterAll; `onStarted` receives the three once they exist.
 */
import OpenAI from "openai";
import { afterAll, beforeAll } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { buildApp, type LlmaServer } from "../../src/server/app.js";

export interface TinyServer {
  readonly model: LlamaCppModel;
  readonly server: LlmaServer;
  readonly client: OpenAI;
}

export function useTinyServer(onStarted: (started: TinyServer) => void): void {
  let started: Partial<TinyServer> = {};
  beforeAll(async () => {
    const path = await ensureModel({ shape: "tiny", quant: "Q8_0" });
    const model = await LlamaCppModel.load({ model: path, threads: 1, sequences: 1 });
    started = { model };
    const server = buildApp({ model, modelName: "tiny", policy: "paper" });
    started = { model, server };
    const url = await server.listen({ host: "127.0.0.1", port: 0 });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0 });
    started = { model, server, client };
    onStarted(started as TinyServer);
  }, 120_000);
  afterAll(async () => {
    await started.server?.close(1000);
    await started.model?.dispose();
  });
}
