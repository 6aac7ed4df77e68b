/**
 * api -- the REST API: queue control, message injection, delivery events, statistics and
 * metrics over HTTP (Bun.serve + Hono), in the daemon's process.
 *
 *   GET    /api/v1/health                  200 {"status":"ok"} when the queue can be written
 *   GET    /api/v1/openapi.json            OpenAPI 3.1, generated from the zod schemas
 *   GET    /api/v1/queue/summary           counts and bytes per state
 *   GET    /api/v1/queue?state=&sender=&recipient=&domain=&older_than=&limit=&cursor=
 *   POST   /api/v1/queue/hold|release|requeue|delete    same filters -> {"affected": N}
 *   POST   /api/v1/queue/flush             postqueue -f / -s SITE
 *   GET    /api/v1/messages/{id}           details, headers, event history
 *   GET    /api/v1/messages/{id}/raw       message/rfc822
 *   POST   /api/v1/messages/{id}/hold|release|requeue,  DELETE /api/v1/messages/{id}
 *   POST   /api/v1/messages                inject (message/rfc822 or JSON), Idempotency-Key
 *   GET    /api/v1/events                  Server-Sent Events (Last-Event-ID resumes)
 *   GET    /api/v1/stats                   counters and per-minute series of the last hour
 *   POST   /api/v1/reload                  posteix reload
 *   GET    /metrics                        Prometheus text format
 *
 * Calls the same queue functions as the CLI (postsuper, postqueue), so the two never disagree;
 * new messages go through cleanup like SMTP mail. Every request but /api/v1/health (and
 * /metrics with $metrics_public) needs `Authorization: Bearer TOKEN` (RFC 6750) with a token
 * from $api_token_file. Errors are {"error": {"code", "message"}} (errors.ts). Webhooks
 * (webhooks.ts) POST each delivery event, HMAC-SHA256 signed (RFC 2104).
 *
 * Parameters: api_listen, api_tls, api_token_file, api_body_limit, metrics_public,
 * webhook_url, webhook_secret, webhook_events, webhook_timeout, webhook_max_attempts;
 * message_size_limit and myhostname for injection.
 *
 * The daemon calls notifyEvents() after recording queue events, so /events and webhooks see
 * them at once (a one-second safety timer catches the rest while someone listens).
 */
import { join } from "node:path";
import type { Server } from "bun";
import { logger } from "../log/index.ts";
import { type AppState, createApp } from "./app.ts";
import { TokenStore } from "./auth.ts";
import type { ApiContext, ApiServer } from "./types.ts";
import { WebhookDispatcher, type WebhookOptions } from "./webhooks.ts";

export { createApp } from "./app.ts";
export { parseTokens } from "./auth.ts";
export { notifyEvents } from "./events.ts";
export type { ApiContext, ApiServer } from "./types.ts";
export { webhookSignature } from "./webhooks.ts";

const log = logger("api");

/**
 * Bun's own request-size cap, kept far above any $api_body_limit: the routes enforce the limit
 * themselves (with a JSON 413), so a reload can change it without restarting the listener.
 */
const BUN_BODY_CAP = 2 ** 40;
/** How long stop() lets requests in flight finish before closing their connections. */
const STOP_GRACE_MS = 2000;

/** `host:port`, `[v6]:port` or a bare port (all addresses). Throws on anything else. */
export function parseListen(text: string): { hostname: string; port: number } {
  const s = text.trim();
  let host: string;
  let port: string;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  if (v6) [host, port] = [v6[1], v6[2]];
  else if (/^\d+$/.test(s)) [host, port] = ["0.0.0.0", s];
  else {
    const colon = s.lastIndexOf(":");
    if (colon < 0) throw new Error(`api_listen: expected host:port, got "${text}"`);
    [host, port] = [s.slice(0, colon) || "0.0.0.0", s.slice(colon + 1)];
  }
  const n = Number(port);
  if (!/^\d+$/.test(port) || n > 65535) throw new Error(`api_listen: bad port in "${text}"`);
  return { hostname: host, port: n };
}

interface ListenKey {
  listen: string;
  tls: { cert: string; key: string } | null;
}

