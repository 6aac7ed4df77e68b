/**
 * The queue as a whole: summary, filtered listing with keyset pagination, bulk moves (hold,
 * release, requeue, delete: postsuper -h/-H/-r/-d) and flush (postqueue -f / -s SITE).
 * Bulk moves are one statement each in the queue store, whatever the number of messages.
 */
import { createRoute, type z } from "@hono/zod-openapi";
import { logger } from "../../log/index.ts";
import { type ListFilter, QUEUE_STATES, type QueueState } from "../../queue/types.ts";
import type { ApiApp, AppState } from "../app.ts";
import { badRequest } from "../errors.ts";
import { notifyEvents } from "../events.ts";
import { isEmptyFilter, toListFilter } from "../filters.ts";
import {
  AffectedResponse,
  BulkBody,
  BulkQuery,
  FlushBody,
  FlushQuery,
  ListQuery,
  ListResponse,
  SummaryResponse,
} from "../schemas.ts";
import { messageSummary } from "../serialize.ts";
import { errors, json } from "./common.ts";

const log = logger("api");

export type BulkAction = "hold" | "release" | "requeue" | "delete";

/** postsuper's words, so that the log reads the same whichever tool did it. */
const BULK_LOG: Record<BulkAction, string> = {
  hold: "Placed on hold",
  release: "Released from hold",
  requeue: "Requeued",
  delete: "Deleted",
};

export function summaryOf(state: AppState) {
  const s = state.ctx.queue.summary();
  const total = { count: 0, bytes: 0 };
  const states: Record<string, { count: number; bytes: number }> = {};
  for (const name of QUEUE_STATES) {
    states[name] = s[name as QueueState];
    total.count += s[name].count;
    total.bytes += s[name].bytes;
  }
  return { states, total };
}

export function runBulk(state: AppState, action: BulkAction, filter: ListFilter): number {
  const q = state.ctx.queue;
  const n =
    action === "hold"
      ? q.hold(filter)
      : action === "release"
        ? q.release(filter)
        : action === "requeue"
          ? q.requeue(filter)
          : q.delete(filter);
  if (n > 0) {
    if (action === "release" || action === "requeue") state.ctx.wake();
    notifyEvents();
  }
  return n;
}

export function registerQueueRoutes(app: ApiApp, state: AppState): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/queue/summary",
      tags: ["queue"],
      summary: "Message counts and bytes per queue state",
      responses: { 200: json(SummaryResponse, "Counts per state"), ...errors(401) },
    }),
    (c) => c.json(summaryOf(state), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/queue",
      tags: ["queue"],
      summary: "List queued messages (oldest first, keyset pagination)",
      request: { query: ListQuery },
      responses: { 200: json(ListResponse, "One page of messages"), ...errors(400, 401) },
    }),
    (c) => {
      const q = c.req.valid("query");
      const page = state.ctx.queue.list(toListFilter(q), {
        limit: q.limit,
        cursor: q.cursor ?? null,
      });
      return c.json(
        { messages: page.messages.map(messageSummary), next_cursor: page.nextCursor },
        200,
      );
    },
  );

  for (const action of ["hold", "release", "requeue", "delete"] as const) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/api/v1/queue/${action}`,
        tags: ["queue"],
        summary: `${BULK_LOG[action]}: every message matching the filter`,
        description:
          "The filter is given as query parameters or as a JSON body (the body wins where both say something)." +
          (action === "delete" ? " An empty filter is refused unless all=true." : ""),
        request: {
          query: BulkQuery,
          body: { content: { "application/json": { schema: BulkBody } }, required: false },
        },
        responses: { 200: json(AffectedResponse, "Messages affected"), ...errors(400, 401) },
      }),
      (c) => {
        const query = c.req.valid("query");
        const body = c.req.valid("json") as z.infer<typeof BulkBody>;
        const filter = toListFilter({ ...query, ...body });
        const all = body.all ?? query.all === "true";
        if (action === "delete" && isEmptyFilter(filter) && !all) {
          throw badRequest("an empty filter would delete every message: say all=true to mean it");
        }
        const n = runBulk(state, action, filter);
        if (n > 0) log.info(`${BULK_LOG[action]}: ${n} message${n === 1 ? "" : "s"}`);
        return c.json({ affected: n }, 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/queue/flush",
      tags: ["queue"],
      summary: "Deliver deferred mail now (postqueue -f, or -s SITE)",
      request: {
        query: FlushQuery,
        body: { content: { "application/json": { schema: FlushBody } }, required: false },
      },
      responses: { 200: json(AffectedResponse, "Messages made due"), ...errors(400, 401) },
    }),
    (c) => {
      const site =
        (c.req.valid("json") as z.infer<typeof FlushBody>).site ?? c.req.valid("query").site;
      const n = state.ctx.flush(site === "" ? undefined : site);
      notifyEvents();
      return c.json({ affected: n }, 200);
    },
  );
}
