/**
 * The dashboard's only way to the server: the public REST API, with the bearer token from
 * session storage (never in a URL: not in links, not in the event stream's address). The event
 * stream is read with fetch() because EventSource cannot send an Authorization header.
 */
import type { z } from "@hono/zod-openapi";
import type { ConfigResponse } from "../../api/routes/config.ts";
import type {
  EventSchema,
  ListResponse,
  MessageDetailSchema,
  MessageSchema,
  StatsResponse,
  SummaryResponse,
} from "../../api/schemas.ts";
import type { DnsCheckReport } from "../../dnscheck/types.ts";

export type Message = z.infer<typeof MessageSchema>;
export type MessageDetail = z.infer<typeof MessageDetailSchema>;
export type MessageList = z.infer<typeof ListResponse>;
export type QueueEvent = z.infer<typeof EventSchema>;
export type Stats = z.infer<typeof StatsResponse>;
export type Summary = z.infer<typeof SummaryResponse>;
export type ConfigView = z.infer<typeof ConfigResponse>;
export type { DnsCheckReport };

const TOKEN_KEY = "posteix.token";

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the server refuses the token (it was revoked): back to the sign-in form. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

async function failure(res: Response): Promise<ApiFailure> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { error?: { message?: string } };
    if (body.error?.message) message = body.error.message;
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiFailure(res.status, message);
}

/** fetch() with the token; throws ApiFailure with the API's error message on any non-2xx. */
export async function request(
  path: string,
  init: RequestInit = {},
  token = getToken(),
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const res = await fetch(path, { ...init, headers, cache: "no-store" });
  if (res.ok) return res;
  const err = await failure(res);
  if (res.status === 401 && token === getToken()) onUnauthorized();
  throw err;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await request(path)).json()) as T;
}

export async function postJson<T>(path: string, body?: unknown, method = "POST"): Promise<T> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  return (await (await request(path, init)).json()) as T;
}

export type StreamState = "connecting" | "live" | "retrying";

/**
 * Follows GET /api/v1/events until `signal` aborts: each event to `onEvent`, reconnecting with
 * Last-Event-ID after a failure so nothing is missed.
 */
export async function followEvents(
  signal: AbortSignal,
  onEvent: (ev: QueueEvent) => void,
  onState: (s: StreamState) => void,
): Promise<void> {
  let lastId: string | null = null;
  let delay = 1000;
  while (!signal.aborted) {
    onState("connecting");
    try {
      const headers: Record<string, string> = {};
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const res = await request("/api/v1/events", { headers, signal });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      onState("live");
      delay = 1000;
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let data = "";
          for (const line of frame.split("\n")) {
            if (line.startsWith("id:")) lastId = line.slice(3).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (data !== "") onEvent(JSON.parse(data) as QueueEvent);
          end = buffer.indexOf("\n\n");
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiFailure && err.status === 401) return;
    }
    onState("retrying");
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, delay);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      });
    });
    delay = Math.min(delay * 2, 30_000);
  }
}
