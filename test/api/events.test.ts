/**
 * Delivery events: Server-Sent Events received in order (live, filtered, resumed with
 * Last-Event-ID), and webhooks POSTed to a real receiver with their HMAC signature verified,
 * retried after failures.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { notifyEvents } from "../../src/api/index.ts";
import { WebhookDispatcher } from "../../src/api/webhooks.ts";
import { loadConfig } from "../../src/config/index.ts";
import { openQueue } from "../../src/queue/index.ts";
import { type Fixture, json, putMany, startFixture, stopAll } from "./helpers.ts";

afterAll(stopAll);

interface SseEvent {
  id: string;
  event: string;
  data: any;
}

/** Reads an event stream and splits it into events (comments skipped). */
class SseReader {
  private buf = "";
  private readonly reader: {
    read(): Promise<{ done: boolean; value?: Uint8Array }>;
    cancel(): Promise<void>;
  };
  private readonly dec = new TextDecoder();
  readonly comments: string[] = [];

  constructor(res: Response) {
    this.reader = res.body!.getReader();
  }

  /** The next `n` events; fails after `timeoutMs`. */
  async take(n: number, timeoutMs = 5000): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < n) {
      const end = this.buf.indexOf("\n\n");
      if (end >= 0) {
        const block = this.buf.slice(0, end);
        this.buf = this.buf.slice(end + 2);
        const ev: Partial<SseEvent> = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) this.comments.push(line);
          else if (line.startsWith("id: ")) ev.id = line.slice(4);
          else if (line.startsWith("event: ")) ev.event = line.slice(7);
          else if (line.startsWith("data: ")) ev.data = JSON.parse(line.slice(6));
        }
        if (ev.event) out.push(ev as SseEvent);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${out.length} of ${n} events`);
      const r = await Promise.race([
        this.reader.read(),
        Bun.sleep(left).then(() => ({ done: true, value: undefined, timeout: true })),
      ]);
      if ("timeout" in r) throw new Error(`timed out with ${out.length} of ${n} events`);
      if (r.done) throw new Error("stream ended");
      this.buf += this.dec.decode(r.value, { stream: true });
    }
    return out;
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}

async function openEvents(f: Fixture, query = "", headers: Record<string, string> = {}) {
  const res = await f.call(`/api/v1/events${query}`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
  return new SseReader(res);
}

const post = (f: Fixture, path: string) => f.call(path, { method: "POST" });

describe("server-sent events", () => {
  test("live events arrive in order, with seq ids and the API's event objects", async () => {
    const f = await startFixture();
    const before = await putMany(f.queue, 2);
    const sse = await openEvents(f);
    // Only what happens from now on.
    const inj = await f.call("/api/v1/messages?from=a@example.com&to=x@example.net", {
      method: "POST",
      body: "Subject: live\n\nx\n",
      headers: { "content-type": "message/rfc822" },
    });
    const { id } = await json(inj);
    await post(f, `/api/v1/messages/${id}/hold`);
    await post(f, `/api/v1/messages/${id}/release`);
    await f.call(`/api/v1/messages/${before[0]}`, { method: "DELETE" });
    // Scheduler-side results, recorded by the queue as qmgr would, then announced.
    f.queue.claimDue(Date.now() + 60_000, 10);
    f.queue.recordResults(before[1], [
      { index: 0, status: "sent", dsn: "2.0.0", diagnostic: "250 ok", relay: "mx[192.0.2.1]:25" },
    ]);
    f.queue.remove(before[1], "delivered");
    notifyEvents();

    const evs = await sse.take(6);
    expect(evs.map((e) => [e.event, e.data.queue_id])).toEqual([
      ["received", id],
      ["held", id],
      ["released", id],
      ["deleted", before[0]],
      ["sent", before[1]],
      ["removed", before[1]],
    ]);
    const seqs = evs.map((e) => Number(e.id));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(6);
    expect(evs.map((e) => e.data.seq)).toEqual(seqs);
    expect(evs[4].data).toEqual({
      seq: seqs[4],
      event: "sent",
      queue_id: before[1],
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      detail: {
        index: 0,
        to: "bob@example.net",
        dsn: "2.0.0",
        diagnostic: "250 ok",
        relay: "mx[192.0.2.1]:25",
      },
    });
    expect(evs[1].data.detail).toEqual({ from: "incoming" });
    await sse.cancel();
    await f.stop();
  });

  test("changes nobody announced are found by the safety timer", async () => {
    const f = await startFixture();
    const sse = await openEvents(f);
    const [id] = await putMany(f.queue, 1);
    const t0 = Date.now();
    const [ev] = await sse.take(1, 3000);
    expect(ev.event).toBe("received");
    expect(ev.data.queue_id).toBe(id);
    expect(Date.now() - t0).toBeLessThan(2500);
    await sse.cancel();
    await f.stop();
  });

  test("Last-Event-ID and ?since= resume; ?events= filters", async () => {
    const f = await startFixture();
    const start = f.queue.lastEventSeq();
    const ids = await putMany(f.queue, 5);
    f.queue.hold({ ids: [ids[1], ids[3]] });
    const all = await openEvents(f, `?since=${start}`);
    const evs = await all.take(7);
    expect(evs.map((e) => e.event)).toEqual([
      "received",
      "received",
      "received",
      "received",
      "received",
      "held",
      "held",
    ]);
    await all.cancel();
    // Resume after the third: the rest, in order.
    const resumed = await openEvents(f, "?since=0", { "Last-Event-ID": evs[2].id });
    expect((await resumed.take(4)).map((e) => e.id)).toEqual(evs.slice(3).map((e) => e.id));
    await resumed.cancel();
    const held = await openEvents(f, `?since=${start}&events=held,deleted`);
    expect((await held.take(2)).map((e) => e.data.queue_id)).toEqual([ids[1], ids[3]]);
    await post(f, `/api/v1/messages/${ids[0]}/hold`);
    await f.call(`/api/v1/messages/${ids[0]}`, { method: "DELETE" });
    expect((await held.take(2)).map((e) => e.event)).toEqual(["held", "deleted"]);
    await held.cancel();

    const bad = await f.call("/api/v1/events", { headers: { "Last-Event-ID": "abc" } });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.message).toBe("header last-event-id: an event seq");
    expect((await f.call("/api/v1/events?events=sent,nonsense")).status).toBe(400);
    await f.stop();
  });

  test("stopping the API ends open streams", async () => {
    const f = await startFixture();
    const sse = await openEvents(f);
    await f.api.stop();
    await expect(sse.take(1, 3000)).rejects.toThrow();
    await f.stop();
  });
});

describe("webhooks", () => {
  interface Received {
    body: string;
    headers: Headers;
  }

  function receiver(failFirst = 0) {
    const got: Received[] = [];
    let failures = 0;
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const body = await req.text();
        if (failures < failFirst) {
          failures++;
          return new Response("try later", { status: 503 });
        }
        got.push({ body, headers: req.headers });
        return new Response(null, { status: 204 });
      },
    });
    return { server, got, url: `http://127.0.0.1:${server.port}/hook` };
  }

  async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error("timed out");
      await Bun.sleep(20);
    }
  }

  function verify(secret: string, r: Received): boolean {
    const sig = r.headers.get("x-posteix-signature") ?? "";
    const want = `sha256=${createHmac("sha256", secret).update(r.body).digest("hex")}`;
    return sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want));
  }

  test("each event is POSTed once, signed with HMAC-SHA256 of the raw body", async () => {
    const rx = receiver();
    const secret = "s3cret-for-tests";
    const f = await startFixture({
      mainCf: `webhook_url = ${rx.url}\nwebhook_secret = ${secret}\nwebhook_events = received, held, deleted`,
    });
    try {
      const ids = await putMany(f.queue, 3);
      await post(f, `/api/v1/messages/${ids[0]}/hold`);
      await post(f, `/api/v1/messages/${ids[1]}/requeue`); // not in webhook_events
      await f.call(`/api/v1/messages/${ids[2]}`, { method: "DELETE" });
      await until(() => rx.got.length >= 5);
      await Bun.sleep(300);
      expect(rx.got).toHaveLength(5);
      for (const r of rx.got) {
        expect(verify(secret, r)).toBe(true);
        expect(r.headers.get("content-type")).toBe("application/json");
        const ev = JSON.parse(r.body);
        expect(r.headers.get("x-posteix-event")).toBe(ev.event);
        expect(r.headers.get("x-posteix-delivery")).toBe(String(ev.seq));
        expect(Number(r.headers.get("x-posteix-timestamp"))).toBeCloseTo(Date.now() / 1000, -1);
      }
      // A tampered body does not verify.
      expect(
        verify(secret, { ...rx.got[0], body: rx.got[0].body.replace("received", "deleted") }),
      ).toBe(false);
      const evs = rx.got.map((r) => JSON.parse(r.body)).sort((a, b) => a.seq - b.seq);
      expect(evs.map((e) => [e.event, e.queue_id])).toEqual([
        ["received", ids[0]],
        ["received", ids[1]],
        ["received", ids[2]],
        ["held", ids[0]],
        ["deleted", ids[2]],
      ]);
    } finally {
      await f.stop();
      rx.server.stop(true);
    }
  });

  test("failed POSTs are retried with backoff; off and on again does not replay the events between", async () => {
    const rx = receiver(3);
    const f = await startFixture({
      mainCf: `webhook_url = ${rx.url}\nwebhook_secret = k\nwebhook_max_attempts = 5`,
    });
    try {
      const [id] = await putMany(f.queue, 1);
      notifyEvents();
      // 3 failures, then success: delays 50, 100, 200 ms (+-20%).
      const t0 = Date.now();
      await until(() => rx.got.length === 1);
      expect(Date.now() - t0).toBeGreaterThan(250);
      expect(JSON.parse(rx.got[0].body)).toMatchObject({ event: "received", queue_id: id });
      const metrics = await (await f.call("/metrics")).text();
      expect(metrics).toContain('posteix_webhook_posts_total{result="sent"} 1');
      expect(metrics).toContain('posteix_webhook_posts_total{result="failed"} 3');

      // Turn webhooks off and on again (as a reload would): events meanwhile are not sent.
      f.writeMainCf("");
      await f.call("/api/v1/reload", { method: "POST" });
      await putMany(f.queue, 2);
      f.writeMainCf(`webhook_url = ${rx.url}\nwebhook_secret = k`);
      await f.call("/api/v1/reload", { method: "POST" });
      const [late] = await putMany(f.queue, 1);
      await until(() => rx.got.length === 2);
      await Bun.sleep(300);
      expect(rx.got).toHaveLength(2);
      expect(JSON.parse(rx.got[1].body).queue_id).toBe(late);
    } finally {
      await f.stop();
      rx.server.stop(true);
    }
  });

  test("a restart goes on from the kept progress for the same URL; a new URL or off starts afresh", async () => {
    let up = false;
    const got: { seq: number; event: string }[] = [];
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const body = JSON.parse(await req.text());
        if (!up) return new Response("down", { status: 503 });
        got.push({ seq: Number(req.headers.get("x-posteix-delivery")), event: body.event });
        return new Response(null, { status: 204 });
      },
    });
    const url = `http://127.0.0.1:${server.port}/hook`;
    const dir = mkdtempSync(join(tmpdir(), "posteix-webhook-"));
    const stateFile = join(dir, "webhook-cursor");
    const cfgFor = (extra: string) => {
      writeFileSync(join(dir, "main.cf"), `queue_directory = ${dir}/q\n${extra}\n`);
      return loadConfig({ configDir: dir, env: {}, hostname: "mail.example.com" });
    };
    const queue = openQueue({ directory: join(dir, "q") });
    try {
      await putMany(queue, 1); // before the first start: never sent
      const before = queue.lastEventSeq();
      const d1 = new WebhookDispatcher(queue, { retryBaseMs: 50, stateFile });
      d1.configure(cfgFor(`webhook_url = ${url}\nwebhook_max_attempts = 100`));
      const ids = await putMany(queue, 2);
      notifyEvents();
      await until(() => d1.stats.failed >= 2); // both tried, the receiver is down
      await d1.stop();
      expect(JSON.parse(readFileSync(stateFile, "utf8"))).toEqual({ url, seq: before });

      // Restarted with the receiver up: the two events the stop left unsent arrive.
      up = true;
      const d2 = new WebhookDispatcher(queue, { retryBaseMs: 50, stateFile });
      d2.configure(cfgFor(`webhook_url = ${url}`));
      await until(() => got.length >= 2);
      await Bun.sleep(200);
      expect(got.sort((a, b) => a.seq - b.seq)).toEqual([
        { seq: before + 1, event: "received" },
        { seq: before + 2, event: "received" },
      ]);
      await until(() => {
        try {
          return JSON.parse(readFileSync(stateFile, "utf8")).seq === before + 2;
        } catch {
          return false;
        }
      });
      await d2.stop();
      expect(ids).toHaveLength(2);

      // Another URL: nothing old is replayed to it.
      await putMany(queue, 1);
      const d3 = new WebhookDispatcher(queue, { retryBaseMs: 50, stateFile });
      d3.configure(cfgFor(`webhook_url = ${url}?other`));
      await Bun.sleep(300);
      expect(got).toHaveLength(2);
      // Turned off: the progress is forgotten.
      d3.configure(cfgFor(""));
      await d3.stop();
      expect(existsSync(stateFile)).toBe(false);
    } finally {
      queue.close();
      server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("gives up after webhook_max_attempts, and drops at once on a 4xx", async () => {
    const rx = receiver(1000);
    const gone = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: () => new Response("no", { status: 410 }),
    });
    const f = await startFixture({ mainCf: `webhook_url = ${rx.url}\nwebhook_max_attempts = 3` });
    try {
      await putMany(f.queue, 1);
      notifyEvents();
      const metricsText = async () => (await f.call("/metrics")).text();
      await until(async () => /dropped_total 1/.test(await metricsText()));
      const text = await (await f.call("/metrics")).text();
      expect(text).toContain("posteix_webhook_events_dropped_total 1");
      expect(text).toContain('posteix_webhook_posts_total{result="failed"} 3');
      expect(text).toContain("posteix_webhook_backlog 0");

      f.writeMainCf(`webhook_url = http://127.0.0.1:${gone.port}/\nwebhook_max_attempts = 3`);
      await f.call("/api/v1/reload", { method: "POST" });
      await putMany(f.queue, 1);
      notifyEvents();
      await until(async () => /dropped_total 2/.test(await metricsText()));
      const t2 = await metricsText();
      expect(t2).toContain("posteix_webhook_events_dropped_total 2");
      expect(t2).toContain('posteix_webhook_posts_total{result="failed"} 4');
    } finally {
      await f.stop();
      rx.server.stop(true);
      gone.stop(true);
    }
  });
});
