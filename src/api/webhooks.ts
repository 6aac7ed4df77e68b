/**
 * Webhooks: each delivery event in $webhook_events is POSTed to $webhook_url as the JSON
 * object /events sends, signed with `X-Posteix-Signature: sha256=HEX`, the HMAC-SHA256 of the
 * raw body keyed with $webhook_secret (also sent: X-Posteix-Timestamp, the Unix time of the
 * attempt; X-Posteix-Event; X-Posteix-Delivery, the event's seq, which a receiver can use to
 * drop duplicates).
 *
 * Driven by the events table, never by the delivery path: delivery only records events, so a
 * slow or dead receiver can't slow mail down. The dispatcher reads the table from a cursor,
 * keeps at most MAX_PENDING events in memory and stops reading while that many wait, so memory
 * is bounded and nothing is skipped. Its progress (every event up to seq N sent or given up) is
 * kept in $data_directory/webhook-cursor, written at most once a second and at stop: after a
 * restart the daemon goes on from there for the same URL (events still in flight at the stop
 * are sent again: receivers drop duplicates by X-Posteix-Delivery). A new URL, or the first
 * start, begins with the next event; turning webhooks off forgets the progress. Failed POSTs
 * (network error, timeout, 408, 429, 5xx) are retried after 1 s, 2 s, 4 s, ... (at most 5 min
 * apart, with jitter) up to $webhook_max_attempts; other 4xx answers drop the event at once.
 * Up to CONCURRENCY POSTs run at a time, so receivers must not rely on arrival order: seq
 * gives it.
 */
import { createHmac } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { Config } from "../config/types.ts";
import { logger } from "../log/index.ts";
import type { QueueStore } from "../queue/index.ts";
import type { QueueEvent } from "../queue/types.ts";
import { EventCursor, eventSet, waitForEvents } from "./events.ts";
import { apiEvent } from "./serialize.ts";

const log = logger("api");
const MAX_PENDING = 1000;
const CONCURRENCY = 4;
const MAX_BACKOFF_MS = 300_000;

export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

interface Pending {
  seq: number;
  event: string;
  body: string;
  attempts: number;
  notBefore: number;
}

interface Settings {
  url: string;
  secret: string;
  wanted: ReadonlySet<string>;
  timeoutMs: number;
  maxAttempts: number;
}

export interface WebhookOptions {
  /** First retry delay (default 1000 ms); tests make it short. */
  retryBaseMs?: number;
  /** Where progress is kept across restarts ($data_directory/webhook-cursor); none: not kept. */
  stateFile?: string;
}

const SAVE_EVERY_MS = 1000;

export class WebhookDispatcher {
  private settings: Settings | null = null;
  private cursor: EventCursor | null = null;
  private readonly pending: Pending[] = [];
  private inFlight = 0;
  private running = false;
  private loop: Promise<void> | null = null;
  private abort = new AbortController();
  private failing = false;
  private kick: (() => void) | null = null;
  /** Seqs of the POSTs in flight. */
  private readonly sending = new Set<number>();
  private saved: number | null = null;
  private savedAt = 0;
  readonly stats = { sent: 0, failed: 0, dropped: 0 };

  constructor(
    private readonly queue: QueueStore,
    private readonly opts: WebhookOptions = {},
  ) {}

  /** Apply $webhook_* (start, change or stop). */
  configure(cfg: Config): void {
    const url = cfg.str("webhook_url").trim();
    if (url === "") {
      this.settings = null;
      this.cursor = null;
      this.pending.length = 0;
      this.forget();
      void this.stop();
      return;
    }
    try {
      const u = new URL(url);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
    } catch {
      log.error(`webhook_url: not an http(s) URL: ${url}; webhooks disabled`);
      this.settings = null;
      void this.stop();
      return;
    }
    const secret = cfg.str("webhook_secret");
    if (secret === "") log.warn("webhook_secret is empty: webhook requests are not signed");
    this.settings = {
      url,
      secret,
      wanted: eventSet(cfg.list("webhook_events")),
      timeoutMs: Math.max(1, cfg.time("webhook_timeout")) * 1000,
      maxAttempts: Math.max(1, cfg.int("webhook_max_attempts")),
    };
    if (!this.running) this.start();
    else if (this.cursor)
      this.cursor = new EventCursor(this.queue, this.cursor.seq, this.settings.wanted);
  }

  private start(): void {
    if (!this.settings) return;
    this.running = true;
    this.abort = new AbortController();
    this.cursor ??= new EventCursor(this.queue, this.resumeFrom(), this.settings.wanted);
    this.loop = this.run();
    log.info(`webhooks to ${this.settings.url}`);
  }

  stop(): Promise<void> {
    // Progress as it stands: what is in flight now counts as not sent.
    const mark = this.progress();
    const url = this.settings?.url;
    this.running = false;
    this.abort.abort();
    this.kick?.();
    const l = this.loop;
    this.loop = null;
    return (l ?? Promise.resolve()).then(() => {
      if (mark !== null && url !== undefined) this.save(url, mark, true);
    });
  }

  /** The highest seq up to which every event is finished (sent, dropped or not wanted). */
  private progress(): number | null {
    if (!this.cursor) return null;
    let low = this.cursor.seq;
    for (const p of this.pending) low = Math.min(low, p.seq - 1);
    for (const seq of this.sending) low = Math.min(low, seq - 1);
    return low;
  }

