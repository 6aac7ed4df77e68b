/**
 * End to end inside one process: messages injected over the API (both forms) are delivered by
 * the real scheduler (qmgr) and smtp delivery agent to an smtp-server peer on loopback, and the
 * delivery shows up in /events, /stats and /metrics.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { simpleParser } from "mailparser";
import { notifyEvents } from "../../src/api/index.ts";
import { createAgents } from "../../src/delivery/index.ts";
import { createResolver } from "../../src/dns/index.ts";
import { metrics } from "../../src/log/metrics.ts";
import { Qmgr } from "../../src/qmgr/index.ts";
import { startSmtpPeer } from "../helpers/smtp-peer.ts";
import { json, startFixture, stopAll } from "./helpers.ts";

afterAll(stopAll);

describe("API injection to delivery", () => {
  test("rfc822 and JSON messages reach the next hop; events and counters follow", async () => {
    metrics.reset();
    const peer = await startSmtpPeer();
    let qmgr: Qmgr | null = null;
    const f = await startFixture({
      mainCf: [
        `relayhost = ${peer.nexthop}`,
        "smtp_tls_security_level = none",
        "smtp_helo_name = mail.example.com",
      ].join("\n"),
      wake: () => qmgr?.wake(),
      flush: (site) => qmgr!.flush(site),
      stats: () => ({ ...qmgr!.stats }),
    });
    const agents = createAgents({
      resolver: createResolver({ servers: ["127.0.0.1:1"] }),
      newCleanup: (input) => f.ctx.newCleanup(input),
      hostname: "mail.example.com",
    });
    qmgr = new Qmgr({
      queue: f.queue,
      config: () => f.cfg(),
      agentFor: (c) => agents.agentFor(c),
      newCleanup: (input) => f.ctx.newCleanup(input),
      onEvent: () => notifyEvents(),
    });
    try {
      const events = await f.call("/api/v1/events?events=received,sent,removed");
      const reader = events.body!.getReader();
      qmgr.start();

      const raw = await f.call("/api/v1/messages?from=app@example.com&to=one@example.net", {
        method: "POST",
        body: "From: App <app@example.com>\nTo: one@example.net\nSubject: raw one\n\nHello over HTTP.\n.\n..dots\n",
        headers: { "content-type": "message/rfc822", "Idempotency-Key": "e2e-1" },
      });
      expect(raw.status).toBe(202);
      const rawId = (await json(raw)).id;
      const composed = await f.call("/api/v1/messages", {
        method: "POST",
        body: JSON.stringify({
          from: "App <app@example.com>",
          to: "two@example.net",
          bcc: "three@example.org",
          subject: "composed",
          text: "Hello from JSON.",
        }),
        headers: { "content-type": "application/json" },
      });
      expect(composed.status).toBe(202);
      const jsonId = (await json(composed)).id;

      await peer.waitForMessages(2, 10_000);
      const byId = (id: string) => {
        const m = peer.messages.find((x) =>
          Buffer.from(x.raw).toString("latin1").includes(` id ${id}`),
        );
        if (!m) throw new Error(`${id} not received`);
        return m;
      };
      const first = byId(rawId);
      expect(first.mailFrom.address).toBe("app@example.com");
      expect(first.rcptTo.map((r) => r.address)).toEqual(["one@example.net"]);
      const text = Buffer.from(first.raw).toString("latin1");
      expect(text).toStartWith(
        "Received: from localhost (localhost [127.0.0.1])\r\n\tby mail.example.com (posteix) with HTTP id",
      );
      expect(text).toEndWith("\r\n\r\nHello over HTTP.\r\n.\r\n..dots\r\n");

      const second = byId(jsonId);
      expect(second.rcptTo.map((r) => r.address).sort()).toEqual([
        "three@example.org",
        "two@example.net",
      ]);
      const parsed = await simpleParser(Buffer.from(second.raw));
      expect(parsed.subject).toBe("composed");
      expect(parsed.text?.trim()).toBe("Hello from JSON.");
      expect(parsed.headers.has("bcc")).toBe(false);

      // The events stream saw both messages received, delivered and removed.
      const seen: string[] = [];
      const dec = new TextDecoder();
      let buf = "";
      const deadline = Date.now() + 10_000;
      while (seen.filter((s) => s.startsWith("removed")).length < 2 && Date.now() < deadline) {
        const r = await reader.read();
        if (r.done) break;
        buf += dec.decode(r.value, { stream: true });
        let end = buf.indexOf("\n\n");
        while (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = block.split("\n").find((l) => l.startsWith("data: "));
          if (data) {
            const ev = JSON.parse(data.slice(6));
            seen.push(`${ev.event} ${ev.queue_id}${ev.detail.to ? ` ${ev.detail.to}` : ""}`);
          }
          end = buf.indexOf("\n\n");
        }
      }
      await reader.cancel();
      const forRaw = seen.filter((s) => s.includes(rawId));
      expect(forRaw).toEqual([
        `received ${rawId}`,
        `sent ${rawId} one@example.net`,
        `removed ${rawId}`,
      ]);
      const forJson = seen.filter((s) => s.includes(jsonId));
      expect(forJson[0]).toBe(`received ${jsonId}`);
      expect(forJson.at(-1)).toBe(`removed ${jsonId}`);
      expect(forJson.filter((s) => s.startsWith("sent")).sort()).toEqual([
        `sent ${jsonId} three@example.org`,
        `sent ${jsonId} two@example.net`,
      ]);

      const stats = await json(await f.call("/api/v1/stats"));
      expect(stats.counters.accepted).toBe(2);
      expect(stats.counters.delivered).toBe(3);
      expect(stats.queue.total.count).toBe(0);
      expect(stats.scheduler).toMatchObject({ active: 0 });
      const prom = await (await f.call("/metrics")).text();
      expect(prom).toContain('posteix_deliveries_total{result="sent"} 3');
      expect(prom).toContain("posteix_delivery_latency_seconds_count 3");

      // A retry of the first request returns its id though the message is long gone.
      const retry = await f.call("/api/v1/messages?from=app@example.com&to=one@example.net", {
        method: "POST",
        body: "Subject: raw one\n\nHello over HTTP.\n",
        headers: { "content-type": "message/rfc822", "Idempotency-Key": "e2e-1" },
      });
      expect(retry.status).toBe(200);
      expect((await json(retry)).id).toBe(rawId);
      await Bun.sleep(200);
      expect(peer.messages).toHaveLength(2);
    } finally {
      await qmgr.stop();
      await agents.close();
      await f.stop();
      await peer.stop();
    }
  });
});
