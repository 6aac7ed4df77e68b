/**
 * The API's one error type and its one renderer: every failure leaves as
 * `{"error": {"code": "...", "message": "..."}}` with the matching status. Anything that is not
 * an ApiError (or a QueueError with a known meaning) becomes a generic 500 whose details go to
 * the log only, never to the client (maddy's exterrors discipline, STYLE.md habit 6).
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodError } from "zod";
import { logger } from "../log/index.ts";
import { QueueError } from "../queue/errors.ts";

const log = logger("api");

export type ApiErrorCode =
  | "invalid_request"
  | "unauthorized"
  | "not_found"
  | "conflict"
  | "too_large"
  | "unsupported_media_type"
  | "rejected"
  | "invalid_configuration"
  | "unavailable"
  | "internal";

export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    readonly status: 400 | 401 | 404 | 409 | 413 | 415 | 422 | 500 | 503,
    readonly code: ApiErrorCode,
    message: string,
    /** Extra response headers (WWW-Authenticate, Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new ApiError(400, "invalid_request", message);
export const notFound = (message: string) => new ApiError(404, "not_found", message);
export const conflict = (message: string) => new ApiError(409, "conflict", message);
export const tooLarge = (limit: number) =>
  new ApiError(413, "too_large", `request body exceeds the limit of ${limit} bytes`);
export const unavailable = (message: string, retryAfter = 5) =>
  new ApiError(503, "unavailable", message, { "Retry-After": String(retryAfter) });

/** A validation failure naming the field, e.g. `query parameter limit: Too big: ...`. */
export function fromZod(error: ZodError, target: string): ApiError {
  const issue = error.issues[0];
  const where =
    target === "query"
      ? "query parameter"
      : target === "param"
        ? "path parameter"
        : target === "header"
          ? "header"
          : "body field";
  const path = issue?.path.map(String).join(".") ?? "";
  const field = path === "" ? (target === "json" ? "request body" : target) : `${where} ${path}`;
  return badRequest(`${field}: ${issue?.message ?? "invalid"}`);
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof QueueError) {
    switch (err.code) {
      case "NOT_FOUND":
        return notFound(err.message);
      case "BAD_STATE":
        return conflict(err.message);
      case "INVALID":
        return badRequest(err.message);
      case "QUEUE_FULL":
        return unavailable("queue storage is full", 60);
      default:
        log.warn(`queue error: ${err.message}`);
        return unavailable("queue temporarily unavailable");
    }
  }
  if (err instanceof HTTPException) {
    if (err.status === 413) return new ApiError(413, "too_large", "request body too large");
    if (err.status === 400) return badRequest(err.message || "bad request");
    if (err.status === 415) {
      return new ApiError(
        415,
        "unsupported_media_type",
        "unsupported Content-Type for this endpoint",
      );
    }
  }
  log.error(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return new ApiError(500, "internal", "internal error (see the mail log)");
}

export function errorResponse(err: unknown, c: Context): Response {
  const e = toApiError(err);
  return c.json({ error: { code: e.code, message: e.message } }, e.status, e.headers);
}
