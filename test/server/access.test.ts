/**
 * Access control: `--api-key` (401 in OpenAI's shape for a wrong or missing key, GET /health open, the
 * server keeps serving) and `--cors` (a real preflight, headers on answers, streams and 401s; none
 * without --cors). Client: the official `openai` package and fetch with browser-like headers.
 */
import OpenAI, { AuthenticationError } from "openai";
import type { ChatCompletionCreateParamsStreaming } from "openai/resources";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { resolveAccessOptions } from "../../src/server/access-options.js";
import { buildApp, type LlmaServer } from "../../src/server/app.js";
import { validateCorsOrigins } from "../../src/server/cors.js";

const KEY = "sk-llma-test-0123456789";
const ORIGIN = "https://app.example.com";

let model: LlamaCppModel;
/** --api-key KEY --cors ORIGIN */
let guarded: LlmaServer;
let guardedUrl: string;
/** Neither. */
let open: LlmaServer;
let openUrl: string;

const chatBody = { model: "tiny", messages: [{ role: "user" as const, content: "Hi" }], max_tokens: 4 };

function preflight(url: string, origin = ORIGIN) {
  return fetch(`${url}/v1/chat/completions`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
  });
}

beforeAll(async () => {
  const path = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  model = await LlamaCppModel.load({ model: path, threads: 1, sequences: 2 });
  guarded = buildApp({ model, modelName: "tiny", parallel: 1, policy: "paper", apiKey: KEY, corsOrigins: [ORIGIN] });
  guardedUrl = await guarded.listen({ host: "127.0.0.1", port: 0 });
  open = buildApp({ model, modelName: "tiny", parallel: 1, policy: "paper" });
  openUrl = await open.listen({ host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await guarded?.close(1000);
  await open?.close(1000);
  await model?.dispose();
});

describe("--api-key", () => {
  it("a wrong key is openai.AuthenticationError (401, invalid_api_key); the right key works, and the server keeps serving", async () => {
    const wrong = new OpenAI({ baseURL: `${guardedUrl}/v1`, apiKey: "sk-wrong", maxRetries: 0 });
    const error = await wrong.chat.completions.create(chatBody).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).status).toBe(401);
    expect((error as AuthenticationError).code).toBe("invalid_api_key");
    expect((error as AuthenticationError).type).toBe("invalid_request_error");
    await expect(wrong.models.list()).rejects.toBeInstanceOf(AuthenticationError);
    // A key of another length, and a prefix of the right one: refused too.
    for (const apiKey of [KEY.slice(0, -1), `${KEY}x`, KEY.toUpperCase()])
      await expect(new OpenAI({ baseURL: `${guardedUrl}/v1`, apiKey, maxRetries: 0 }).models.list()).rejects.toBeInstanceOf(AuthenticationError);

    const right = new OpenAI({ baseURL: `${guardedUrl}/v1`, apiKey: KEY, maxRetries: 0 });
    const answer = await right.chat.completions.create(chatBody);
    expect(answer.usage?.completion_tokens).toBeGreaterThan(0);
    expect((await right.models.list()).data.map((m) => m.id)).toEqual(["tiny"]);
  });

  it("a missing key is a 401 in OpenAI's error shape on every route but GET /health and the playground; /metrics needs the key and counts the 401s", async () => {
    for (const [method, route] of [
      ["POST", "/v1/chat/completions"],
      ["POST", "/v1/completions"],
      ["GET", "/v1/models"],
      ["GET", "/metrics"],
      ["GET", "/no-such-route"],
    ] as const) {
      const response = await fetch(`${guardedUrl}${route}`, {
        method,
        headers: { "content-type": "application/json" },
        body: method === "POST" ? JSON.stringify(chatBody) : undefined,
      });
      expect(response.status, `${method} ${route}`).toBe(401);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const json = (await response.json()) as { error: Record<string, unknown> };
      expect(Object.keys(json.error).sort()).toEqual(["code", "message", "param", "type"]);
      expect(json.error).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key", param: null });
      expect(json.error.message).toMatch(/Authorization: Bearer/);
    }
    // Not a bearer token: refused.
    const basic = await fetch(`${guardedUrl}/v1/models`, { headers: { authorization: `Basic ${Buffer.from(`u:${KEY}`).toString("base64")}` } });
    expect(basic.status).toBe(401);

    // The playground page and its files load without the key (the page asks for it).
    for (const route of ["/", "/ui/app.js", "/ui/style.css"]) expect((await fetch(`${guardedUrl}${route}`)).status, route).toBe(200);

    const health = await fetch(`${guardedUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok" });

    const metrics = await fetch(`${guardedUrl}/metrics`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^llma_requests_total\{endpoint="\/v1\/chat\/completions",status="401"\} [1-9]/m);

    // The server without --api-key needs no key.
    expect((await fetch(`${openUrl}/v1/models`)).status).toBe(200);
  });
});

describe("--cors", () => {
  it("answers a browser preflight (no key needed) with the allowed origin, method and headers; other origins get none", async () => {
    const response = await preflight(guardedUrl);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(response.headers.get("access-control-allow-methods")).toMatch(/\bPOST\b/);
    const allowed = (response.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/\s*,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(["authorization", "content-type"]));
    expect(response.headers.get("vary")).toMatch(/origin/i);

    const stranger = await preflight(guardedUrl, "https://evil.example.org");
    expect(stranger.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("answers, streams and 401s carry the CORS headers (so a browser can read them)", async () => {
    const headers = { origin: ORIGIN, "content-type": "application/json" };
    const refused = await fetch(`${guardedUrl}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify(chatBody) });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("access-control-allow-origin")).toBe(ORIGIN);

    const authorized = { ...headers, authorization: `Bearer ${KEY}` };
    const answer = await fetch(`${guardedUrl}/v1/chat/completions`, { method: "POST", headers: authorized, body: JSON.stringify(chatBody) });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(answer.headers.get("access-control-expose-headers")).toMatch(/x-llma-accelerated/);

    const stream = await fetch(`${guardedUrl}/v1/chat/completions`, {
      method: "POST",
      headers: authorized,
      body: JSON.stringify({ ...chatBody, stream: true } satisfies ChatCompletionCreateParamsStreaming),
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(stream.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(await stream.text()).toMatch(/data: \[DONE\]\n\n$/);
  });

  it("without --cors: no CORS headers, on a preflight or an answer", async () => {
    const response = await preflight(openUrl);
    expect(response.status).toBe(404);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    const answer = await fetch(`${openUrl}/v1/models`, { headers: { origin: ORIGIN } });
    expect(answer.status).toBe(200);
    expect([...answer.headers.keys()].filter((name) => name.startsWith("access-control-"))).toEqual([]);
  });
});

describe("the flags", () => {
  it("--api-key, else LLMA_API_KEY; an empty key or one with whitespace is an error naming its source", () => {
    expect(resolveAccessOptions({ env: {} })).toEqual({});
    expect(resolveAccessOptions({ env: { LLMA_API_KEY: "from-env" } }).apiKey).toBe("from-env");
    expect(resolveAccessOptions({ apiKey: "flag", env: { LLMA_API_KEY: "from-env" } }).apiKey).toBe("flag");
    expect(() => resolveAccessOptions({ apiKey: "", env: {} })).toThrow(/--api-key is empty/);
    expect(() => resolveAccessOptions({ env: { LLMA_API_KEY: "" } })).toThrow(/LLMA_API_KEY is empty/);
    expect(() => resolveAccessOptions({ apiKey: "two words", env: {} })).toThrow(/--api-key must not contain whitespace/);
  });

  it("--cors takes comma lists and repeats; a path, a bare host or * with others is an error naming the value", () => {
    expect(resolveAccessOptions({ cors: ["https://a.example, http://localhost:5173", "https://b.example"], env: {} }).corsOrigins).toEqual([
      "https://a.example",
      "http://localhost:5173",
      "https://b.example",
    ]);
    expect(resolveAccessOptions({ cors: ["*"], env: {} }).corsOrigins).toEqual(["*"]);
    expect(() => resolveAccessOptions({ cors: ["https://a.example/app"], env: {} })).toThrow(/--cors: invalid CORS origin "https:\/\/a.example\/app"/);
    expect(() => resolveAccessOptions({ cors: ["a.example"], env: {} })).toThrow(/invalid CORS origin "a.example"/);
    expect(() => resolveAccessOptions({ cors: ["https://a.example,"], env: {} })).toThrow(/--cors: an empty origin/);
    expect(() => resolveAccessOptions({ cors: ["*,https://a.example"], env: {} })).toThrow(/give it alone/);
    expect(() => validateCorsOrigins([])).toThrow(/at least one origin/);
    expect(() => buildApp({ model, apiKey: "" })).toThrow(/must not be empty/);
  });
});
