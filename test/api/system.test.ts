/**
 * Statistics, Prometheus metrics (checked with a Prometheus text-format parser), health, reload,
 * and the OpenAPI document (validated as OpenAPI 3.1 by a validator library).
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { metrics } from "../../src/log/metrics.ts";
import { json, putMany, startFixture, stopAll } from "./helpers.ts";

afterAll(stopAll);
beforeEach(() => metrics.reset());

describe("stats and metrics", () => {
  test("/stats: counters since start, 60 per-minute values, latency, queue, scheduler", async () => {
    const f = await startFixture({
      stats: () => ({ active: 3, deliveriesInFlight: 2, destinations: 1 }),
    });
    await putMany(f.queue, 2);
    const inj = await f.call("/api/v1/messages?from=a@example.com&to=x@example.net", {
      method: "POST",
      body: "Subject: s\n\nx\n",
      headers: { "content-type": "message/rfc822" },
    });
    expect(inj.status).toBe(202);
    metrics.inc("delivered", 4);
    metrics.inc("connections", 10);
    metrics.inc("connections_tls", 4);
    metrics.observeLatency(0.3);
    metrics.observeLatency(7);
    const s = await json(await f.call("/api/v1/stats"));
    expect(s.counters.accepted).toBe(1);
    expect(s.counters.delivered).toBe(4);
    expect(s.counters.connections).toBe(10);
    expect(Object.keys(s.counters)).toEqual([
      "connections",
      "connections_tls",
      "accepted",
      "accepted_bytes",
      "rejected",
      "delivered",
      "deferred",
      "bounced",
      "expired",
      "auth_failures",
    ]);
    expect(s.series.interval_seconds).toBe(60);
    expect(s.series.values.delivered).toHaveLength(60);
    expect(s.series.values.delivered[59]).toBe(4);
    expect(s.series.values.delivered.slice(0, 59).every((v: number) => v === 0)).toBe(true);
    const start = Date.parse(s.series.start);
    expect(start % 60_000).toBe(0);
    expect(Date.now() - start).toBeGreaterThanOrEqual(59 * 60_000);
    expect(Date.now() - start).toBeLessThan(60 * 60_000);
    expect(s.delivery_latency.count).toBe(2);
    expect(s.delivery_latency.sum_seconds).toBeCloseTo(7.3);
    expect(s.delivery_latency.buckets.find((b: { le: string }) => b.le === "0.5").count).toBe(1);
    expect(s.delivery_latency.buckets.at(-1)).toEqual({ le: "+Inf", count: 2 });
    expect(s.queue.states.incoming.count).toBe(3);
    expect(s.queue.total.count).toBe(3);
    expect(s.scheduler).toEqual({ active: 3, deliveriesInFlight: 2, destinations: 1 });
    expect(Date.parse(s.started_at)).toBeLessThanOrEqual(Date.now());
    await f.stop();
  });

  test("/metrics parses as Prometheus text with the expected families and values", async () => {
    const f = await startFixture({ stats: () => ({ active: 3 }) });
    const ids = await putMany(f.queue, 5);
    f.queue.hold({ ids: ids.slice(0, 2) });
    metrics.inc("accepted", 5);
    metrics.inc("delivered", 7);
    metrics.inc("bounced", 1);
    metrics.inc("connections", 8);
    metrics.inc("connections_tls", 6);
    metrics.observeLatency(0.2);
    metrics.observeLatency(0.7);
    metrics.observeLatency(100_000);
    const res = await f.call("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const families = parsePrometheusTextFormat(text) as any[];
    const fam = (name: string) => {
      const found = families.find((x) => x.name === name);
      if (!found) throw new Error(`no family ${name}`);
      return found;
    };
    const value = (name: string, labels: Record<string, string> = {}) => {
      const m = fam(name).metrics.find((s: any) =>
        Object.entries(labels).every(([k, v]) => s.labels?.[k] === v),
      );
      return Number(m.value);
    };
    expect(fam("posteix_queue_messages").type).toBe("GAUGE");
    expect(value("posteix_queue_messages", { state: "incoming" })).toBe(3);
    expect(value("posteix_queue_messages", { state: "hold" })).toBe(2);
    expect(value("posteix_queue_messages", { state: "deferred" })).toBe(0);
    expect(fam("posteix_queue_messages").metrics).toHaveLength(6);
    expect(value("posteix_queue_bytes", { state: "hold" })).toBe(2 * f.queue.get(ids[0])!.size);
    expect(fam("posteix_messages_received_total").type).toBe("COUNTER");
    expect(value("posteix_messages_received_total")).toBe(5);
    expect(value("posteix_deliveries_total", { result: "sent" })).toBe(7);
    expect(value("posteix_deliveries_total", { result: "bounced" })).toBe(1);
    expect(value("posteix_deliveries_total", { result: "deferred" })).toBe(0);
    expect(value("posteix_smtpd_connections_total")).toBe(8);
    expect(value("posteix_smtpd_tls_ratio")).toBe(0.75);
    expect(value("posteix_qmgr_active")).toBe(3);
    const h = fam("posteix_delivery_latency_seconds");
    expect(h.type).toBe("HISTOGRAM");
    expect(h.metrics[0].count).toBe("3");
    expect(Number(h.metrics[0].sum)).toBeCloseTo(100_000.9);
    expect(h.metrics[0].buckets["0.25"]).toBe("1");
    expect(h.metrics[0].buckets["1"]).toBe("2");
    expect(h.metrics[0].buckets["86400"]).toBe("2");
    expect(h.metrics[0].buckets["+Inf"]).toBe("3");
    // Every family has exactly one HELP and one TYPE line, before its samples.
    const helps = text.split("\n").filter((l) => l.startsWith("# HELP "));
    const types = text.split("\n").filter((l) => l.startsWith("# TYPE "));
    expect(helps).toHaveLength(families.length);
    expect(types).toHaveLength(families.length);
    await f.stop();
  });
});

describe("health and reload", () => {
  test("health is 503 when the queue database can't be written", async () => {
    const f = await startFixture();
    expect((await fetch(`${f.base}/api/v1/health`)).status).toBe(200);
    f.queue.close();
    const res = await fetch(`${f.base}/api/v1/health`);
    expect(res.status).toBe(503);
    const body = await json(res);
    expect(body.error.code).toBe("unavailable");
    expect(body.error.message).toStartWith("queue database not writable: ");
    await f.api.stop();
  });

  test("reload applies the new configuration, and keeps the old one on errors (422)", async () => {
    const f = await startFixture();
    const port = f.api.port;
    f.writeMainCf("api_body_limit = 10");
    let res = await f.call("/api/v1/reload", { method: "POST" });
    expect(res.status).toBe(200);
    expect(f.calls.reload).toBe(1);
    // Same listener, new limit.
    expect(f.api.port).toBe(port);
    res = await f.call("/api/v1/queue/hold", {
      method: "POST",
      body: JSON.stringify({ state: "deferred" }),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
    f.writeMainCf("smtpd_timeout = 5x");
    res = await f.call("/api/v1/reload", { method: "POST" });
    expect(res.status).toBe(422);
    expect(await json(res)).toEqual({
      error: {
        code: "invalid_configuration",
        message: "the configuration has errors; the running one is kept (see the mail log)",
      },
    });
    expect(f.cfg().size("api_body_limit")).toBe(10);
    await f.stop();
  });

  test("a reload that moves api_listen answers, then serves on the new address only", async () => {
    const f = await startFixture();
    const old = f.base;
    f.writeMainCf("api_listen = 127.0.0.2:0");
    const res = await f.call("/api/v1/reload", { method: "POST" });
    expect(res.status).toBe(200);
    expect(f.api.url).toStartWith("http://127.0.0.2:");
    f.base = f.api.url!;
    expect((await f.call("/api/v1/queue")).status).toBe(200);
    await expect(fetch(`${old}/api/v1/health`)).rejects.toThrow();
    f.writeMainCf("api_listen =");
    expect((await f.call("/api/v1/reload", { method: "POST" })).status).toBe(200);
    expect(f.api.url).toBeNull();
    expect(f.api.port).toBe(0);
    await f.stop();
  });

  test("an unexpected failure is a generic 500 that tells nothing of the internals", async () => {
    const f = await startFixture({
      stats: () => {
        throw new Error("secret internal detail at /var/lib/x");
      },
    });
    const res = await f.call("/api/v1/stats");
    expect(res.status).toBe(500);
    expect(await res.text()).toBe(
      JSON.stringify({ error: { code: "internal", message: "internal error (see the mail log)" } }),
    );
    await f.stop();
  });

  test("a token file readable by others is still used (with a warning)", async () => {
    const f = await startFixture();
    chmodSync(join(f.dir, "data", "api-tokens"), 0o644);
    await f.api.reconfigure();
    expect((await f.call("/api/v1/queue")).status).toBe(200);
    await f.stop();
  });
});

describe("OpenAPI", () => {
  test("the document is valid OpenAPI 3.1 and lists every endpoint", async () => {
    const f = await startFixture();
    const res = await f.call("/api/v1/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as any;
    expect(doc.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(doc);
    if (!result.valid) console.error(JSON.stringify(result.errors, null, 2));
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    expect(ops).toEqual(
      [
        "GET /api/v1/health",
        "GET /api/v1/stats",
        "GET /metrics",
        "POST /api/v1/reload",
        "GET /api/v1/queue/summary",
        "GET /api/v1/queue",
        "POST /api/v1/queue/hold",
        "POST /api/v1/queue/release",
        "POST /api/v1/queue/requeue",
        "POST /api/v1/queue/delete",
        "POST /api/v1/queue/flush",
        "GET /api/v1/messages/{id}",
        "GET /api/v1/messages/{id}/raw",
        "POST /api/v1/messages/{id}/hold",
        "POST /api/v1/messages/{id}/release",
        "POST /api/v1/messages/{id}/requeue",
        "DELETE /api/v1/messages/{id}",
        "POST /api/v1/messages",
        "GET /api/v1/events",
        "GET /api/v1/config",
        "GET /api/v1/dns-check",
      ].sort(),
    );
    // Schemas come from the same zod definitions the routes validate with.
    const list = doc.paths["/api/v1/queue"].get;
    const limit = list.parameters.find((p: { name: string }) => p.name === "limit");
    expect(limit.schema).toMatchObject({
      type: "integer",
      minimum: 1,
      maximum: 1000,
      default: 100,
    });
    expect(doc.components.schemas.Message.required).toContain("arrival_time");
    expect(doc.components.securitySchemes.bearer).toEqual({
      type: "http",
      scheme: "bearer",
      description: "A token from $api_token_file",
    });
    expect(doc.paths["/api/v1/health"].get.security).toEqual([]);
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(doc.paths["/api/v1/messages"].post.requestBody.content)).toEqual([
      "message/rfc822",
      "application/json",
    ]);
    await f.stop();
  });
});
