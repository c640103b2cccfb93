/**
 * Which top-level request fields the server accepts. A field either changes the text, and is then
 * served (validated by schemas.ts) or rejected with a 400, or it does not, and is then listed in
 * {@link TEXT_NEUTRAL_FIELDS}. Any other field is rejected with a 400 naming it: a field the server
 * silently dropped could change the text on another server (llama-server, Ollama, vLLM) and not here.
 */
import { ApiError } from "./errors.js";

/** Fields accepted and not acted on: they do not change the generated text. */
export const TEXT_NEUTRAL_FIELDS = [
  "model",
  "user",
  "metadata",
  "store",
  "service_tier",
  "parallel_tool_calls",
  "prompt_cache_key",
  "safety_identifier",
  "reasoning_effort",
  "verbosity",
  "modalities",
] as const;

/**
 * Sampler fields other servers serve that node-llama-cpp 3.21.1's sampler has no equivalent of (its
 * sequence sampler offers temperature, top-k, top-p, min-p, seed, repeat/frequency/presence penalties,
 * token bias, XTC, DRY and grammars): rejected with the reason rather than as merely unknown.
 */
const UNSERVED_SAMPLER_FIELDS: Readonly<Record<string, string>> = {
  typical_p: "locally typical sampling is not available in node-llama-cpp's sampler",
  tfs_z: "tail-free sampling is not available in node-llama-cpp's sampler",
  mirostat: "mirostat sampling is not available in node-llama-cpp's sampler",
  mirostat_tau: "mirostat sampling is not available in node-llama-cpp's sampler",
  mirostat_eta: "mirostat sampling is not available in node-llama-cpp's sampler",
  top_n_sigma: "top-n-sigma sampling is not available in node-llama-cpp's sampler",
  dynatemp_range: "dynamic temperature is not available in node-llama-cpp's sampler",
  dynatemp_exponent: "dynamic temperature is not available in node-llama-cpp's sampler",
};

/**
 * Throws a 400 for the first top-level field of `body` that is neither `served` (the endpoint's
 * schema) nor text-neutral.
 */
export function rejectUnknownFields(body: Readonly<Record<string, unknown>>, served: ReadonlySet<string>): void {
  for (const field of Object.keys(body)) {
    if (served.has(field) || (TEXT_NEUTRAL_FIELDS as readonly string[]).includes(field)) continue;
    const reason = Object.hasOwn(UNSERVED_SAMPLER_FIELDS, field) ? UNSERVED_SAMPLER_FIELDS[field] : undefined;
    if (reason !== undefined) throw new ApiError(400, `Unsupported '${field}': ${reason}`, field, "unsupported_parameter");
    throw new ApiError(
      400,
      `Unrecognized request argument supplied: '${field}' (this server rejects fields it does not serve rather than ignore them; see the README's "Supported fields")`,
      field,
      "unknown_parameter",
    );
  }
}
