/**
 * The playground page (`GET /`, switch: `llma serve --no-ui`): plain HTML, CSS and JS from
 * src/server/ui, shipped as they are (no build step, nothing fetched from the network: the page's
 * Content-Security-Policy allows this origin only).
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";

const FILES = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/ui/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/ui/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
} as const;

/** Everything from this origin, nothing from anywhere else (inline scripts and styles included: there are none). */
const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * The folder of the page's files. Run from source (tests, tsx) it sits beside this module; compiled,
 * this module is dist/src/server/ui-route.js and the files ship unchanged in src/server/ui (package.json
 * "files"), so tsc needs no copy step.
 */
export function uiDirectory(): string {
  const candidates = [new URL("./ui/", import.meta.url), new URL("../../../src/server/ui/", import.meta.url)].map((url) => fileURLToPath(url));
  const found = candidates.find((dir) => existsSync(`${dir}index.html`));
  if (!found) throw new Error(`the playground's files are missing: looked for index.html in ${candidates.join(" and ")} (reinstall llma, or start the server with --no-ui)`);
  return found;
}

/** Serves the playground; the files are read once, when the server is built. */
export function registerPlayground(app: FastifyInstance): void {
  const dir = uiDirectory();
  for (const [path, { file, type }] of Object.entries(FILES)) {
    const body = readFileSync(`${dir}${file}`);
    app.get(path, async (_request, reply) =>
      reply.type(type).header("content-security-policy", CONTENT_SECURITY_POLICY).header("cache-control", "no-cache").header("x-content-type-options", "nosniff").send(body),
    );
  }
}
