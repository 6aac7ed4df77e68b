/**
 * Health, statistics, Prometheus metrics and reload.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { COUNTERS, LATENCY_BUCKETS, metrics } from "../../log/metrics.ts";
import type { ApiApp, AppState } from "../app.ts";
import { ApiError, unavailable } from "../errors.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "../prometheus.ts";
import { HealthResponse, ReloadResponse, StatsResponse } from "../schemas.ts";
import { errors, json } from "./common.ts";
import { summaryOf } from "./queue.ts";

/** Idempotency-table key the health check writes (keys of clients are prefixed "api:"). */
const HEALTH_KEY = "health:probe";

function stats(state: AppState) {
  const now = Date.now();
  const counters: Record<string, number> = {};
  const values: Record<string, number[]> = {};
  let start = now;
  for (const name of COUNTERS) {
    counters[name] = metrics.total(name);
    const series = metrics.perMinute(name, now);
    start = series[0].minute;
    values[name] = series.map((p) => p.value);
  }
  let cumulative = 0;
  const buckets = LATENCY_BUCKETS.map((le, i) => {
    cumulative += metrics.latencyCounts[i];
    return { le: String(le), count: cumulative };
  });
  buckets.push({ le: "+Inf", count: metrics.latencyCount });
  const scheduler = state.ctx.stats?.();
  return {
    started_at: new Date(metrics.startedAt).toISOString(),
    uptime_seconds: Math.round((now - metrics.startedAt) / 1000),
    counters,
    series: { start: new Date(start).toISOString(), interval_seconds: 60, values },
    delivery_latency: { count: metrics.latencyCount, sum_seconds: metrics.latencySum, buckets },
    queue: summaryOf(state),
    ...(scheduler ? { scheduler } : {}),
  };
}

export function registerSystemRoutes(app: ApiApp, state: AppState): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/health",
      tags: ["system"],
      summary: "200 when the queue database is writable (no token needed)",
      security: [],
      responses: { 200: json(HealthResponse, "Healthy"), ...errors() },
    }),
    (c) => {
      try {
        // A real write transaction: takes the write lock and commits, as a message would.
        state.ctx.queue.idempotencyPut(HEALTH_KEY, "0");
      } catch (err) {
        throw unavailable(`queue database not writable: ${(err as Error).message}`, 10);
      }
      return c.json({ status: "ok" as const }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/stats",
      tags: ["system"],
      summary: "Counters since start, per-minute series of the last hour, queue summary",
      responses: { 200: json(StatsResponse, "Statistics"), ...errors(401) },
    }),
    (c) => c.json(stats(state), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      tags: ["system"],
      summary: "Prometheus metrics (no token needed when metrics_public = yes)",
      responses: {
        200: {
          description: "Prometheus text exposition format 0.0.4",
          content: { "text/plain": { schema: z.string() } },
        },
        ...errors(401),
      },
    }),
    (c) => {
      const w = state.webhooks;
      const text = renderMetrics({
        metrics,
        queue: state.ctx.queue,
        scheduler: state.ctx.stats?.(),
        webhooks: w ? { ...w.stats, backlog: w.backlog } : undefined,
      });
      return c.text(text, 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/reload",
      tags: ["system"],
      summary: "Re-read main.cf and master.cf (posteix reload)",
      responses: {
        200: json(ReloadResponse, "Reloaded"),
        ...errors(401, 422),
      },
    }),
    async (c) => {
      const ok = await state.ctx.reload();
      if (!ok) {
        throw new ApiError(
          422,
          "invalid_configuration",
          "the configuration has errors; the running one is kept (see the mail log)",
        );
      }
      return c.json({ reloaded: true }, 200);
    },
  );
}
