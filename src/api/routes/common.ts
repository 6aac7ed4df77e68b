/** Pieces the route modules share: documented error responses and JSON helpers. */
import { ErrorSchema } from "../schemas.ts";

const ERROR_TEXT: Record<number, string> = {
  400: "Bad input; the message names the field",
  401: "Missing or invalid bearer token",
  404: "No such message",
  409: "The message's state forbids this move",
  413: "Request body or message too large",
  415: "Unsupported Content-Type",
  422: "Refused by content checks (header_checks, hop count)",
  503: "Stopping, or the queue is temporarily unavailable",
};

/** OpenAPI responses for the given error statuses (all share the Error schema). */
export function errors(...codes: number[]) {
  const out: Record<
    number,
    { description: string; content: { "application/json": { schema: typeof ErrorSchema } } }
  > = {};
  for (const code of [...codes, 503]) {
    out[code] = {
      description: ERROR_TEXT[code] ?? "Error",
      content: { "application/json": { schema: ErrorSchema } },
    };
  }
  return out;
}

export function json<T>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}
