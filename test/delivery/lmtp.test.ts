/**
 * The lmtp delivery agent against smtp-server in LMTP mode, over TCP and a unix-domain socket:
 * LHLO, one reply per recipient after the end of data, connection reuse.
 */

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createLmtpAgent } from "../../src/delivery/lmtp.ts";
import type { SmtpAgent } from "../../src/delivery/smtp/index.ts";
import type { DeliveryContext } from "../../src/delivery/types.ts";
import { createResolver } from "../../src/dns/index.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";
import { type SmtpPeer, type SmtpPeerOptions, startSmtpPeer } from "../helpers/smtp-peer.ts";
import { makeConfig, makeRequest, recordingCleanup, removeTempDirs, tempDir } from "./support.ts";

let dns: TestDnsServer;
let ctx: DeliveryContext;
const peers: SmtpPeer[] = [];
const agents: SmtpAgent[] = [];

async function peer(opts: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer({ lmtp: true, ...opts });
  peers.push(p);
  return p;
}

function agent(): SmtpAgent {
  const a = createLmtpAgent(ctx);
  agents.push(a);
  return a;
}

function cfg(extra: Record<string, string> = {}) {
  return makeConfig({
    dns_servers: dns.server,
    lmtp_lhlo_name: "lmtp-client.test",
    smtp_connection_cache_on_demand: "no",
    ...extra,
  });
}

beforeAll(async () => {
  dns = await startDnsServer({});
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

describe("lmtp", () => {
  test("inet: one reply per recipient after the end of data", async () => {
    const p = await peer({
      endOfData: {
        "full@x.test": { code: 452, text: "4.2.2 <full@x.test> Mailbox full" },
        "gone@x.test": { code: 550, text: "5.1.1 <gone@x.test> User unknown" },
      },
    });
    const r = await agent().deliver(
      makeRequest({
        cfg: cfg(),
        transport: "lmtp",
        nexthop: p.nexthop,
        recipients: ["ok@x.test", "full@x.test", "gone@x.test"],
      }),
    );
    const relay = `127.0.0.1[127.0.0.1]:${p.port}`;
    expect(r.recipients).toEqual([
      {
        index: 0,
        status: "sent",
        dsn: "2.0.0",
        diagnostic: "250 2.0.0 <ok@x.test> delivered",
        relay,
      },
      {
        index: 1,
        status: "deferred",
        dsn: "4.2.2",
        diagnostic:
          "host 127.0.0.1[127.0.0.1] said: 452 4.2.2 <full@x.test> Mailbox full (in reply to end of DATA command)",
        relay,
      },
      {
        index: 2,
        status: "bounced",
        dsn: "5.1.1",
        diagnostic:
          "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <gone@x.test> User unknown (in reply to end of DATA command)",
        relay,
      },
    ]);
    expect(p.commands.get(1)?.[0]).toBe("LHLO lmtp-client.test");
    expect(p.messages.length).toBe(1);
    expect(p.messages[0].rcptTo.map((x) => x.address)).toEqual([
      "ok@x.test",
      "full@x.test",
      "gone@x.test",
    ]);
  });

  test("unix socket, a refused RCPT, and connection reuse", async () => {
    const path = join(tempDir(), "lmtp.sock");
    const p = await peer({
      unixPath: path,
      rcpt: { "no@x.test": { code: 550, text: "5.1.1 no such user" } },
    });
    const a = agent();
    const c = cfg({
      smtp_connection_cache_on_demand: "yes",
      smtp_connection_cache_time_limit: "5s",
    });
    const r1 = await a.deliver(
      makeRequest({
        cfg: c,
        transport: "lmtp",
        nexthop: `unix:${path}`,
        recipients: ["a@x.test", "no@x.test"],
      }),
    );
    expect(r1.recipients[0]).toMatchObject({ status: "sent", relay: `lmtp-client.test[${path}]` });
    expect(r1.recipients[1]).toMatchObject({
      status: "bounced",
      dsn: "5.1.1",
      diagnostic: `host lmtp-client.test[${path}] said: 550 5.1.1 no such user (in reply to RCPT TO command)`,
    });
    const r2 = await a.deliver(
      makeRequest({ cfg: c, transport: "lmtp", nexthop: `unix:${path}`, recipients: ["b@x.test"] }),
    );
    expect(r2.recipients[0].status).toBe("sent");
    expect(r2.reused).toBe(true);
    expect(p.connections).toBe(1);
    expect(p.messages.length).toBe(2);
  });

  test("a unix socket that does not exist: deferred 4.4.1", async () => {
    const path = join(tempDir(), "missing.sock");
    const r = await agent().deliver(
      makeRequest({
        cfg: cfg(),
        transport: "lmtp",
        nexthop: `unix:${path}`,
        recipients: ["a@x.test"],
      }),
    );
    expect(r.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.4.1",
      relay: "none",
      diagnostic: `connect to ${path}: No such file or directory`,
    });
  });
});
