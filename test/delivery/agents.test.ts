/**
 * virtual, discard and error agents, and the master.cf command map of createAgents().
 */

import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseErrorText } from "../../src/delivery/error.ts";
import { closeAgents, createAgents } from "../../src/delivery/index.ts";
import type { DeliveryContext } from "../../src/delivery/types.ts";
import { createVirtualAgent } from "../../src/delivery/virtual.ts";
import { createResolver } from "../../src/dns/index.ts";
import { makeConfig, makeRequest, recordingCleanup, removeTempDirs, tempDir } from "./support.ts";

const ctx: DeliveryContext = {
  resolver: createResolver({ servers: ["127.0.0.1:1"] }),
  newCleanup: recordingCleanup().newCleanup,
  hostname: "client.test",
};

afterAll(() => removeTempDirs());

describe("virtual", () => {
  const root = tempDir("posteix-virtual-");
  writeFileSync(
    join(root, "vmailbox"),
    "v1@virt.test virt.test/v1/\nv2@virt.test virt.test/v2.mbox\n@catch.test catch.test/all/\n",
  );
  const cfg = makeConfig({
    virtual_mailbox_maps: `texthash:${root}/vmailbox`,
    virtual_mailbox_base: `${root}/vmail`,
    recipient_delimiter: "+",
  });
  const agent = createVirtualAgent(ctx);
  const deliver = (rcpt: string, body?: string) =>
    agent.deliver(
      makeRequest({ cfg, transport: "virtual", nexthop: "virt.test", recipients: [rcpt], body }),
    );

  test("Maildir, with the extension stripped for the lookup", async () => {
    const r = await deliver("V1+news@virt.test");
    expect(r.recipients[0]).toEqual({
      index: 0,
      status: "sent",
      dsn: "2.0.0",
      diagnostic: "delivered to maildir",
      relay: "virtual",
    });
    const dir = join(root, "vmail/virt.test/v1/new");
    const files = readdirSync(dir);
    expect(files.length).toBe(1);
    expect(readFileSync(join(dir, files[0]), "utf8")).toBe(
      "Return-Path: <sender@client.test>\nDelivered-To: v1+news@virt.test\nSubject: test\n\nhello\n",
    );
  });

  test("mbox file and catch-all", async () => {
    expect((await deliver("v2@virt.test")).recipients[0].diagnostic).toBe("delivered to mailbox");
    expect(readFileSync(join(root, "vmail/virt.test/v2.mbox"), "utf8")).toContain(
      "Delivered-To: v2@virt.test\nSubject: test\n\nhello\n\n",
    );
    expect((await deliver("anyone@catch.test")).recipients[0].status).toBe("sent");
    expect(readdirSync(join(root, "vmail/catch.test/all/new")).length).toBe(1);
  });

  test("unknown user bounces 5.1.1; a Delivered-To loop 5.4.6", async () => {
    expect((await deliver("nobody@virt.test")).recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.1.1",
      diagnostic: 'unknown user: "nobody@virt.test"',
    });
    const r = await deliver(
      "v1@virt.test",
      "Delivered-To: v1@virt.test\r\nSubject: x\r\n\r\nloop\r\n",
    );
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.4.6",
      diagnostic: "mail forwarding loop for v1@virt.test",
    });
  });
});

describe("discard and error", () => {
  const agents = createAgents(ctx);
  const cfg = makeConfig();
  const req = (transport: string, nexthop: string) =>
    makeRequest({ cfg, transport, nexthop, recipients: ["a@x.test", "b@x.test"] });

  test("discard: every recipient sent, relay=none", async () => {
    const r = await agents.agentFor("discard")?.deliver(req("discard", ""));
    expect(r?.recipients).toEqual([
      { index: 0, status: "sent", dsn: "2.0.0", diagnostic: "discarded", relay: "none" },
      { index: 1, status: "sent", dsn: "2.0.0", diagnostic: "discarded", relay: "none" },
    ]);
  });

  test("error: bounced with the next-hop text; 4.x.x or retry defers", async () => {
    const r = await agents.agentFor("error")?.deliver(req("error", "5.1.1 User unknown"));
    expect(r?.recipients[0]).toEqual({
      index: 0,
      status: "bounced",
      dsn: "5.1.1",
      diagnostic: "User unknown",
      relay: "none",
    });
    const soft = await agents.agentFor("error")?.deliver(req("error", "4.7.1 Try again later"));
    expect(soft?.recipients[1]).toMatchObject({
      status: "deferred",
      dsn: "4.7.1",
      diagnostic: "Try again later",
    });
    const retry = await agents.agentFor("error")?.deliver(req("retry", "mailbox moving"));
    expect(retry?.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.0.0",
      diagnostic: "mailbox moving",
    });
    expect(parseErrorText("", false)).toEqual({
      status: "bounced",
      dsn: "5.0.0",
      diagnostic: "delivery failed",
    });
  });

  test("createAgents maps master.cf command names", async () => {
    for (const c of ["smtp", "lmtp", "local", "virtual", "discard", "error", "retry"])
      expect(agents.agentFor(c)).toBeDefined();
    expect(agents.agentFor("pipe")).toBeUndefined();
    await closeAgents();
  });
});
