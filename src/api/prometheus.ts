/**
 * /metrics in the Prometheus text exposition format (version 0.0.4): one `# HELP` and one
 * `# TYPE` line per metric family, then its samples. Counters are process totals since start
 * (src/log/metrics.ts); queue sizes are read from the queue when scraped.
 */
import { LATENCY_BUCKETS, type Metrics } from "../log/metrics.ts";
import type { QueueStore } from "../queue/index.ts";
import { QUEUE_STATES } from "../queue/types.ts";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(n);
}

class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): this {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    this.lines.push(`# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, value: number, labels?: Labels): this {
    const l = labels
      ? `{${Object.entries(labels)
          .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
          .join(",")}}`
      : "";
    this.lines.push(`${name}${l} ${fmt(value)}`);
    return this;
  }

  text(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

export interface MetricsSources {
  metrics: Metrics;
  queue: QueueStore;
  scheduler?: Record<string, number>;
  webhooks?: { sent: number; failed: number; dropped: number; backlog: number };
}

export function renderMetrics(src: MetricsSources): string {
  const { metrics: m, queue } = src;
  const e = new Exposition();
  const summary = queue.summary();

  e.family("posteix_start_time_seconds", "gauge", "Start time of the process (Unix seconds).");
  e.sample("posteix_start_time_seconds", Math.floor(m.startedAt / 1000));

  e.family("posteix_queue_messages", "gauge", "Messages in the queue, per state.");
  for (const s of QUEUE_STATES) e.sample("posteix_queue_messages", summary[s].count, { state: s });
  e.family("posteix_queue_bytes", "gauge", "Bytes of queued messages, per state.");
  for (const s of QUEUE_STATES) e.sample("posteix_queue_bytes", summary[s].bytes, { state: s });

  e.family("posteix_messages_received_total", "counter", "Messages accepted into the queue.");
  e.sample("posteix_messages_received_total", m.total("accepted"));
  e.family("posteix_messages_received_bytes_total", "counter", "Bytes of accepted messages.");
  e.sample("posteix_messages_received_bytes_total", m.total("accepted_bytes"));
  e.family("posteix_messages_rejected_total", "counter", "Messages or recipients refused.");
  e.sample("posteix_messages_rejected_total", m.total("rejected"));

  e.family("posteix_deliveries_total", "counter", "Recipient delivery results, by result.");
  e.sample("posteix_deliveries_total", m.total("delivered"), { result: "sent" });
  e.sample("posteix_deliveries_total", m.total("deferred"), { result: "deferred" });
  e.sample("posteix_deliveries_total", m.total("bounced"), { result: "bounced" });
  e.sample("posteix_deliveries_total", m.total("expired"), { result: "expired" });

  const conns = m.total("connections");
  const tls = m.total("connections_tls");
  e.family("posteix_smtpd_connections_total", "counter", "SMTP connections accepted.");
  e.sample("posteix_smtpd_connections_total", conns);
  e.family("posteix_smtpd_tls_connections_total", "counter", "SMTP connections that used TLS.");
  e.sample("posteix_smtpd_tls_connections_total", tls);
  e.family("posteix_smtpd_tls_ratio", "gauge", "Share of SMTP connections that used TLS (0..1).");
  e.sample("posteix_smtpd_tls_ratio", conns === 0 ? 0 : tls / conns);
  e.family("posteix_smtpd_auth_failures_total", "counter", "Failed SMTP AUTH attempts.");
  e.sample("posteix_smtpd_auth_failures_total", m.total("auth_failures"));

  const h = "posteix_delivery_latency_seconds";
  e.family(h, "histogram", "Time from arrival to successful delivery, per recipient.");
  let cumulative = 0;
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
    cumulative += m.latencyCounts[i];
    e.sample(`${h}_bucket`, cumulative, { le: fmt(LATENCY_BUCKETS[i]) });
  }
  e.sample(`${h}_bucket`, m.latencyCount, { le: "+Inf" });
  e.sample(`${h}_sum`, m.latencySum);
  e.sample(`${h}_count`, m.latencyCount);

  const qm = queue.metrics();
  e.family("posteix_queue_commit_batches_total", "counter", "Group-commit transactions run.");
  e.sample("posteix_queue_commit_batches_total", qm.commitBatches);
  e.family("posteix_queue_commits_failed_total", "counter", "Queue commits that failed.");
  e.sample("posteix_queue_commits_failed_total", qm.failedCommits);

  if (src.scheduler) {
    for (const [k, v] of Object.entries(src.scheduler)) {
      const name = `posteix_qmgr_${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/[^a-z0-9_]/g, "_")}`;
      e.family(name, "gauge", `Scheduler: ${k}.`);
      e.sample(name, v);
    }
  }
  if (src.webhooks) {
    const w = src.webhooks;
    e.family("posteix_webhook_posts_total", "counter", "Webhook POSTs, by outcome.");
    e.sample("posteix_webhook_posts_total", w.sent, { result: "sent" });
    e.sample("posteix_webhook_posts_total", w.failed, { result: "failed" });
    e.family("posteix_webhook_events_dropped_total", "counter", "Webhook events given up on.");
    e.sample("posteix_webhook_events_dropped_total", w.dropped);
    e.family("posteix_webhook_backlog", "gauge", "Webhook events waiting in memory.");
    e.sample("posteix_webhook_backlog", w.backlog);
  }
  return e.text();
}
