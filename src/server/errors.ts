/** OpenAI-style API errors: `{error: {message, type, param, code}}` with an HTTP status. */

export type ApiErrorType = "invalid_request_error" | "rate_limit_error" | "server_error" | "service_unavailable";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type: ApiErrorType = status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error",
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 for a request field: the message names the field. */
export function invalid(param: string, message: string, code: string | null = "invalid_value"): ApiError {
  return new ApiError(400, `Invalid '${param}': ${message}`, param, code);
}

/** A 400 for an OpenAI feature this server does not implement (instead of silently changing the output). */
export function unsupported(param: string, message: string): ApiError {
  return new ApiError(400, `Unsupported '${param}': ${message}`, param, "unsupported_parameter");
}
