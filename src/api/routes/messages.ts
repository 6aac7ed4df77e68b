/**
 * One message: details with headers and history, the raw message, hold / release / requeue /
 * delete (404 for an unknown ID, 409 when its state forbids the move), and injection of new
 * messages (inject.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { logger } from "../../log/index.ts";
import type { MessageRecord, QueueState } from "../../queue/types.ts";
import { type ApiApp, type AppState, remoteAddress } from "../app.ts";
import { ApiError, badRequest, conflict, notFound, tooLarge } from "../errors.ts";
import { injectComposed, injectRaw } from "../inject.ts";
import {
  InjectHeaders,
  InjectJson,
  InjectQuery,
  InjectResponse,
  MessageDetailSchema,
  MessageSchema,
  QueueIdParam,
} from "../schemas.ts";
import { messageDetail, messageSummary, parseHeaderSection } from "../serialize.ts";
import { errors, json } from "./common.ts";
import { runBulk } from "./queue.ts";

const log = logger("api");
const HEADER_MAX = 256 * 1024;
/** Messages up to this size are read whole for /raw; larger ones are streamed chunk by chunk. */
const SMALL_RAW = 1024 * 1024;

type Move = "hold" | "release" | "requeue" | "delete";

/** Where each move may start (the queue store's own conditions, said up front for a 409). */
const ALLOWED_FROM: Record<Move, (s: QueueState) => boolean> = {
  hold: (s) => s !== "hold" && s !== "corrupt",
  release: (s) => s === "hold",
  requeue: (s) => s === "deferred" || s === "hold" || s === "incoming",
  delete: () => true,
};

const MOVE_LOG: Record<Move, string> = {
  hold: "placed on hold",
  release: "released from hold",
  requeue: "requeued",
  delete: "removed",
};

function mustGet(state: AppState, id: string): MessageRecord {
  const m = state.ctx.queue.get(id);
  if (!m) throw notFound(`${id.toUpperCase()}: no such message`);
  return m;
}

function move(state: AppState, id: string, action: Move): MessageRecord | null {
  const before = mustGet(state, id);
  if (!ALLOWED_FROM[action](before.state)) {
    throw conflict(`${before.id}: cannot ${action} a message in state ${before.state}`);
  }
  const n = runBulk(state, action, { ids: [before.id] });
  if (n === 0) {
    // Moved or removed by someone else between the two reads: say what it is now.
    const now = mustGet(state, id);
    throw conflict(`${now.id}: cannot ${action} a message in state ${now.state}`);
  }
  log.info(`${before.id}: ${MOVE_LOG[action]}`);
  return action === "delete" ? null : state.ctx.queue.get(before.id);
}

