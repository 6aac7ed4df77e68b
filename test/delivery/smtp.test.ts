/**
 * The smtp delivery agent against real servers: nodemailer's smtp-server as the MX (on
 * 127.0.0.x loopback addresses) and the test DNS server publishing MX and A records.
 */

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createSmtpAgent, type SmtpAgent } from "../../src/delivery/smtp/index.ts";
import type { DeliveryContext } from "../../src/delivery/types.ts";
import { createResolver } from "../../src/dns/index.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";
import { type SmtpPeer, type SmtpPeerOptions, startSmtpPeer } from "../helpers/smtp-peer.ts";
import { makeConfig, makeRequest, recipient, recordingCleanup, removeTempDirs } from "./support.ts";

let dns: TestDnsServer;
let ctx: DeliveryContext;
const peers: SmtpPeer[] = [];
const agents: SmtpAgent[] = [];

async function peer(opts: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer(opts);
  peers.push(p);
  return p;
}

function agent(): SmtpAgent {
  const a = createSmtpAgent(ctx);
  agents.push(a);
  return a;
}

/** main.cf for these tests: no TLS unless asked, no connection cache unless asked. */
function cfg(extra: Record<string, string> = {}) {
  return makeConfig({
    dns_servers: dns.server,
    inet_protocols: "ipv4",
    smtp_tls_security_level: "none",
    smtp_connection_cache_on_demand: "no",
    ...extra,
  });
}

beforeAll(async () => {
  dns = await startDnsServer({
    "nxdomain-parent.test": { A: ["127.0.0.1"] },
    "nullmx.test": { MX: [{ preference: 0, exchange: "." }] },
    "nomx.test": { A: ["127.0.0.1"] },
  });
  ctx = {
    resolver: createResolver({ servers: [dns.server] }),
    newCleanup: recordingCleanup().newCleanup,
    hostname: "client.test",
  };
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});

afterAll(async () => {
  await dns.stop();
  removeTempDirs();
});

