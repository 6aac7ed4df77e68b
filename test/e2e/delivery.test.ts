/**
 * End to end, in one process: nodemailer submits to posteix's smtpd; qmgr and the delivery
 * agents hand mail to real peers (nodemailer's smtp-server as MX and as LMTP server) found
 * through a real DNS server on 127.0.0.1, or to Maildir; DSNs come back and parse as RFC 3464.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type ParsedMail, simpleParser } from "mailparser";
import nodemailer, { type SendMailOptions } from "nodemailer";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";
import { startPosteix, type TestPosteix } from "../helpers/posteix.ts";
import { type SmtpPeer, startSmtpPeer } from "../helpers/smtp-peer.ts";

let dns: TestDnsServer;
beforeAll(async () => {
  dns = await startDnsServer({});
});
afterAll(async () => {
  await dns.stop();
});

const stoppers: (() => Promise<void>)[] = [];
async function cleanupAll() {
  for (const s of stoppers.splice(0).reverse()) await s();
}

async function peer(opts: Parameters<typeof startSmtpPeer>[0] = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer(opts);
  stoppers.push(() => p.stop());
  return p;
}

async function posteix(mainCf: string, files: Record<string, string> = {}): Promise<TestPosteix> {
  const px = await startPosteix({ mainCf: `dns_servers = ${dns.server}\n${mainCf}`, files });
  stoppers.push(() => px.stop());
  return px;
}

async function send(px: TestPosteix, mail: SendMailOptions) {
  const t = nodemailer.createTransport({
    host: "127.0.0.1",
    port: px.port(),
    secure: false,
    ignoreTLS: true,
  });
  try {
    return await t.sendMail(mail);
  } finally {
    t.close();
  }
}

/** Raw SMTP submission so the exact bytes are under the test's control. */
async function sendRaw(port: number, from: string, to: string[], content: string): Promise<string> {
  const lines = [
    `EHLO client.test`,
    `MAIL FROM:<${from}>`,
    ...to.map((t) => `RCPT TO:<${t}>`),
    "DATA",
  ];
  const replies: string[] = [];
  let buf = "";
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, d) {
        buf += d.toString();
      },
    },
  });
  const waitReply = async () => {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n$/.exec(buf);
      if (m) {
        const r = buf;
        buf = "";
        return r;
      }
      await Bun.sleep(5);
    }
    throw new Error(`no reply; got ${JSON.stringify(buf)}`);
  };
  replies.push(await waitReply());
  for (const l of lines) {
    sock.write(`${l}\r\n`);
    replies.push(await waitReply());
  }
  sock.write(`${content.replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..")}\r\n.\r\n`);
  const final = await waitReply();
  sock.write("QUIT\r\n");
  await waitReply();
  sock.end();
  return final.trim();
}

async function parseDsn(raw: Uint8Array): Promise<ParsedMail> {
  return simpleParser(Buffer.from(raw), { keepDeliveryStatus: true } as Parameters<
    typeof simpleParser
  >[1]);
}

