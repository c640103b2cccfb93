/**
 * `llma serve` as a process: it listens on the port it prints, answers the openai client, and on
 * SIGTERM stops accepting, lets the in-flight stream finish (or aborts it after --drain-timeout) and
 * exits 0.
 */
import OpenAI, { APIError, AuthenticationError } from "openai";
import type { Completion, CompletionCreateParamsStreaming } from "openai/resources";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ensureBuilt, llma } from "../helpers/cli.js";
import { killServers, startServe, type ServedProcess } from "../helpers/serve.js";

let model: string;

beforeAll(async () => {
  ensureBuilt();
  model = await ensureModel({ shape: "tiny", quant: "Q8_0" });
});

afterEach(() => killServers());

/** Starts `llma serve` on a free port and waits for its "listening on" line. */
function serve(...args: string[]): Promise<ServedProcess> {
  return serveWithEnv({}, ...args);
}

function serveWithEnv(env: Record<string, string>, ...args: string[]): Promise<ServedProcess> {
  return startServe(["serve", "--model", model, "--port", "0", "--threads", "1", ...args], { env, timeoutMs: 60_000 });
}

function streamCompletion(client: OpenAI, maxTokens: number) {
  return client.completions.create({
    model: "tiny",
    prompt: "Once upon a time",
    max_tokens: maxTokens,
    stream: true,
    stream_options: { include_usage: true },
  } as CompletionCreateParamsStreaming);
}

describe("llma serve (process)", () => {
  it("drains an in-flight stream on SIGTERM, refuses new work, exits 0", async () => {
    const served = await serve("--parallel", "1", "--policy", "paper");
    const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: "x", maxRetries: 0 });
    expect((await client.models.list()).data[0].id).toMatch(/^tiny-Q8_0/);

    const stream = await streamCompletion(client, 600);
    const chunks: Completion[] = [];
    for await (const chunk of stream) {
      if (chunks.length === 0) served.child.kill("SIGTERM");
      chunks.push(chunk);
      if (chunks.length === 1) {
        // Once the drain has begun, a new request is refused (503, or the listener is already closed).
        await expect.poll(() => served.stderr()).toMatch(/SIGTERM: draining/);
        const status = await fetch(`${served.url}/health`).then(
          (response) => response.status,
          () => "refused",
        );
        expect([503, "refused"]).toContain(status);
      }
    }
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(600);
    expect(chunks.filter((c) => c.choices[0]?.finish_reason).map((c) => c.choices[0].finish_reason)).toEqual(["length"]);
    expect(await served.exited).toBe(0);
    expect(served.stderr()).toMatch(/SIGTERM: draining \(1 generating/);
    expect(served.stderr()).toMatch(/llma serve: stopped/);
  });

  it("aborts what is left after --drain-timeout", async () => {
    const served = await serve("--parallel", "1", "--policy", "paper", "--drain-timeout", "200");
    const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: "x", maxRetries: 0 });
    const stream = await streamCompletion(client, 2000);
    const chunks: Completion[] = [];
    const started = Date.now();
    let failure: unknown;
    try {
      for await (const chunk of stream) {
        if (chunks.length === 0) served.child.kill("SIGTERM");
        chunks.push(chunk);
      }
    } catch (error) {
      failure = error; // the stream's error event
    }
    expect(chunks.some((c) => c.choices[0]?.finish_reason)).toBe(false);
    expect(failure).toBeInstanceOf(APIError);
    expect((failure as APIError).message).toMatch(/shut down before this generation finished/);
    expect(await served.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000); // not the 2,000 tokens' time on a loaded machine, either
  });

  it("LLMA_API_KEY guards every route but /health; --cors answers preflights", async () => {
    const origin = "http://localhost:5173";
    const served = await serveWithEnv({ LLMA_API_KEY: "sk-from-env" }, "--parallel", "1", "--policy", "paper", "--cors", origin);
    expect(served.stderr()).toMatch(/API key required, CORS for http:\/\/localhost:5173\)/);
    expect(served.stderr()).not.toMatch(/sk-from-env/);
    const refused = await new OpenAI({ baseURL: `${served.url}/v1`, apiKey: "x", maxRetries: 0 }).models.list().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AuthenticationError);
    const models = await new OpenAI({ baseURL: `${served.url}/v1`, apiKey: "sk-from-env", maxRetries: 0 }).models.list();
    expect(models.data).toHaveLength(1);
    expect((await fetch(`${served.url}/health`)).status).toBe(200);
    const preflight = await fetch(`${served.url}/v1/completions`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
    served.child.kill("SIGTERM");
    expect(await served.exited).toBe(0);
  });

  it("explains itself and rejects bad options", () => {
    const help = llma("serve", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Example/);
    expect(help.stdout).toMatch(/--no-conversation-references/);
    const bad = llma("serve", "--model", model, "--parallel", "0");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--parallel must be between 1 and 256, got 0/);
    const policy = llma("serve", "--model", model, "--policy", "fast");
    expect(policy.code).not.toBe(0);
    expect(policy.stderr).toMatch(/unknown --policy "fast"/);
    expect(help.stdout).toMatch(/--api-key <key>/);
    expect(help.stdout).toMatch(/--cors <origins>/);
    const cors = llma("serve", "--model", model, "--cors", "localhost:5173");
    expect(cors.code).not.toBe(0);
    expect(cors.stderr).toMatch(/--cors: invalid CORS origin "localhost:5173"/);
    const key = llma("serve", "--model", model, "--api-key", "");
    expect(key.code).not.toBe(0);
    expect(key.stderr).toMatch(/--api-key is empty/);
  });
});