export function registerMessageRoutes(app: ApiApp, state: AppState): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/messages/{id}",
      tags: ["messages"],
      summary: "One message with its headers and event history",
      request: { params: QueueIdParam },
      responses: { 200: json(MessageDetailSchema, "The message"), ...errors(400, 401, 404) },
    }),
    (c) => {
      const { id } = c.req.valid("param");
      const m = mustGet(state, id);
      const q = state.ctx.queue;
      let headers: { name: string; value: string }[] = [];
      try {
        headers = parseHeaderSection(q.headerBytes(m.id, HEADER_MAX));
      } catch {
        // A message without a readable body (corrupt) still has an envelope to show.
      }
      return c.json(messageDetail(m, headers, q.history(m.id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/messages/{id}/raw",
      tags: ["messages"],
      summary: "The message as queued (headers and body)",
      request: { params: QueueIdParam },
      responses: {
        200: {
          description: "The message",
          content: { "message/rfc822": { schema: z.string().openapi({ format: "binary" }) } },
        },
        ...errors(400, 401, 404),
      },
    }),
    (c) => {
      const { id } = c.req.valid("param");
      const m = mustGet(state, id);
      const chunks = state.ctx.queue.body(m.id);
      if (m.size <= SMALL_RAW) {
        // Small enough to answer in one piece, with a Content-Length (Bun sends a streamed
        // body chunked).
        const body = Buffer.concat([...chunks]);
        return new Response(body, { status: 200, headers: { "Content-Type": "message/rfc822" } });
      }
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          try {
            const r = chunks.next();
            if (r.done) controller.close();
            else controller.enqueue(r.value);
          } catch (err) {
            log.warn(`${m.id}: reading the message: ${(err as Error).message}`);
            controller.error(err);
          }
        },
        cancel() {
          chunks.return(undefined);
        },
      });
      return new Response(stream, { status: 200, headers: { "Content-Type": "message/rfc822" } });
    },
  );

  for (const action of ["hold", "release", "requeue"] as const) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/api/v1/messages/{id}/${action}`,
        tags: ["messages"],
        summary:
          action === "hold"
            ? "Put a message on hold (postsuper -h)"
            : action === "release"
              ? "Release a held message (postsuper -H)"
              : "Requeue a message for immediate delivery (postsuper -r)",
        request: { params: QueueIdParam },
        responses: {
          200: json(MessageSchema, "The message after the move"),
          ...errors(400, 401, 404, 409),
        },
      }),
      (c) => {
        const m = move(state, c.req.valid("param").id, action);
        if (!m) throw notFound(`${c.req.valid("param").id}: no such message`);
        return c.json(messageSummary(m), 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/v1/messages/{id}",
      tags: ["messages"],
      summary: "Delete a message (postsuper -d)",
      request: { params: QueueIdParam },
      responses: {
        200: json(z.object({ deleted: z.string() }), "The ID of the deleted message"),
        ...errors(400, 401, 404),
      },
    }),
    (c) => {
      const id = c.req.valid("param").id.toUpperCase();
      move(state, id, "delete");
      return c.json({ deleted: id }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/messages",
      tags: ["messages"],
      summary: "Inject a message through cleanup",
      description:
        "Either a complete message (Content-Type: message/rfc822) with the envelope in ?from=&to=, " +
        "or JSON fields composed into MIME. With an Idempotency-Key header, a retry returns the " +
        "first message's ID (status 200) instead of queueing it twice.",
      request: {
        query: InjectQuery,
        headers: InjectHeaders,
        body: {
          content: {
            "message/rfc822": { schema: z.string().openapi({ format: "binary" }) },
            "application/json": { schema: InjectJson },
          },
          required: false,
        },
      },
      responses: {
        202: json(InjectResponse, "Queued (or held, or discarded by a content rule)"),
        200: json(InjectResponse, "A retry with a known Idempotency-Key: the first message"),
        ...errors(400, 401, 413, 415, 422),
      },
    }),
    async (c) => {
      const type = (c.req.header("content-type") ?? "").toLowerCase();
      const key = c.req.valid("header")["idempotency-key"];
      const remote = remoteAddress(c);
      const bodyLimit = state.ctx.config().size("api_body_limit");
      let inject: () => Promise<Awaited<ReturnType<typeof injectRaw>>>;
      if (type.startsWith("message/rfc822")) {
        const q = c.req.valid("query");
        if (q.from === undefined) throw badRequest("query parameter from: required");
        if (q.to === undefined) throw badRequest("query parameter to: required");
        const to = (Array.isArray(q.to) ? q.to : [q.to])
          .flatMap((t) => t.split(","))
          .filter((t) => t.trim() !== "");
        const length = c.req.header("content-length");
        if (length !== undefined && Number(length) > bodyLimit) throw tooLarge(bodyLimit);
        inject = () =>
          injectRaw(state.ctx, { from: q.from!, to, body: c.req.raw.body, remote, bodyLimit });
      } else if (type.startsWith("application/json")) {
        const body = c.req.valid("json") as z.infer<typeof InjectJson>;
        if (body.from === undefined) throw badRequest("body field from: required");
        inject = () => injectComposed(state.ctx, body, remote);
      } else {
        throw new ApiError(
          415,
          "unsupported_media_type",
          "Content-Type must be message/rfc822 or application/json",
        );
      }
      const r = await state.idempotency.run(key, inject);
      if (r.replayed) c.header("Idempotent-Replayed", "true");
      return c.json({ id: r.id, status: r.status }, r.replayed ? 200 : 202);
    },
  );
}