function maildirFiles(dir: string): string[] {
  try {
    return readdirSync(join(dir, "new")).map((f) => readFileSync(join(dir, "new", f), "latin1"));
  } catch {
    return [];
  }
}

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = fn();
    if (v) return v;
    await Bun.sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("relay and MX delivery", () => {
  afterAll(cleanupAll);

  test("mail for a remote domain arrives at its MX byte for byte, plus our Received header", async () => {
    const mx = await peer();
    dns.set("remote.test", "MX", [{ preference: 10, exchange: "mx.remote.test" }]);
    dns.set("mx.remote.test", "A", ["127.0.0.1"]);
    const px = await posteix(`smtp_tcp_port = ${mx.port}\n`);
    const content =
      "From: a@example.com\nTo: b@remote.test\nSubject: exact\nDate: Sat, 28 Nov 2026 10:00:00 +0000\nMessage-ID: <exact@example.com>\n\nline one\n.leading dot\n\n..two dots\nlast";
    const reply = await sendRaw(px.port(), "a@example.com", ["b@remote.test"], content);
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as ([0-9A-F]+)$/);
    const id = /queued as ([0-9A-F]+)/.exec(reply)![1];
    await mx.waitForMessages(1);
    const got = Buffer.from(mx.messages[0].raw).toString("latin1");
    const expected = `${content.replace(/\n/g, "\r\n")}\r\n`;
    const received = got.slice(0, got.length - expected.length);
    expect(got.slice(-expected.length)).toBe(expected);
    expect(received).toMatch(
      new RegExp(
        `^Received: from client\\.test \\(localhost \\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby mail\\.example\\.com \\(posteix\\) with ESMTP id ${id}\\r\\n\\tfor <b@remote\\.test>; [^\\r\\n]+\\r\\n$`,
      ),
    );
    expect(mx.messages[0].mailFrom.address).toBe("a@example.com");
    expect(mx.messages[0].rcptTo.map((r) => r.address)).toEqual(["b@remote.test"]);
    await px.waitForLog(new RegExp(`${id}: removed`));
    expect(px.master.queue.get(id)).toBeNull();
  });

  test("MX preference order, and fallback to the next MX when the first refuses", async () => {
    const primary = await peer({ host: "127.0.0.1" });
    const backup = await peer({ host: "127.0.0.2", port: primary.port });
    dns.set("pref.test", "MX", [
      { preference: 20, exchange: "backup.pref.test" },
      { preference: 10, exchange: "primary.pref.test" },
    ]);
    dns.set("primary.pref.test", "A", ["127.0.0.1"]);
    dns.set("backup.pref.test", "A", ["127.0.0.2"]);
    // dead.test's best MX (127.0.0.3) has no server: connection refused, then the next MX.
    dns.set("dead.test", "MX", [
      { preference: 5, exchange: "down.dead.test" },
      { preference: 50, exchange: "up.dead.test" },
    ]);
    dns.set("down.dead.test", "A", ["127.0.0.3"]);
    dns.set("up.dead.test", "A", ["127.0.0.2"]);
    const px = await posteix(`smtp_tcp_port = ${primary.port}\n`);
    await send(px, { from: "a@example.com", to: "x@pref.test", subject: "pref", text: "1" });
    await primary.waitForMessages(1);
    expect(backup.messages.length).toBe(0);
    await send(px, { from: "a@example.com", to: "y@dead.test", subject: "fallback", text: "2" });
    await backup.waitForMessages(1);
    expect(backup.messages[0].rcptTo[0].address).toBe("y@dead.test");
    const line = await px.waitForLog(/to=<y@dead\.test>.*status=sent/);
    expect(line).toContain(`relay=up.dead.test[127.0.0.2]:${primary.port}`);
  });

  test("relayhost takes everything non-local, without an MX lookup", async () => {
    const relay = await peer();
    const px = await posteix(`relayhost = [127.0.0.1]:${relay.port}\n`);
    await send(px, { from: "a@example.com", to: "z@nowhere-in-dns.test", subject: "r", text: "r" });
    await relay.waitForMessages(1);
    expect(relay.messages[0].rcptTo[0].address).toBe("z@nowhere-in-dns.test");
    expect(dns.queries.some((q: { name: string }) => q.name === "nowhere-in-dns.test")).toBe(false);
  });

  test("transport_maps route a domain to SMTP at a fixed host and another to LMTP with per-recipient replies", async () => {
    const special = await peer();
    const lmtp = await peer({
      lmtp: true,
      endOfData: { "bad@lmtp.test": { code: 552, text: "5.2.2 mailbox full" } },
    });
    const px = await posteix(
      "transport_maps = texthash:$config_directory/transport\nbounce_notice_recipient = postmaster\n",
      {
        transport: `special.test smtp:[127.0.0.1]:${special.port}\nlmtp.test lmtp:inet:127.0.0.1:${lmtp.port}\n.sub.special.test smtp:[127.0.0.1]:${special.port}\n`,
      },
    );
    await send(px, {
      from: "a@example.com",
      to: ["u@special.test", "v@x.sub.special.test"],
      subject: "t",
      text: "t",
    });
    await special.waitForMessages(1);
    expect(special.messages[0].rcptTo.map((r) => r.address).sort()).toEqual([
      "u@special.test",
      "v@x.sub.special.test",
    ]);

    await send(px, {
      from: "a@example.com",
      to: ["good@lmtp.test", "bad@lmtp.test"],
      subject: "l",
      text: "l",
    });
    await lmtp.waitForMessages(1);
    await px.waitForLog(/to=<good@lmtp\.test>.*dsn=2\.0\.0, status=sent/);
    const bad = await px.waitForLog(/to=<bad@lmtp\.test>.*status=bounced/);
    expect(bad).toContain("dsn=5.2.2");
  });

  test("per-recipient mixed results in one transaction: sent, deferred, bounced", async () => {
    const mx = await peer({
      rcpt: {
        "later@mixed.test": { code: 450, text: "4.2.0 try later" },
        "nobody@mixed.test": { code: 550, text: "5.1.1 no such user" },
      },
    });
    const px = await posteix(
      `relayhost = [127.0.0.1]:${mx.port}\nminimal_backoff_time = 300s\nmaximal_backoff_time = 600s\n`,
    );
    const info = await send(px, {
      from: "a@example.com",
      to: ["ok@mixed.test", "later@mixed.test", "nobody@mixed.test"],
      subject: "mixed",
      text: "m",
    });
    const id = /queued as ([0-9A-F]+)/.exec(info.response)![1];
    await px.waitForLog(new RegExp(`${id}: to=<ok@mixed\\.test>.*status=sent`));
    await px.waitForLog(
      new RegExp(`${id}: to=<later@mixed\\.test>.*dsn=4\\.2\\.0, status=deferred`),
    );
    await px.waitForLog(
      new RegExp(`${id}: to=<nobody@mixed\\.test>.*dsn=5\\.1\\.1, status=bounced`),
    );
    // One transaction carried all three recipients.
    expect(mx.connections).toBe(1);
    const rec = await waitFor("deferred state", () => {
      const r = px.master.queue.get(id);
      return r?.state === "deferred" ? r : undefined;
    });
    expect(rec.recipients.map((r) => [r.address, r.status])).toEqual([
      ["ok@mixed.test", "sent"],
      ["later@mixed.test", "deferred"],
      ["nobody@mixed.test", "bounced"],
    ]);
    expect(rec.nextAttempt! - Date.now()).toBeGreaterThan(250_000);
    // The sender gets a DSN for the one hard failure, through the same relay.
    await mx.waitForMessages(2);
    const dsn = mx.messages[1];
    expect(dsn.mailFrom.address).toBe("");
    expect(dsn.rcptTo[0].address).toBe("a@example.com");
    const parsed = await parseDsn(dsn.raw);
    expect(parsed.headers.get("content-type")).toMatchObject({
      value: "multipart/report",
      params: { "report-type": "delivery-status" },
    });
    const status = parsed.attachments.find((a) => a.contentType === "message/delivery-status")!;
    const text = status.content.toString();
    expect(text).toContain("Final-Recipient: rfc822; nobody@mixed.test");
    expect(text).toContain("Action: failed");
    expect(text).toContain("Status: 5.1.1");
    expect(text).not.toContain("later@mixed.test");
  });

  test("a 4xx reply defers with backoff, and a later attempt delivers", async () => {
    let tries = 0;
    const mx = await peer({
      rcpt: () =>
        ++tries === 1 ? { code: 451, text: "4.7.1 greylisted, come back later" } : undefined,
    });
    const px = await posteix(
      `relayhost = [127.0.0.1]:${mx.port}\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n`,
    );
    const info = await send(px, {
      from: "a@example.com",
      to: "grey@grey.test",
      subject: "g",
      text: "g",
    });
    const id = /queued as ([0-9A-F]+)/.exec(info.response)![1];
    await px.waitForLog(new RegExp(`${id}: to=<grey@grey\\.test>.*dsn=4\\.7\\.1, status=deferred`));
    const t0 = Date.now();
    await mx.waitForMessages(1, 10_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
    await px.waitForLog(new RegExp(`${id}: removed`));
    const history = px.master.queue.history(id).map((e) => e.kind);
    expect(history).toContain("deferred");
    expect(history).toContain("sent");
  });

  test("a message that outlives maximal_queue_lifetime is returned with an RFC 3464 report", async () => {
    const mx = await peer({
      rcpt: (a) => (a === "stuck@expire.test" ? { code: 450, text: "4.3.2 busy" } : undefined),
    });
    const px = await posteix(
      `relayhost = [127.0.0.1]:${mx.port}\nmaximal_queue_lifetime = 2s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n`,
    );
    const info = await send(px, {
      from: "sender@example.com",
      to: "stuck@expire.test",
      subject: "exp",
      text: "e",
    });
    const id = /queued as ([0-9A-F]+)/.exec(info.response)![1];
    await px.waitForLog(
      new RegExp(`${id}: from=<sender@example\\.com>, status=expired, returned to sender`),
      15_000,
    );
    await mx.waitForMessages(1, 10_000);
    const dsn = mx.messages.find((m) => m.mailFrom.address === "")!;
    expect(dsn.rcptTo[0].address).toBe("sender@example.com");
    const parsed = await parseDsn(dsn.raw);
    const status = parsed.attachments
      .find((a) => a.contentType === "message/delivery-status")!
      .content.toString();
    expect(status).toContain("Final-Recipient: rfc822; stuck@expire.test");
    expect(status).toContain("Action: failed");
    expect(status).toMatch(/Status: 4\.3\.2/);
    await px.waitForLog(new RegExp(`${id}: removed`));
  });

  test("a bounce of a bounce does not loop", async () => {
    const mx = await peer({ rcpt: { "gone@loop.test": { code: 550, text: "5.1.1 gone" } } });
    const px = await posteix(`relayhost = [127.0.0.1]:${mx.port}\n`);
    const reply = await sendRaw(px.port(), "", ["gone@loop.test"], "Subject: a bounce\n\nbody");
    const id = /queued as ([0-9A-F]+)/.exec(reply)![1];
    await px.waitForLog(new RegExp(`${id}: to=<gone@loop\\.test>.*status=bounced`));
    await px.waitForLog(new RegExp(`${id}: removed`));
    await Bun.sleep(300);
    expect(mx.messages.length).toBe(0);
    expect(px.logs.some((l) => /undeliverable bounce|2bounce/.test(l))).toBe(true);
    const s = px.master.queue.summary();
    expect(Object.values(s).reduce((n, x) => n + x.count, 0)).toBe(0);
  });

  test("connections to the same next hop are reused", async () => {
    const mx = await peer();
    const px = await posteix(`relayhost = [127.0.0.1]:${mx.port}\n`);
    await send(px, { from: "a@example.com", to: "one@reuse.test", subject: "1", text: "1" });
    await mx.waitForMessages(1);
    await send(px, { from: "a@example.com", to: "two@reuse.test", subject: "2", text: "2" });
    await mx.waitForMessages(2);
    expect(mx.connections).toBe(1);
    expect(mx.messages[1].connection).toBe(mx.messages[0].connection);
  });
});

