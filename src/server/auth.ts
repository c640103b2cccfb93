/**
 * `--api-key`: every request needs `Authorization: Bearer KEY`, except the liveness probe (`GET /health`,
 * which load balancers call without credentials), the playground page, and CORS preflights (browsers
 * never send credentials on them; @fastify/cors answers them in onRequest, before this check runs).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError } from "./errors.js";

/**
 * Routes anyone may call (GET and the HEAD fastify adds for it): the liveness probe, and the playground
 * page (`/` and its files under `/ui/`), which holds no data and asks for the key itself.
 */
const PUBLIC_ROUTES: readonly string[] = ["/health", "/"];
const PUBLIC_PREFIX = "/ui/";

export function requireApiKey(app: FastifyInstance, apiKey: string): void {
  if (apiKey.length === 0) throw new RangeError("the API key must not be empty");
  if (/\s/.test(apiKey)) throw new RangeError("the API key must not contain whitespace (it travels as 'Authorization: Bearer KEY')");
  const expected = digest(apiKey);
  // preParsing, not onRequest: CORS headers (set in onRequest) are on the 401 too, so a browser app can
  // read it, and the body of a refused request is never parsed.
  app.addHook("preParsing", async (request, _reply, payload) => {
    if (isPublic(request)) return payload;
    const presented = bearerToken(request.headers.authorization);
    if (presented === undefined)
      throw unauthorized("You didn't provide an API key. This server needs the header 'Authorization: Bearer KEY' (the key given to llma serve --api-key or LLMA_API_KEY).");
    // Digests of equal length: timingSafeEqual's time does not depend on where (or whether) the keys differ.
    if (!timingSafeEqual(digest(presented), expected)) throw unauthorized("Incorrect API key provided.");
    return payload;
  });
}

function isPublic(request: FastifyRequest): boolean {
  // routeOptions.url is the matched route's pattern: undefined for unknown URLs, which stay guarded.
  const route = request.routeOptions.url;
  return (request.method === "GET" || request.method === "HEAD") && route !== undefined && (PUBLIC_ROUTES.includes(route) || route.startsWith(PUBLIC_PREFIX));
}

/** The token of `Authorization: Bearer TOKEN` (scheme case-insensitive), or undefined when there is none. */
function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}

function digest(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, message, null, "invalid_api_key", "invalid_request_error", { "www-authenticate": 'Bearer realm="llma"' });
}
