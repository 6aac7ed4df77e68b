/**
 * The Hono application: middleware (errors, 503 while stopping, bearer tokens, body limit),
 * the routes, and the OpenAPI 3.1 document generated from the routes' zod schemas.
 * createApp() works without a listener (app.request() in tests); startApi() serves it.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Server } from "bun";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { isUiPath, uiResponse } from "../ui/index.ts";
import { bearerToken, TokenStore } from "./auth.ts";
import { ApiError, errorResponse, fromZod, notFound, tooLarge, unavailable } from "./errors.ts";
import { Idempotency } from "./inject.ts";
import { registerConfigRoutes } from "./routes/config.ts";
import { registerDnsCheckRoutes } from "./routes/dns-check.ts";
import { registerEventRoutes } from "./routes/events.ts";
import { registerMessageRoutes } from "./routes/messages.ts";
import { registerQueueRoutes } from "./routes/queue.ts";
import { registerSystemRoutes } from "./routes/system.ts";
import type { ApiContext } from "./types.ts";
import type { WebhookDispatcher } from "./webhooks.ts";

export type ApiEnv = { Bindings: { server?: Server<unknown> } };
export type ApiApp = OpenAPIHono<ApiEnv>;

/** What the routes share; `ctx` is replaced by ApiServer.reconfigure(ctx). */
export interface AppState {
  ctx: ApiContext;
  tokens: TokenStore;
  idempotency: Idempotency;
  webhooks: WebhookDispatcher | null;
  /** Aborted when the server stops: ends event streams. */
  closing: AbortSignal;
}

export const API_VERSION = "1";

/** The client's IP address, when served by Bun.serve (null under app.request()). */
export function remoteAddress(c: Context<ApiEnv>): string | null {
  return c.env?.server?.requestIP(c.req.raw)?.address ?? null;
}

export interface CreateAppOptions {
  tokens?: TokenStore;
  webhooks?: WebhookDispatcher | null;
  closing?: AbortSignal;
}

export function createApp(
  ctx: ApiContext,
  opts: CreateAppOptions = {},
): { app: ApiApp; state: AppState } {
  let tokens = opts.tokens;
  if (!tokens) {
    tokens = new TokenStore(ctx.config().path("api_token_file"));
    tokens.ensure();
  }
  const state: AppState = {
    ctx,
    tokens,
    idempotency: new Idempotency(() => state.ctx.queue),
    webhooks: opts.webhooks ?? null,
    closing: opts.closing ?? new AbortController().signal,
  };

  const app: ApiApp = new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) throw fromZod(result.error, result.target);
    },
  });
  app.onError((err, c) => errorResponse(err, c));
  app.notFound((c) =>
    errorResponse(notFound(`no such endpoint: ${c.req.method} ${c.req.path}`), c),
  );

  app.use("*", async (_c, next) => {
    if (state.ctx.stopping()) throw unavailable("posteix is stopping", 10);
    await next();
  });

  app.use("*", async (c, next) => {
    const cfg = state.ctx.config();
    const path = c.req.path;
    const open =
      (path === "/api/v1/health" && c.req.method === "GET") ||
      (path === "/metrics" && cfg.bool("metrics_public")) ||
      // The dashboard's assets hold nothing secret; the page then calls the API with a token.
      ((path === "/" || isUiPath(path)) && (c.req.method === "GET" || c.req.method === "HEAD"));
    if (!open) {
      const token = bearerToken(c.req.header("authorization"));
      if (token === null || !state.tokens.verify(token)) {
        throw new ApiError(
          401,
          "unauthorized",
          token === null ? "missing bearer token (Authorization: Bearer TOKEN)" : "invalid token",
          { "WWW-Authenticate": 'Bearer realm="posteix"' },
        );
      }
    }
    await next();
  });

  // $api_body_limit for everything but message/rfc822, which inject.ts counts while streaming
  // (hono's bodyLimit would buffer a chunked upload first).
  app.use("*", async (c, next) => {
    const limit = state.ctx.config().size("api_body_limit");
    const length = c.req.header("content-length");
    if (length !== undefined && Number(length) > limit) throw tooLarge(limit);
    const type = (c.req.header("content-type") ?? "").toLowerCase();
    if (!c.req.raw.body || type.startsWith("message/rfc822")) return next();
    return bodyLimit({
      maxSize: limit,
      onError: () => {
        throw tooLarge(limit);
      },
    })(c, next);
  });

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "A token from $api_token_file",
  });

  registerSystemRoutes(app, state);
  registerQueueRoutes(app, state);
  registerMessageRoutes(app, state);
  registerEventRoutes(app, state);
  registerConfigRoutes(app, state);
  registerDnsCheckRoutes(app, state);

  // The dashboard (src/ui), outside the OpenAPI document: it is a client, not part of the API.
  app.get("/", (c) => c.redirect("/ui/", 302));
  app.get("/ui", (c) => uiResponse(c.req.raw)!);
  app.get("/ui/*", (c) => {
    const res = uiResponse(c.req.raw);
    if (!res) throw notFound(`no such file: ${c.req.path}`);
    return res;
  });

  let doc: unknown = null;
  app.get("/api/v1/openapi.json", (c) => {
    doc ??= app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "posteix REST API",
        version: API_VERSION,
        description:
          "Queue control, message injection, delivery events, statistics and metrics of a posteix mail transfer agent.",
      },
      security: [{ bearer: [] }],
    });
    return c.json(doc);
  });

  return { app, state };
}