describe("local and virtual delivery", () => {
  afterAll(cleanupAll);

  test("mail for a local user lands in Maildir with Return-Path and Delivered-To", async () => {
    const px = await posteix("");
    const reply = await sendRaw(
      px.port(),
      "a@example.com",
      ["root@localhost"],
      "Subject: local\nFrom: a@example.com\nDate: Sat, 28 Nov 2026 10:00:00 +0000\nMessage-ID: <local@example.com>\n\nhello root",
    );
    expect(reply).toMatch(/^250 /);
    const dir = join(px.dir, "data", "mail", "root");
    const [file] = await waitFor("maildir file", () => {
      const f = maildirFiles(dir);
      return f.length > 0 ? f : undefined;
    });
    expect(file).toMatch(
      /^Return-Path: <a@example\.com>\nDelivered-To: root@localhost\nReceived: from client\.test /,
    );
    expect(file.slice(file.indexOf("\nSubject: local"))).toBe(
      "\nSubject: local\nFrom: a@example.com\nDate: Sat, 28 Nov 2026 10:00:00 +0000\nMessage-ID: <local@example.com>\n\nhello root\n",
    );
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
  });

  test("a virtual mailbox made with `posteix user add` receives mail in Maildir under virtual_mailbox_base", async () => {
    const px = await posteix("virtual_mailbox_domains = example.org\n");
    px.master.queue.users.add("alice@example.org", await Bun.password.hash("secret"));
    const reply = await sendRaw(
      px.port(),
      "a@example.com",
      ["Alice@Example.org"],
      "Subject: virtual\n\nfor alice",
    );
    expect(reply).toMatch(/^250 /);
    const dir = join(px.dir, "data", "vmail", "example.org", "alice");
    const [file] = await waitFor("maildir file", () => {
      const f = maildirFiles(dir);
      return f.length > 0 ? f : undefined;
    });
    expect(file).toMatch(/^Return-Path: <a@example\.com>\nDelivered-To: alice@example\.org\n/);
    expect(file).toContain("\nSubject: virtual\n");
    // Not a user: refused at RCPT time.
    const t = nodemailer.createTransport({
      host: "127.0.0.1",
      port: px.port(),
      secure: false,
      ignoreTLS: true,
    });
    const err = await t
      .sendMail({ from: "a@example.com", to: "bob@example.org", text: "x" })
      .catch((e) => e);
    t.close();
    expect(err.responseCode).toBe(550);
    expect(err.response).toContain("User unknown in virtual mailbox table");
  });

  test("aliases and virtual aliases expand", async () => {
    const mx = await peer();
    const px = await posteix(
      [
        `relayhost = [127.0.0.1]:${mx.port}`,
        "alias_maps = texthash:$config_directory/aliases",
        "virtual_alias_domains = alias.test",
        "virtual_alias_maps = texthash:$config_directory/virtual",
      ].join("\n"),
      {
        aliases: "staff: root, outside@remote.test\n",
        virtual: "info@alias.test staff@localhost, copy@remote.test\n",
      },
    );
    const reply = await sendRaw(
      px.port(),
      "a@example.com",
      ["info@alias.test"],
      "Subject: alias\n\nfan out",
    );
    expect(reply).toMatch(/^250 /);
    await mx.waitForMessages(2, 10_000);
    const rcpts = mx.messages.flatMap((m) => m.rcptTo.map((r) => r.address)).sort();
    expect(rcpts).toEqual(["copy@remote.test", "outside@remote.test"]);
    const dir = join(px.dir, "data", "mail", "root");
    const [file] = await waitFor("maildir file", () => {
      const f = maildirFiles(dir);
      return f.length > 0 ? f : undefined;
    });
    expect(file).toContain("Subject: alias");
  });

  test("unknown local and virtual-alias recipients are refused at RCPT with 550 5.1.1", async () => {
    const px = await posteix(
      "virtual_alias_domains = alias.test\nvirtual_alias_maps = inline:{ real@alias.test=root@localhost }\n",
    );
    const t = nodemailer.createTransport({
      host: "127.0.0.1",
      port: px.port(),
      secure: false,
      ignoreTLS: true,
    });
    const err1 = await t
      .sendMail({ from: "a@example.com", to: "no-such-user-xyz@localhost", text: "x" })
      .catch((e) => e);
    expect(err1.responseCode).toBe(550);
    expect(err1.response).toContain("5.1.1");
    expect(err1.response).toContain("User unknown in local recipient table");
    const err2 = await t
      .sendMail({ from: "a@example.com", to: "fake@alias.test", text: "x" })
      .catch((e) => e);
    expect(err2.responseCode).toBe(550);
    expect(err2.response).toContain("User unknown in virtual alias table");
    t.close();
  });
});