function listenKey(ctx: ApiContext): ListenKey {
  const cfg = ctx.config();
  let tls: ListenKey["tls"] = null;
  if (cfg.bool("api_tls")) {
    tls = ctx.tls?.() ?? null;
    if (!tls) throw new Error("api_tls = yes, but there is no smtpd certificate");
  }
  return { listen: cfg.str("api_listen").trim(), tls };
}

const sameKey = (a: ListenKey, b: ListenKey) =>
  a.listen === b.listen && a.tls?.cert === b.tls?.cert && a.tls?.key === b.tls?.key;

class Api implements ApiServer {
  private server: Server<unknown> | null = null;
  private key: ListenKey | null = null;
  private closing = new AbortController();
  private readonly state: AppState;
  private readonly fetch: (req: Request, server: Server<unknown>) => Response | Promise<Response>;

  constructor(
    ctx: ApiContext,
    private tokens: TokenStore,
    private readonly webhooks: WebhookDispatcher,
  ) {
    const { app, state } = createApp(ctx, { tokens, webhooks, closing: this.closing.signal });
    this.state = state;
    this.fetch = (req, server) => app.fetch(req, { server });
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  get url(): string | null {
    if (!this.server || !this.key) return null;
    const host = this.server.hostname ?? "127.0.0.1";
    const h = host.includes(":") ? `[${host}]` : host;
    return `${this.key.tls ? "https" : "http"}://${h}:${this.server.port}`;
  }

  get tokenFile(): string {
    return this.tokens.file;
  }

  listen(key: ListenKey): void {
    this.key = key;
    if (key.listen === "") {
      log.info("api_listen is empty: REST API disabled");
      return;
    }
    const { hostname, port } = parseListen(key.listen);
    this.server = Bun.serve({
      hostname,
      port,
      fetch: this.fetch,
      // Event streams write a comment every 15 s, so a minute of silence means a dead peer.
      idleTimeout: 60,
      maxRequestBodySize: BUN_BODY_CAP,
      ...(key.tls ? { tls: { cert: key.tls.cert, key: key.tls.key } } : {}),
    });
    log.info(`REST API listening on ${this.url}; tokens in ${this.tokens.file}`);
  }

  /**
   * Stop listening and end the event streams; requests in flight may finish (the reload request
   * that caused a restart among them) for STOP_GRACE_MS, then their connections are closed.
   */
  private closeListener(): Promise<void> {
    this.closing.abort();
    this.closing = new AbortController();
    this.state.closing = this.closing.signal;
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      server.stop(false),
      new Promise<void>((r) => {
        timer = setTimeout(r, STOP_GRACE_MS);
      }),
    ]).then(() => {
      clearTimeout(timer);
      void server.stop(true);
    });
  }

  async reconfigure(ctx?: ApiContext): Promise<void> {
    if (ctx) this.state.ctx = ctx;
    const cfg = this.state.ctx.config();
    const file = cfg.path("api_token_file");
    if (file !== this.tokens.file) {
      this.tokens = new TokenStore(file);
      this.state.tokens = this.tokens;
    }
    const key = listenKey(this.state.ctx);
    if (key.listen !== "") this.tokens.ensure();
    else this.tokens.load();
    this.webhooks.configure(cfg);
    if (this.key && sameKey(this.key, key)) return;
    // Not awaited: the request asking for the reload may be one of those in flight.
    void this.closeListener();
    this.listen(key);
  }

  async stop(): Promise<void> {
    await Promise.all([this.closeListener(), this.webhooks.stop()]);
  }
}

export interface StartApiOptions extends WebhookOptions {}

/**
 * Start the API on $api_listen (port 0: a random free port, see `port`). Generates the token
 * file when missing. Throws when the address can't be bound or $api_tls has no certificate.
 */
export async function startApi(ctx: ApiContext, opts: StartApiOptions = {}): Promise<ApiServer> {
  const cfg = ctx.config();
  const key = listenKey(ctx);
  const tokens = new TokenStore(cfg.path("api_token_file"));
  if (key.listen !== "") tokens.ensure();
  const webhooks = new WebhookDispatcher(ctx.queue, {
    stateFile: join(cfg.path("data_directory"), "webhook-cursor"),
    ...opts,
  });
  const api = new Api(ctx, tokens, webhooks);
  api.listen(key);
  webhooks.configure(cfg);
  return api;
}
