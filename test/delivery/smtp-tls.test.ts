/**
 * Outbound STARTTLS at each smtp_tls_security_level against smtp-server with a self-signed
 * certificate made by the openssl CLI, including failed handshakes and failed verification.
 */

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createSmtpAgent, type SmtpAgent } from "../../src/delivery/smtp/index.ts";
import type { DeliveryContext } from "../../src/delivery/types.ts";
import { createResolver } from "../../src/dns/index.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";
import { type SmtpPeer, type SmtpPeerOptions, startSmtpPeer } from "../helpers/smtp-peer.ts";
import {
  makeConfig,
  makeRequest,
  recordingCleanup,
  removeTempDirs,
  selfSignedCert,
} from "./support.ts";

let dns: TestDnsServer;
let ctx: DeliveryContext;
let cert: ReturnType<typeof selfSignedCert>;
const peers: SmtpPeer[] = [];
const agents: SmtpAgent[] = [];

async function peer(opts: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer({ tls: { key: cert.key, cert: cert.cert }, ...opts });
  peers.push(p);
  return p;
}

async function deliver(level: string, nexthop: string, extra: Record<string, string> = {}) {
  const a = createSmtpAgent(ctx);
  agents.push(a);
  const cfg = makeConfig({
    dns_servers: dns.server,
    inet_protocols: "ipv4",
    smtp_connection_cache_on_demand: "no",
    smtp_tls_security_level: level,
    ...extra,
  });
  return a.deliver(makeRequest({ cfg, nexthop, recipients: ["u@tls.test"] }));
}

