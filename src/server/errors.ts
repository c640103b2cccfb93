/** OpenAI-style API errors: `{error: {message, type, param, code}}` with an HTTP status. */
import type { FastifyInstance } from "fastify";

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

/**
 * Every error leaves the server in that shape: ApiErrors as they are, fastify's own (bad JSON, wrong
 * content type, body too large) with a message that says what to send instead, anything else as a 500.
 */
export function registerErrorReplies(app: FastifyInstance): void {
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    if (error instanceof ApiError) {
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      return reply.code(error.status).send(error.toJSON());
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      return reply.code(status).send(new ApiError(status, `internal error: ${error.message}`, null, "internal_error").toJSON());
    }
    let message = error.message;
    let code = "invalid_request";
    if (error.code === "FST_ERR_CTP_EMPTY_JSON_BODY") {
      message = "Invalid request body: the body is empty; expected a JSON object";
      code = "invalid_request_body";
    } else if (error instanceof SyntaxError || error.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
      message = `We could not parse the JSON body of your request: ${error.message}`;
      code = "invalid_json";
    } else if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      message = `Unsupported Content-Type: send the body as application/json (${error.message})`;
      code = "unsupported_media_type";
    } else if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      message = `The request body is too large: ${error.message}`;
      code = "body_too_large";
    }
    return reply.code(status).send(new ApiError(status, message, null, code).toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(new ApiError(404, `Unknown request URL: ${request.method} ${request.url}`, null, "unknown_url").toJSON());
  });
}
