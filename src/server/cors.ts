/**
 * `--cors ORIGIN`: lets browser front-ends on those origins call the server (off by default: without
 * it no response carries CORS headers and browsers refuse cross-origin calls).
 */
import cors from "@fastify/cors";
import type { FastifyInstance } from "fastify";

/** The origins as given (`*`: any), validated: each is `*` or a bare origin `scheme://host[:port]`. */
export function validateCorsOrigins(origins: readonly string[]): readonly string[] {
  if (origins.length === 0) throw new RangeError("CORS needs at least one origin (or *)");
  for (const origin of origins) {
    if (origin === "*") continue;
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    // An origin is exactly what a browser sends in the Origin header: no path, no trailing slash.
    if (!parsed || parsed.origin === "null" || parsed.origin !== origin)
      throw new RangeError(`invalid CORS origin ${JSON.stringify(origin)}: give * or an origin like https://app.example.com or http://localhost:5173 (scheme, host, optional port; no path)`);
  }
  if (origins.includes("*") && origins.length > 1) throw new RangeError(`CORS origin * allows every origin: give it alone, not with ${origins.filter((o) => o !== "*").join(", ")}`);
  return origins;
}

export function enableCors(app: FastifyInstance, origins: readonly string[]): void {
  validateCorsOrigins(origins);
  void app.register(cors, {
    origin: origins.includes("*") ? "*" : [...origins],
    methods: ["GET", "HEAD", "POST"],
    // Browsers may read these on a cross-origin response (llma's header and the 429's back-off).
    exposedHeaders: ["x-llma-accelerated", "retry-after"],
    maxAge: 600,
  });
}