describe("next hop and MX", () => {
  test("MX preference order, then the next MX when the first refuses connections", async () => {
    const a = await peer({ host: "127.0.0.1" });
    const b = await peer({ host: "127.0.0.2", port: a.port });
    dns.set("pref.test", "MX", [
      { preference: 20, exchange: "mx2.pref.test" },
      { preference: 10, exchange: "mx1.pref.test" },
    ]);
    dns.set("mx1.pref.test", "A", ["127.0.0.2"]);
    dns.set("mx2.pref.test", "A", ["127.0.0.1"]);
    const c = cfg();
    const r1 = await agent().deliver(
      makeRequest({ cfg: c, nexthop: `pref.test:${a.port}`, recipients: ["u@pref.test"] }),
    );
    expect(r1.recipients[0]).toMatchObject({
      status: "sent",
      dsn: "2.0.0",
      relay: `mx1.pref.test[127.0.0.2]:${a.port}`,
      diagnostic: "250 2.0.0 Ok: queued as PEER1",
    });
    expect(b.messages.length).toBe(1);
    expect(a.messages.length).toBe(0);

    await b.stop();
    peers.splice(peers.indexOf(b), 1);
    const r2 = await agent().deliver(
      makeRequest({ cfg: c, nexthop: `pref.test:${a.port}`, recipients: ["u@pref.test"] }),
    );
    expect(r2.recipients[0]).toMatchObject({
      status: "sent",
      relay: `mx2.pref.test[127.0.0.1]:${a.port}`,
    });
    expect(a.messages.length).toBe(1);
  });

  test("every MX refusing: deferred 4.4.1 with Postfix's connect text", async () => {
    dns.set("down.test", "MX", [{ preference: 10, exchange: "mx.down.test" }]);
    dns.set("mx.down.test", "A", ["127.0.0.9"]);
    const r = await agent().deliver(
      makeRequest({
        cfg: cfg(),
        nexthop: "down.test:2",
        recipients: ["u@down.test", "v@down.test"],
      }),
    );
    for (const o of r.recipients)
      expect(o).toMatchObject({
        status: "deferred",
        dsn: "4.4.1",
        relay: "none",
        diagnostic: "connect to mx.down.test[127.0.0.9]:2: Connection refused",
      });
  });

  test("$smtp_mx_address_limit and $smtp_mx_session_limit stop the search", async () => {
    const busy = await peer({ host: "127.0.0.5", mail: { code: 451, text: "4.3.0 busy" } });
    const ok = await peer({ host: "127.0.0.1", port: busy.port });
    dns.set("limits.test", "MX", [
      { preference: 1, exchange: "a.limits.test" },
      { preference: 2, exchange: "b.limits.test" },
    ]);
    dns.set("a.limits.test", "A", ["127.0.0.5"]);
    dns.set("b.limits.test", "A", ["127.0.0.1"]);
    const req = (extra: Record<string, string>) =>
      makeRequest({
        cfg: cfg(extra),
        nexthop: `limits.test:${busy.port}`,
        recipients: ["u@limits.test"],
      });
    const r1 = await agent().deliver(req({ smtp_mx_session_limit: "1" }));
    expect(r1.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.3.0",
      diagnostic:
        "host a.limits.test[127.0.0.5] said: 451 4.3.0 busy (in reply to MAIL FROM command)",
    });
    const r2 = await agent().deliver(req({ smtp_mx_address_limit: "1" }));
    expect(r2.recipients[0].status).toBe("deferred");
    expect(ok.connections).toBe(0);
    const r3 = await agent().deliver(req({}));
    expect(r3.recipients[0].status).toBe("sent");
    expect(ok.connections).toBe(1);
  });

  test("a domain without MX falls back to its A record", async () => {
    const p = await peer();
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: `nomx.test:${p.port}`, recipients: ["u@nomx.test"] }),
    );
    expect(r.recipients[0]).toMatchObject({
      status: "sent",
      relay: `nomx.test[127.0.0.1]:${p.port}`,
    });
    expect(p.messages[0].rcptTo[0].address).toBe("u@nomx.test");
  });

  test("NXDOMAIN bounces 5.4.4", async () => {
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: "nope.nxdomain-parent.test", recipients: ["u@x"] }),
    );
    expect(r.recipients[0]).toEqual({
      index: 0,
      status: "bounced",
      dsn: "5.4.4",
      relay: "none",
      diagnostic:
        "Host or domain name not found. Name service error for name=nope.nxdomain-parent.test type=MX: Host not found",
    });
  });

  test("null MX bounces 5.1.10 at once", async () => {
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: "nullmx.test", recipients: ["u@nullmx.test"] }),
    );
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.1.10",
      diagnostic: "Domain nullmx.test does not accept mail (nullMX)",
    });
  });

  test("a DNS temporary failure defers 4.4.3", async () => {
    dns.set("broken.test", "A", ["127.0.0.1"]);
    dns.setMode("broken.test", "servfail");
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: "broken.test", recipients: ["u@broken.test"] }),
    );
    expect(r.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.4.3",
      diagnostic:
        "Host or domain name not found. Name service error for name=broken.test type=MX: Host not found, try again",
    });
  });

  test("[host]:port needs no DNS; $smtp_fallback_relay takes what the primary deferred", async () => {
    const p = await peer();
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: `[127.0.0.1]:${p.port}`, recipients: ["u@x.test"] }),
    );
    expect(r.recipients[0]).toMatchObject({
      status: "sent",
      relay: `127.0.0.1[127.0.0.1]:${p.port}`,
    });

    const r2 = await agent().deliver(
      makeRequest({
        cfg: cfg({ smtp_fallback_relay: `[127.0.0.1]:${p.port}` }),
        nexthop: "[127.0.0.9]:2",
        recipients: ["u@x.test"],
      }),
    );
    expect(r2.recipients[0]).toMatchObject({
      status: "sent",
      relay: `127.0.0.1[127.0.0.1]:${p.port}`,
    });
    expect(p.messages.length).toBe(2);
  });

  test("a 5xx greeting is skipped for the next MX; without skipping it bounces", async () => {
    const bad = await peer({ host: "127.0.0.3", greeting: { code: 554, text: "5.7.1 go away" } });
    const good = await peer({ host: "127.0.0.1", port: bad.port });
    dns.set("greet.test", "MX", [
      { preference: 10, exchange: "mx1.greet.test" },
      { preference: 20, exchange: "mx2.greet.test" },
    ]);
    dns.set("mx1.greet.test", "A", ["127.0.0.3"]);
    dns.set("mx2.greet.test", "A", ["127.0.0.1"]);
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: `greet.test:${bad.port}`, recipients: ["u@greet.test"] }),
    );
    expect(r.recipients[0]).toMatchObject({
      status: "sent",
      relay: `mx2.greet.test[127.0.0.1]:${bad.port}`,
    });
    expect(good.messages.length).toBe(1);

    const r2 = await agent().deliver(
      makeRequest({
        cfg: cfg({ smtp_skip_5xx_greeting: "no" }),
        nexthop: `[127.0.0.3]:${bad.port}`,
        recipients: ["u@greet.test"],
      }),
    );
    expect(r2.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.7.1",
      diagnostic: "host 127.0.0.3[127.0.0.3] refused to talk to me: 554 5.7.1 go away",
    });
  });
});