beforeAll(async () => {
  cert = selfSignedCert(["mx.tls.test"]);
  dns = await startDnsServer({
    "tls.test": { MX: [{ preference: 10, exchange: "mx.tls.test" }] },
    "mx.tls.test": { A: ["127.0.0.1"] },
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

describe("smtp_tls_security_level", () => {
  test("none: no STARTTLS even when offered", async () => {
    const p = await peer();
    const r = await deliver("none", p.nexthop);
    expect(r.recipients[0].status).toBe("sent");
    expect(r.tls).toBeUndefined();
    expect(p.messages[0].secure).toBe(false);
    expect(p.commands.get(1)).not.toContain("STARTTLS");
  });

  test("may: STARTTLS when offered, certificate not checked, EHLO again inside TLS", async () => {
    const p = await peer();
    const r = await deliver("may", p.nexthop);
    expect(r.recipients[0].status).toBe("sent");
    expect(r.tls).toMatchObject({ verified: false, peer: "mx.tls.test" });
    expect(["TLSv1.2", "TLSv1.3"]).toContain(r.tls?.protocol ?? "");
    expect(r.tls?.cipher).toMatch(/^[A-Z0-9_-]+$/);
    expect(p.messages[0].secure).toBe(true);
    expect(p.commands.get(1)?.slice(0, 3)).toEqual([
      "EHLO client.test",
      "STARTTLS",
      "EHLO client.test",
    ]);
  });

  test("a cached TLS connection is reused with its TLS summary", async () => {
    const p = await peer();
    const a = createSmtpAgent(ctx);
    agents.push(a);
    const cfg = makeConfig({
      smtp_tls_security_level: "encrypt",
      smtp_connection_cache_on_demand: "yes",
      smtp_connection_cache_time_limit: "5s",
    });
    const r1 = await a.deliver(
      makeRequest({ cfg, nexthop: p.nexthop, recipients: ["a@tls.test"] }),
    );
    const r2 = await a.deliver(
      makeRequest({ cfg, nexthop: p.nexthop, recipients: ["b@tls.test"] }),
    );
    expect(r2.reused).toBe(true);
    expect(r2.tls).toEqual(r1.tls as NonNullable<typeof r1.tls>);
    expect(p.connections).toBe(1);
    expect(p.messages.map((m) => m.secure)).toEqual([true, true]);
  });

  test("may: plain text when STARTTLS is not offered", async () => {
    const p = await startSmtpPeer();
    peers.push(p);
    const r = await deliver("may", p.nexthop);
    expect(r.recipients[0].status).toBe("sent");
    expect(p.messages[0].secure).toBe(false);
  });

  test("may: a failed handshake is retried in plain text on a new connection", async () => {
    const p = await peer({ tls: { key: cert.key, cert: cert.cert, broken: true } });
    const r = await deliver("may", p.nexthop);
    expect(r.recipients[0].status).toBe("sent");
    expect(r.tls).toBeUndefined();
    expect(p.connections).toBe(2);
    expect(p.messages[0]).toMatchObject({ secure: false, connection: 2 });
    expect(p.commands.get(2)).not.toContain("STARTTLS");
  });

  test("encrypt: deferred 4.7.4 when STARTTLS is not offered", async () => {
    const p = await startSmtpPeer();
    peers.push(p);
    const r = await deliver("encrypt", p.nexthop);
    expect(r.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.7.4",
      diagnostic: "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]",
    });
    expect(p.messages.length).toBe(0);
  });

  test("encrypt: deferred 4.7.5 when the handshake fails, no plain-text retry", async () => {
    const p = await peer({ tls: { key: cert.key, cert: cert.cert, broken: true } });
    const r = await deliver("encrypt", p.nexthop);
    expect(r.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.7.5",
      diagnostic: "Cannot start TLS: handshake failure",
    });
    expect(p.connections).toBe(1);
    expect(p.messages.length).toBe(0);
  });

  test("TLS 1.2 is the minimum: a TLS 1.1 server fails the handshake", async () => {
    const p = await peer({ tls: { key: cert.key, cert: cert.cert, maxVersion: "TLSv1.1" } });
    const r = await deliver("encrypt", p.nexthop);
    expect(r.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.7.5",
      diagnostic: "Cannot start TLS: handshake failure",
    });
    const r2 = await deliver("may", p.nexthop);
    expect(r2.recipients[0].status).toBe("sent");
    expect(p.messages.map((m) => m.secure)).toEqual([false]);
  });

  test("smtp_tls_protocols: TLSv1.3 only fails against a TLS 1.2 server; !TLSv1.3 gets 1.2", async () => {
    const p = await peer({ tls: { key: cert.key, cert: cert.cert, maxVersion: "TLSv1.2" } });
    const r = await deliver("encrypt", p.nexthop, { smtp_tls_protocols: "TLSv1.3" });
    expect(r.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.7.5",
      diagnostic: "Cannot start TLS: handshake failure",
    });
    expect(p.messages.length).toBe(0);
    const q = await peer();
    const r2 = await deliver("encrypt", q.nexthop, { smtp_tls_protocols: "!SSLv3, !TLSv1.3" });
    expect(r2.recipients[0].status).toBe("sent");
    expect(r2.tls?.protocol).toBe("TLSv1.2");
    const r3 = await deliver("encrypt", q.nexthop, { smtp_tls_protocols: ">=TLSv1.3" });
    expect(r3.tls?.protocol).toBe("TLSv1.3");
    expect(q.messages.map((m) => m.secure)).toEqual([true, true]);
  });

  test("encrypt: an unverified certificate is fine", async () => {
    const p = await peer();
    const r = await deliver("encrypt", p.nexthop);
    expect(r.recipients[0].status).toBe("sent");
    expect(p.messages[0].secure).toBe(true);
  });

  test("verify: passes with $smtp_tls_CAfile and the MX host name", async () => {
    const p = await peer();
    const r = await deliver("verify", `tls.test:${p.port}`, { smtp_tls_CAfile: cert.certFile });
    expect(r.recipients[0]).toMatchObject({
      status: "sent",
      relay: `mx.tls.test[127.0.0.1]:${p.port}`,
    });
    expect(r.tls).toMatchObject({ verified: true, peer: "mx.tls.test" });
    expect(p.messages[0].secure).toBe(true);
  });

  test("verify: fails without the CA file (system store), and on a name mismatch", async () => {
    const p = await peer();
    const r = await deliver("verify", `tls.test:${p.port}`);
    expect(r.recipients[0]).toMatchObject({ status: "deferred", dsn: "4.7.5" });
    expect(r.recipients[0].diagnostic).toStartWith(
      "Server certificate not verified (mx.tls.test[127.0.0.1]:",
    );
    expect(p.messages.length).toBe(0);

    dns.set("other.test", "MX", [{ preference: 10, exchange: "mx.other.test" }]);
    dns.set("mx.other.test", "A", ["127.0.0.1"]);
    const r2 = await deliver("verify", `other.test:${p.port}`, { smtp_tls_CAfile: cert.certFile });
    expect(r2.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.7.5",
      diagnostic:
        "Server certificate not verified (mx.other.test[127.0.0.1]: ERR_TLS_CERT_ALTNAME_INVALID)",
    });
    expect(p.messages.length).toBe(0);
  });
});
