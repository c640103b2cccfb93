/**
 * The README's field lists and the server's schemas say the same thing: every field a chat or
 * completions request may carry is documented in "## Server" (as served, accepted and not acted on, or
 * rejected with its reason), and every field the "Supported fields" paragraph names is one the schemas
 * serve. A field added to a schema without documentation, or documented as served and not in a schema
 * (so a request carrying it would get "unknown field"), fails here.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TEXT_NEUTRAL_FIELDS } from "../../src/server/fields.js";
import { SERVED_FIELDS } from "../../src/server/schemas.js";

const readme = readFileSync("README.md", "utf8");
const start = readme.indexOf("\n## Server");
const section = readme.slice(start, readme.indexOf("\n## ", start + 4));
const backticked = (text: string) => new Set([...text.matchAll(/`([a-z_][a-z0-9_.]*)`/g)].map((m) => m[1].split(".")[0]));

describe("README field lists vs the request schemas", () => {
  it("every field the schemas accept is named in the Server section", () => {
    const documented = backticked(section);
    const fields = new Set([...SERVED_FIELDS.chat, ...SERVED_FIELDS.completion, ...TEXT_NEUTRAL_FIELDS]);
    expect([...fields].filter((field) => !documented.has(field))).toEqual([]);
  });

  it('every field "Supported fields" names is served by chat or completions', () => {
    const from = section.indexOf("**Supported fields:**");
    const to = section.indexOf("**Accepted and not acted on**", from);
    expect(from).toBeGreaterThan(0);
    expect(to).toBeGreaterThan(from);
    const named = [...backticked(section.slice(from, to))];
    expect(named.length).toBeGreaterThan(15);
    const served = new Set([...SERVED_FIELDS.chat, ...SERVED_FIELDS.completion]);
    expect(named.filter((field) => !served.has(field))).toEqual([]);
  });
});