describe("SMTP conversation", () => {
  test("PIPELINING: MAIL, every RCPT and DATA in one write; mixed 250/450/550 results", async () => {
    const p = await peer({
      size: 10_000,
      rcpt: {
        "later@x.test": { code: 450, text: "4.2.0 <later@x.test>: greylisted" },
        "nobody@x.test": { code: 550, text: "5.1.1 <nobody@x.test>: no such user" },
      },
    });
    const r = await agent().deliver(
      makeRequest({
        cfg: cfg(),
        nexthop: p.nexthop,
        recipients: ["ok@x.test", "later@x.test", "nobody@x.test"],
      }),
    );
    const label = `127.0.0.1[127.0.0.1]`;
    expect(r.recipients).toEqual([
      {
        index: 0,
        status: "sent",
        dsn: "2.0.0",
        diagnostic: "250 2.0.0 Ok: queued as PEER1",
        relay: `${label}:${p.port}`,
      },
      {
        index: 1,
        status: "deferred",
        dsn: "4.2.0",
        diagnostic: `host ${label} said: 450 4.2.0 <later@x.test>: greylisted (in reply to RCPT TO command)`,
        relay: `${label}:${p.port}`,
      },
      {
        index: 2,
        status: "bounced",
        dsn: "5.1.1",
        diagnostic: `host ${label} said: 550 5.1.1 <nobody@x.test>: no such user (in reply to RCPT TO command)`,
        relay: `${label}:${p.port}`,
      },
    ]);
    expect(p.messages[0].rcptTo.map((x) => x.address)).toEqual(["ok@x.test"]);
    const chunks = p.chunks.get(1) ?? [];
    const batch = chunks.find((c) => c.startsWith("MAIL FROM:"));
    expect(batch).toBe(
      "MAIL FROM:<sender@client.test> SIZE=24\r\nRCPT TO:<ok@x.test>\r\nRCPT TO:<later@x.test>\r\nRCPT TO:<nobody@x.test>\r\nDATA\r\n",
    );
  });

  test("without PIPELINING each command waits for its reply", async () => {
    const p = await peer({ hidePipelining: true });
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: p.nexthop, recipients: ["a@x.test", "b@x.test"] }),
    );
    expect(r.recipients.map((o) => o.status)).toEqual(["sent", "sent"]);
    const chunks = p.chunks.get(1) ?? [];
    expect(chunks.filter((c) => /^(MAIL|RCPT|DATA)/.test(c))).toEqual([
      "MAIL FROM:<sender@client.test>\r\n",
      "RCPT TO:<a@x.test>\r\n",
      "RCPT TO:<b@x.test>\r\n",
      "DATA\r\n",
    ]);
  });

  test("4xx to DATA defers every accepted recipient", async () => {
    const p = await peer({ data: { code: 451, text: "4.3.0 try again later" } });
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: p.nexthop, recipients: ["a@x.test", "b@x.test"] }),
    );
    for (const o of r.recipients)
      expect(o).toMatchObject({
        status: "deferred",
        dsn: "4.3.0",
        diagnostic:
          "host 127.0.0.1[127.0.0.1] said: 451 4.3.0 try again later (in reply to DATA command)",
      });
    expect(p.messages.length).toBe(0);
  });

  test("5xx at end of data bounces; multi-line replies are joined as Postfix logs them", async () => {
    const p = await peer({
      endOfData: { code: 554, text: "5.7.1 Message rejected\n5.7.1 see https://example.test/why" },
    });
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: p.nexthop, recipients: ["a@x.test"] }),
    );
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.7.1",
      diagnostic:
        "host 127.0.0.1[127.0.0.1] said: 554-5.7.1 Message rejected 554 5.7.1 see https://example.test/why (in reply to end of DATA command)",
    });
  });

  test("EHLO refused: HELO instead, no extensions used", async () => {
    const p = await peer({ ehlo: { code: 502, text: "5.5.2 EHLO not implemented" } });
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: p.nexthop, recipients: ["a@x.test"] }),
    );
    expect(r.recipients[0].status).toBe("sent");
    const cmds = p.commands.get(1) ?? [];
    expect(cmds.slice(0, 3)).toEqual([
      "EHLO client.test",
      "HELO client.test",
      "MAIL FROM:<sender@client.test>",
    ]);
    const p2 = await peer();
    await agent().deliver(
      makeRequest({
        cfg: cfg({ smtp_never_send_ehlo: "yes", smtp_helo_name: "helo.client.test" }),
        nexthop: p2.nexthop,
        recipients: ["a@x.test"],
      }),
    );
    expect(p2.commands.get(1)?.[0]).toBe("HELO helo.client.test");
  });

  test("SIZE: a message over the server's limit bounces 5.3.4 without MAIL", async () => {
    const p = await peer({ size: 100 });
    const r = await agent().deliver(
      makeRequest({
        cfg: cfg(),
        nexthop: p.nexthop,
        recipients: ["a@x.test"],
        body: `Subject: big\r\n\r\n${"x".repeat(200)}\r\n`,
      }),
    );
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.3.4",
      diagnostic: "message size 218 exceeds size limit 100 of server 127.0.0.1[127.0.0.1]",
    });
    expect((p.commands.get(1) ?? []).some((c) => c.startsWith("MAIL"))).toBe(false);
  });

  test("SMTPUTF8: refused by a server without it (5.6.7), passed on to one with it", async () => {
    const without = await peer({ hideSmtputf8: true });
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: without.nexthop, recipients: ["jürgen@x.test"] }),
    );
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.6.7",
      diagnostic: "SMTPUTF8 is required, but was not offered by host 127.0.0.1[127.0.0.1]",
    });
    const withIt = await peer();
    const r2 = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: withIt.nexthop, recipients: ["jürgen@x.test"] }),
    );
    expect(r2.recipients[0].status).toBe("sent");
    expect((withIt.commands.get(1) ?? []).find((c) => c.startsWith("MAIL"))).toBe(
      "MAIL FROM:<sender@client.test> SMTPUTF8",
    );
    expect(withIt.messages[0].rcptTo[0].address).toBe("jürgen@x.test");
  });

  test("8BITMIME: BODY=8BITMIME when the message is 8bit and the server offers it", async () => {
    const p = await peer();
    await agent().deliver(
      makeRequest({
        cfg: cfg(),
        nexthop: p.nexthop,
        recipients: ["a@x.test"],
        message: { bodyType: "8BITMIME" },
      }),
    );
    expect((p.commands.get(1) ?? []).find((c) => c.startsWith("MAIL"))).toBe(
      "MAIL FROM:<sender@client.test> BODY=8BITMIME",
    );
  });

  test("DSN: NOTIFY, ORCPT, RET and ENVID are passed on, xtext-encoded", async () => {
    const p = await peer();
    const r = await agent().deliver(
      makeRequest({
        cfg: cfg(),
        nexthop: p.nexthop,
        sender: "",
        message: { ret: "HDRS", envid: "env+id=1" },
        recipients: [
          recipient(0, "a@x.test", {
            notify: ["SUCCESS", "FAILURE"],
            orcpt: "rfc822;A+1@orig.test",
          }),
          recipient(1, "b@x.test", { notify: ["NEVER"], original: "alias@orig.test" }),
          recipient(2, "c@x.test"),
        ],
      }),
    );
    expect(r.recipients.map((o) => o.status)).toEqual(["sent", "sent", "sent"]);
    const cmds = p.commands.get(1) ?? [];
    expect(cmds.filter((c) => /^(MAIL|RCPT)/.test(c))).toEqual([
      "MAIL FROM:<> RET=HDRS ENVID=env+2Bid+3D1",
      "RCPT TO:<a@x.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;A+2B1@orig.test",
      "RCPT TO:<b@x.test> NOTIFY=NEVER ORCPT=rfc822;alias@orig.test",
      "RCPT TO:<c@x.test>",
    ]);
    const m = p.messages[0];
    expect(m.rcptTo[0].dsn).toEqual({
      notify: ["SUCCESS", "FAILURE"],
      orcpt: "rfc822;A+1@orig.test",
    });
    // Without DSN at the server, nothing is sent.
    const plain = await peer({ dsn: false });
    await agent().deliver(
      makeRequest({
        cfg: cfg(),
        nexthop: plain.nexthop,
        message: { ret: "FULL", envid: "x" },
        recipients: [recipient(0, "a@x.test", { notify: ["SUCCESS"] })],
      }),
    );
    expect((plain.commands.get(1) ?? []).filter((c) => /^(MAIL|RCPT)/.test(c))).toEqual([
      "MAIL FROM:<sender@client.test>",
      "RCPT TO:<a@x.test>",
    ]);
  });

  test("content: dot-stuffing and bare LF/CR normalised; the peer gets what was stored", async () => {
    const p = await peer();
    const stored = "Subject: dots\r\n\r\n.hello\r\n..two\r\nbare\nlf\rcr\r\n.\r\nend";
    const r = await agent().deliver(
      makeRequest({
        cfg: cfg(),
        nexthop: p.nexthop,
        recipients: ["a@x.test"],
        body: stored,
        chunkSize: 3,
      }),
    );
    expect(r.recipients[0].status).toBe("sent");
    expect(new TextDecoder().decode(p.messages[0].raw)).toBe(
      "Subject: dots\r\n\r\n.hello\r\n..two\r\nbare\r\nlf\r\ncr\r\n.\r\nend\r\n",
    );
    const wire = (p.chunks.get(1) ?? []).join("");
    expect(wire).toContain("\r\n..hello\r\n...two\r\nbare\r\nlf\r\ncr\r\n..\r\nend\r\n.\r\n");
  });

  test("452 too many recipients: the rest go in a second transaction", async () => {
    const p = await peer({ maxRecipients: 2 });
    const r = await agent().deliver(
      makeRequest({
        cfg: cfg(),
        nexthop: p.nexthop,
        recipients: ["a@x.test", "b@x.test", "c@x.test"],
      }),
    );
    expect(r.recipients.map((o) => o.status)).toEqual(["sent", "sent", "sent"]);
    expect(p.connections).toBe(1);
    expect(p.messages.map((m) => m.rcptTo.map((x) => x.address))).toEqual([
      ["a@x.test", "b@x.test"],
      ["c@x.test"],
    ]);
  });

  test("a server that never greets: deferred 4.4.2 after smtp_helo_timeout", async () => {
    const p = await peer({ silent: true });
    const t0 = Date.now();
    const r = await agent().deliver(
      makeRequest({
        cfg: cfg({ smtp_helo_timeout: "1s" }),
        nexthop: p.nexthop,
        recipients: ["a@x.test"],
      }),
    );
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.4.2",
      diagnostic:
        "conversation with 127.0.0.1[127.0.0.1] timed out while receiving the initial server greeting",
    });
  });

  test("a server that drops the connection: deferred 4.4.2 lost connection", async () => {
    // A bare socket server: greets, then hangs up on EHLO.
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          s.write("220 flaky.test ESMTP\r\n");
        },
        data(s) {
          s.end();
        },
      },
    });
    try {
      const r = await agent().deliver(
        makeRequest({
          cfg: cfg(),
          nexthop: `[127.0.0.1]:${server.port}`,
          recipients: ["a@x.test"],
        }),
      );
      expect(r.recipients[0]).toMatchObject({
        status: "deferred",
        dsn: "4.4.2",
        relay: `127.0.0.1[127.0.0.1]:${server.port}`,
        diagnostic: "lost connection with 127.0.0.1[127.0.0.1] while performing the EHLO handshake",
      });
    } finally {
      server.stop(true);
    }
  });

  test("the AbortSignal ends a delivery at once, deferred", async () => {
    const p = await peer({ silent: true });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: p.nexthop, recipients: ["a@x.test"], signal: ac.signal }),
    );
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r.recipients[0]).toMatchObject({ status: "deferred", diagnostic: "delivery aborted" });
  });

  test("4xx at MAIL moves on to the next MX", async () => {
    const busy = await peer({ host: "127.0.0.4", mail: { code: 421, text: "4.3.2 busy" } });
    const ok = await peer({ host: "127.0.0.1", port: busy.port });
    dns.set("busy.test", "MX", [
      { preference: 1, exchange: "a.busy.test" },
      { preference: 2, exchange: "b.busy.test" },
    ]);
    dns.set("a.busy.test", "A", ["127.0.0.4"]);
    dns.set("b.busy.test", "A", ["127.0.0.1"]);
    const r = await agent().deliver(
      makeRequest({ cfg: cfg(), nexthop: `busy.test:${busy.port}`, recipients: ["a@busy.test"] }),
    );
    expect(r.recipients[0]).toMatchObject({
      status: "sent",
      relay: `b.busy.test[127.0.0.1]:${busy.port}`,
    });
    expect(ok.messages.length).toBe(1);
  });
});

