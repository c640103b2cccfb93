/**
 * `llma serve`'s access flags -> ServerOptions: `--api-key` (else `$LLMA_API_KEY`) and `--cors`
 * (comma lists, repeatable). Bad values fail with a message naming the flag.
 */
import { validateCorsOrigins } from "./cors.js";

export interface AccessFlags {
  readonly apiKey?: string;
  /** Each value a comma list of origins. */
  readonly cors?: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface AccessOptions {
  readonly apiKey?: string;
  readonly corsOrigins?: readonly string[];
}

export function resolveAccessOptions(flags: AccessFlags): AccessOptions {
  const source = flags.apiKey !== undefined ? "--api-key" : "LLMA_API_KEY";
  const apiKey = flags.apiKey ?? flags.env.LLMA_API_KEY;
  if (apiKey !== undefined) {
    // An empty key would lock everyone out or, worse, read as "no key": refuse it either way.
    if (apiKey.length === 0) throw new Error(`${source} is empty: give a key, or ${source === "--api-key" ? "leave the flag out" : "unset LLMA_API_KEY"} to serve without one`);
    if (/\s/.test(apiKey)) throw new Error(`${source} must not contain whitespace (the key travels as 'Authorization: Bearer KEY')`);
  }
  let corsOrigins: readonly string[] | undefined;
  if (flags.cors !== undefined) {
    const origins = flags.cors.flatMap((value) => value.split(",")).map((origin) => origin.trim());
    if (origins.some((origin) => origin === "")) throw new Error(`--cors: an empty origin in ${JSON.stringify(flags.cors.join(","))}`);
    try {
      corsOrigins = validateCorsOrigins(origins);
    } catch (error) {
      throw new Error(`--cors: ${(error as Error).message}`);
    }
  }
  return { ...(apiKey !== undefined ? { apiKey } : {}), ...(corsOrigins ? { corsOrigins } : {}) };
}
