/**
 * GET /api/v1/events: delivery events as Server-Sent Events (WHATWG HTML, "Server-sent
 * events"). Each event's `id:` is its seq in the queue's events table, so a client that
 * reconnects with Last-Event-ID (EventSource does) gets exactly what it missed, as long as the
 * events were not pruned. Without Last-Event-ID or ?since=, the stream starts with the next
 * event. A comment line is sent every PING_MS so proxies and dead clients are noticed.
 *
 * The stream is pulled: the next batch is read from the table only when the client has taken
 * the previous one, so a slow client holds no more than one batch in memory.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { QueueEvent } from "../../queue/types.ts";
import type { ApiApp, AppState } from "../app.ts";
import { badRequest } from "../errors.ts";
import { EventCursor, eventSet, waitForEvents } from "../events.ts";
import { EventsQuery } from "../schemas.ts";
import { apiEvent } from "../serialize.ts";
import { errors } from "./common.ts";

const PING_MS = 15_000;
const BATCH = 200;
const enc = new TextEncoder();

function frame(ev: QueueEvent): string {
  return `id: ${ev.seq}\nevent: ${ev.kind}\ndata: ${JSON.stringify(apiEvent(ev))}\n\n`;
}

export function eventStream(
  state: AppState,
  start: number,
  wanted: ReadonlySet<string>,
  clientGone: AbortSignal,
): ReadableStream<Uint8Array> {
  const cursor = new EventCursor(state.ctx.queue, start, wanted);
  const cancelled = new AbortController();
  const stop = AbortSignal.any([clientGone, state.closing, cancelled.signal]);
  let lastWrite = Date.now();
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controller.enqueue(enc.encode(`retry: 2000\n: posteix events after ${start}\n\n`));
      },
      async pull(controller) {
        // Returns after one write; waits at most PING_MS for something to write.
        for (;;) {
          if (stop.aborted) {
            controller.close();
            return;
          }
          let batch: QueueEvent[];
          let more: boolean;
          try {
            ({ events: batch, more } = cursor.next(BATCH));
          } catch {
            // The queue is closing under us (daemon stop): end the stream.
            controller.close();
            return;
          }
          if (batch.length > 0) {
            controller.enqueue(enc.encode(batch.map(frame).join("")));
            lastWrite = Date.now();
            return;
          }
          if (more) continue;
          const idle = Date.now() - lastWrite;
          if (idle >= PING_MS) {
            controller.enqueue(enc.encode(": ping\n\n"));
            lastWrite = Date.now();
            return;
          }
          await waitForEvents(stop, Math.min(1000, PING_MS - idle));
        }
      },
      cancel() {
        cancelled.abort();
      },
    },
    { highWaterMark: 0 },
  );
}

export function registerEventRoutes(app: ApiApp, state: AppState): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/events",
      tags: ["events"],
      summary: "Delivery events as Server-Sent Events",
      description:
        "Event names: received, sent, deferred, bounced, expired, held, released, deleted, " +
        "requeued, delayed, removed, corrupt. Each data line is an Event object; the SSE id is " +
        "its seq. Reconnect with Last-Event-ID to resume.",
      request: {
        query: EventsQuery,
        headers: z.object({
          "last-event-id": z
            .string()
            .regex(/^\d+$/, "an event seq")
            .optional()
            .openapi({ description: "resume after this event" }),
        }),
      },
      responses: {
        200: {
          description: "text/event-stream; each event's data is an Event object",
          content: { "text/event-stream": { schema: z.string() } },
        },
        ...errors(400, 401),
      },
    }),
    (c) => {
      const q = c.req.valid("query");
      const last = c.req.valid("header")["last-event-id"];
      let start: number;
      if (last !== undefined) start = Number(last);
      else if (q.since !== undefined) start = q.since;
      else start = state.ctx.queue.lastEventSeq();
      if (!Number.isSafeInteger(start)) throw badRequest("Last-Event-ID: not an event seq");
      const wanted = eventSet(q.events?.split(","));
      const body = eventStream(state, start, wanted, c.req.raw.signal);
      return new Response(body, {
        status: 200,
        headers: {
          "Content-Type": "text/event-stream; charset=utf-8",
          "Cache-Control": "no-cache",
          "X-Accel-Buffering": "no",
        },
      });
    },
  );
}