describe("connection cache", () => {
  test("two deliveries to one next hop use one connection", async () => {
    const p = await peer();
    const a = agent();
    const c = cfg({
      smtp_connection_cache_on_demand: "yes",
      smtp_connection_cache_time_limit: "5s",
    });
    const r1 = await a.deliver(
      makeRequest({ cfg: c, nexthop: p.nexthop, recipients: ["a@x.test"] }),
    );
    const r2 = await a.deliver(
      makeRequest({ cfg: c, nexthop: p.nexthop, recipients: ["b@x.test"] }),
    );
    expect(r1.recipients[0].status).toBe("sent");
    expect(r2.recipients[0].status).toBe("sent");
    expect(r1.reused).toBeUndefined();
    expect(r2.reused).toBe(true);
    expect(p.connections).toBe(1);
    expect(p.messages.length).toBe(2);
    expect(p.commands.get(1)).toContain("RSET");
    await a.close();
    await p.waitForClose(1);
    expect(p.commands.get(1)?.at(-1)).toBe("QUIT");
  });

  test("idle connections expire after $smtp_connection_cache_time_limit; the reuse limit holds", async () => {
    const p = await peer();
    const a = agent();
    const c = cfg({
      smtp_connection_cache_on_demand: "yes",
      smtp_connection_cache_time_limit: "1s",
      smtp_connection_reuse_count_limit: "2",
    });
    await a.deliver(makeRequest({ cfg: c, nexthop: p.nexthop, recipients: ["a@x.test"] }));
    await a.deliver(makeRequest({ cfg: c, nexthop: p.nexthop, recipients: ["a@x.test"] }));
    // Two uses: the connection is not cached again.
    await p.waitForClose(1);
    expect(a.cachedConnections).toBe(0);
    await a.deliver(makeRequest({ cfg: c, nexthop: p.nexthop, recipients: ["a@x.test"] }));
    expect(p.connections).toBe(2);
    expect(a.cachedConnections).toBe(1);
    await p.waitForClose(2, 5000);
    expect(a.cachedConnections).toBe(0);
  });
});