  /** Where to start: the kept progress for this URL, else the next event. */
  private resumeFrom(): number {
    const newest = this.queue.lastEventSeq();
    const file = this.opts.stateFile;
    if (!file || !this.settings) return newest;
    try {
      const kept = JSON.parse(readFileSync(file, "utf8")) as { url?: unknown; seq?: unknown };
      if (
        kept.url === this.settings.url &&
        typeof kept.seq === "number" &&
        Number.isSafeInteger(kept.seq) &&
        kept.seq >= 0 &&
        kept.seq <= newest
      ) {
        if (kept.seq < newest) log.info(`webhooks resume after event ${kept.seq}`);
        return kept.seq;
      }
    } catch {
      // None yet, or unreadable: start with the next event.
    }
    return newest;
  }

  /** Write the progress (atomically: a temporary file renamed), at most once a second. */
  private save(url: string, seq: number, now = false): void {
    const file = this.opts.stateFile;
    if (!file || seq === this.saved) return;
    if (!now && Date.now() - this.savedAt < SAVE_EVERY_MS) return;
    try {
      writeFileSync(`${file}.tmp`, `${JSON.stringify({ url, seq })}\n`, { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
      this.saved = seq;
      this.savedAt = Date.now();
    } catch (err) {
      if (this.saved !== -1)
        log.warn(`webhooks: cannot keep progress in ${file}: ${(err as Error).message}`);
      this.saved = -1;
    }
  }

  private forget(): void {
    this.saved = null;
    if (this.opts.stateFile) rmSync(this.opts.stateFile, { force: true });
  }

  /** Events waiting in memory (sent or retried later). */
  get backlog(): number {
    return this.pending.length + this.inFlight;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    // Bounded: ends when stop() aborts; each turn either makes progress or waits.
    while (this.running && !signal.aborted) {
      this.fill();
      const now = Date.now();
      let nextDue = Number.POSITIVE_INFINITY;
      for (let i = 0; i < this.pending.length && this.inFlight < CONCURRENCY; ) {
        const p = this.pending[i];
        if (p.notBefore <= now) {
          this.pending.splice(i, 1);
          void this.send(p);
        } else {
          nextDue = Math.min(nextDue, p.notBefore);
          i++;
        }
      }
      const wait = Number.isFinite(nextDue) ? Math.max(1, nextDue - now) : 1000;
      await Promise.race([
        waitForEvents(signal, Math.min(wait, 1000)),
        new Promise<void>((r) => {
          this.kick = r;
        }),
      ]);
      this.kick = null;
      const mark = this.progress();
      if (mark !== null && this.settings) this.save(this.settings.url, mark);
    }
  }

  /** Read new events into memory while there is room. */
  private fill(): void {
    const s = this.settings;
    if (!s || !this.cursor) return;
    for (let turn = 0; turn < 10 && this.pending.length + this.inFlight < MAX_PENDING; turn++) {
      let batch: { events: QueueEvent[]; more: boolean };
      try {
        batch = this.cursor.next(Math.min(500, MAX_PENDING - this.pending.length - this.inFlight));
      } catch (err) {
        log.warn(`webhooks: reading events: ${(err as Error).message}`);
        return;
      }
      for (const ev of batch.events) {
        this.pending.push({
          seq: ev.seq,
          event: ev.kind,
          body: JSON.stringify(apiEvent(ev)),
          attempts: 0,
          notBefore: 0,
        });
      }
      if (!batch.more) return;
    }
  }

  private async send(p: Pending): Promise<void> {
    const s = this.settings;
    if (!s) return;
    this.inFlight++;
    this.sending.add(p.seq);
    p.attempts++;
    let outcome: "ok" | "retry" | "drop";
    let why = "";
    try {
      const headers: Record<string, string> = {
        "Content-Type": "application/json",
        "User-Agent": "posteix-webhook",
        "X-Posteix-Event": p.event,
        "X-Posteix-Delivery": String(p.seq),
        "X-Posteix-Timestamp": String(Math.floor(Date.now() / 1000)),
      };
      if (s.secret !== "") headers["X-Posteix-Signature"] = webhookSignature(s.secret, p.body);
      const res = await fetch(s.url, {
        method: "POST",
        headers,
        body: p.body,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(s.timeoutMs)]),
        redirect: "manual",
      });
      // The answer's body is not wanted; release the connection for reuse.
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) outcome = "ok";
      else {
        why = `HTTP ${res.status}`;
        outcome = res.status === 408 || res.status === 429 || res.status >= 500 ? "retry" : "drop";
      }
    } catch (err) {
      outcome = "retry";
      why = (err as Error).name === "TimeoutError" ? "timed out" : (err as Error).message;
    } finally {
      this.inFlight--;
      this.sending.delete(p.seq);
    }
    if (!this.running) return;
    if (outcome === "ok") {
      this.stats.sent++;
      if (this.failing) log.info(`webhooks to ${s.url} work again`);
      this.failing = false;
    } else if (outcome === "retry" && p.attempts < s.maxAttempts) {
      this.stats.failed++;
      if (!this.failing) log.warn(`webhook to ${s.url} failed (${why}); retrying with backoff`);
      this.failing = true;
      const base = this.opts.retryBaseMs ?? 1000;
      const delay = Math.min(MAX_BACKOFF_MS, base * 2 ** (p.attempts - 1));
      p.notBefore = Date.now() + delay * (0.8 + Math.random() * 0.4);
      this.pending.push(p);
    } else {
      this.stats.failed++;
      this.stats.dropped++;
      log.warn(
        `webhook event ${p.seq} (${p.event}) dropped after ${p.attempts} attempt(s): ${why}`,
      );
    }
    // A finished POST frees a slot (or queued a retry): let the loop look again.
    this.kick?.();
  }
}
