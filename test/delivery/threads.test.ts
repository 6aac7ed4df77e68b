/**
 * Delivery threads ($delivery_threads): the smtp and lmtp clients run in a Bun Worker that
 * reads bodies through its own read-only connection, while the main thread keeps scheduling
 * and every queue write. The same mail must come out as without them: exact bytes to an
 * smtp-server MX and an LMTP server, results and log lines from qmgr, -o overrides and reloads
 * honoured, and the deliveries counted by the thread (so none silently fell back).
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { openQueue } from "../../src/queue/index.ts";
import { startPosteix, TEST_MASTER_CF, type TestPosteix } from "../helpers/posteix.ts";
import { type SmtpPeer, startSmtpPeer } from "../helpers/smtp-peer.ts";
import { put, rawDb } from "../queue/helpers.ts";

const stoppers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stoppers.splice(0).reverse()) await s();
});

async function peer(opts: Parameters<typeof startSmtpPeer>[0] = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer(opts);
  stoppers.push(() => p.stop());
  return p;
}

async function posteix(mainCf: string, masterCf?: string): Promise<TestPosteix> {
  const px = await startPosteix({ mainCf, masterCf });
  stoppers.push(() => px.stop());
  return px;
}

async function send(px: TestPosteix, from: string, to: string[], subject: string, text: string) {
  const t = nodemailer.createTransport({ host: "127.0.0.1", port: px.port(), ignoreTLS: true });
  try {
    return await t.sendMail({ from, to, subject, text, messageId: `<${subject}@client.test>` });
  } finally {
    t.close();
  }
}

test("smtp and lmtp deliveries run in the thread: exact bytes, qmgr's log lines, counted", async () => {
  const mx = await peer();
  const lmtp = await peer({ lmtp: true });
  const px = await posteix(
    [
      "delivery_threads = 1",
      `relayhost = [127.0.0.1]:${mx.port}`,
      `transport_maps = inline:{ lmtp.test=lmtp:inet:127.0.0.1:${lmtp.port} }`,
    ].join("\n"),
  );
  const filler = Array.from({ length: 100 }, (_, i) => `${i} ${"x".repeat(60)}`).join("\n");
  const body = `line one\n.starts with a dot\n${filler}\nend`;
  await send(px, "alice@example.com", ["bob@remote.test"], "to-mx", body);
  await send(px, "alice@example.com", ["carol@lmtp.test"], "to-lmtp", body);
  await mx.waitForMessages(1);
  await lmtp.waitForMessages(1);
  await px.waitForLog(/posteix\/smtp: [0-9A-F]+: to=<bob@remote\.test>.*dsn=2\.0\.0, status=sent/);
  await px.waitForLog(/posteix\/lmtp: [0-9A-F]+: to=<carol@lmtp\.test>.*dsn=2\.0\.0, status=sent/);

  for (const [p, rcpt, subject] of [
    [mx, "bob@remote.test", "to-mx"],
    [lmtp, "carol@lmtp.test", "to-lmtp"],
  ] as const) {
    const m = p.messages[0];
    expect(m.mailFrom.address).toBe("alice@example.com");
    expect(m.rcptTo.map((r) => r.address)).toEqual([rcpt]);
    const raw = Buffer.from(m.raw).toString("latin1");
    expect(raw).toContain(`Subject: ${subject}\r\n`);
    expect(raw).toContain(`Message-ID: <${subject}@client.test>\r\n`);
    // Dot-stuffed on the wire by the thread, unstuffed by the peer: the line is intact.
    expect(raw).toContain("\r\n.starts with a dot\r\n");
    expect(raw).toContain(`\r\n${filler.replaceAll("\n", "\r\n")}\r\nend`);
    expect(raw).toMatch(
      /^Received: from \[127\.0\.0\.1\] \(localhost \[127\.0\.0\.1\]\)\r\n\tby mail\.example\.com \(posteix\) with ESMTP id [0-9A-F]+\r\n/,
    );
  }
  // Both went through the thread, none through the main thread's fallback.
  expect(px.master.threads?.stats()).toEqual([{ state: "running", completed: 2 }]);
  // And the queue is empty once qmgr recorded the results.
  for (let i = 0; i < 200 && px.master.queue.summary().active.count > 0; i++) await Bun.sleep(25);
  expect(px.master.queue.summary().active.count).toBe(0);
});

test("a refusal and a temporary failure come back from the thread as bounce and defer", async () => {
  const mx = await peer({
    rcpt: {
      "gone@remote.test": { code: 550, text: "5.1.1 no such user" },
      "later@remote.test": { code: 451, text: "4.3.0 try again" },
    },
  });
  const px = await posteix(`delivery_threads = 1\nrelayhost = [127.0.0.1]:${mx.port}\n`);
  await send(
    px,
    "alice@example.com",
    ["ok@remote.test", "gone@remote.test", "later@remote.test"],
    "mixed",
    "hello",
  );
  await px.waitForLog(/to=<ok@remote\.test>.*status=sent/);
  const bounced = await px.waitForLog(/to=<gone@remote\.test>.*status=bounced/);
  expect(bounced).toContain("dsn=5.1.1");
  expect(bounced).toContain("550 5.1.1 no such user");
  const deferred = await px.waitForLog(/to=<later@remote\.test>.*status=deferred/);
  expect(deferred).toContain("dsn=4.3.0");
  let msg = px.master.queue.list({ state: "deferred" }, { limit: 10 }).messages[0];
  for (let i = 0; i < 200 && !msg; i++) {
    await Bun.sleep(25);
    msg = px.master.queue.list({ state: "deferred" }, { limit: 10 }).messages[0];
  }
  expect(msg.recipients.find((r) => r.address === "later@remote.test")?.status).toBe("deferred");
  expect(msg.recipients.find((r) => r.address === "ok@remote.test")?.status).toBe("sent");
});

test("-o overrides of the transport and a reload reach the thread", async () => {
  const mx = await peer();
  const masterCf = `${TEST_MASTER_CF}\nrelay2 unix - - n - - smtp -o smtp_helo_name=override.example\n`;
  const px = await posteix(
    [
      "delivery_threads = 1",
      "smtp_connection_cache_on_demand = no",
      "smtp_helo_name = first.example",
      `relayhost = [127.0.0.1]:${mx.port}`,
      `transport_maps = inline:{ other.test=relay2:[127.0.0.1]:${mx.port} }`,
    ].join("\n"),
    masterCf,
  );
  const helos = () => [...mx.commands.values()].map((c) => c.find((l) => /^EHLO /i.test(l)));

  await send(px, "alice@example.com", ["a@remote.test"], "one", "1");
  await mx.waitForMessages(1);
  await send(px, "alice@example.com", ["b@other.test"], "two", "2");
  await mx.waitForMessages(2);
  expect(helos()).toEqual(["EHLO first.example", "EHLO override.example"]);

  const cf = join(px.dir, "main.cf");
  writeFileSync(
    cf,
    readFileSync(cf, "utf8").replace(
      "smtp_helo_name = first.example",
      "smtp_helo_name = second.example",
    ),
  );
  expect(await px.master.reload()).toBe(true);
  // reload() returns once the thread has re-read main.cf: the next connection says so.
  await send(px, "alice@example.com", ["c@remote.test"], "three", "3");
  await mx.waitForMessages(3);
  expect(helos()).toEqual(["EHLO first.example", "EHLO override.example", "EHLO second.example"]);
  expect(px.master.threads?.stats()[0].state).toBe("running");
});

test("a body the thread finds damaged goes to the corrupt queue; nothing partial leaves", async () => {
  const mx = await peer();
  const dir = mkdtempSync(join(tmpdir(), "posteix-threads-"));
  stoppers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, "data");
  const q = openQueue({ directory: data, chunkSize: 1024 });
  const text = `${"0123456789abcdef".repeat(4)}\r\n`.repeat(100);
  const big = `Subject: big\r\n\r\n${text}`;
  const good = await put(q, { recipients: [{ address: "good@remote.test" }] }, big);
  const damaged = await put(q, { recipients: [{ address: "damaged@remote.test" }] }, big);
  q.close();
  const db = rawDb(data);
  db.run("DELETE FROM chunks WHERE id = ? AND seq = 3", [damaged]);
  db.close();

  const px = await startPosteix({
    dir,
    mainCf: `delivery_threads = 1\nrelayhost = [127.0.0.1]:${mx.port}\n`,
  });
  stoppers.push(() => px.stop());
  await px.waitForLog(new RegExp(`${damaged}: corrupted queue entry, moved to the corrupt queue`));
  await mx.waitForMessages(1);
  expect(px.master.queue.get(damaged)?.state).toBe("corrupt");
  expect(px.master.queue.get(damaged)?.reason).toContain("body chunk 3 missing");
  // Only the whole message reached the peer, through the thread.
  expect(mx.messages.map((m) => m.rcptTo[0].address)).toEqual(["good@remote.test"]);
  expect(Buffer.from(mx.messages[0].raw).toString("latin1")).toEndWith(`\r\n\r\n${text}`);
  for (let i = 0; i < 200 && px.master.queue.get(good); i++) await Bun.sleep(25);
  expect(px.master.queue.get(good)).toBeNull();
  // Both were read by the thread: the damage was found there, then confirmed here.
  expect(px.master.threads?.stats()).toEqual([{ state: "running", completed: 2 }]);
});
