/**
 * smtpd with the real cleanup and the real queue: nodemailer as the client (with and without
 * PIPELINING), raw BDAT, DSN parameters, restrictions, and what ends up in the queue.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { openCleanup } from "../../src/cleanup/index.ts";
import type { Config } from "../../src/config/types.ts";
import { setLogQuiet } from "../../src/log/index.ts";
import { openQueue, type QueueStore } from "../../src/queue/index.ts";
import { Anvil } from "../../src/smtpd/anvil.ts";
import { type SmtpdServer, startSmtpd } from "../../src/smtpd/server.ts";
import { SmtpClient } from "../helpers/smtp-client.ts";
import { testConfig, testService } from "../helpers/smtp-harness.ts";

setLogQuiet(true);

interface Live {
  cfg: Config;
  queue: QueueStore;
  server: SmtpdServer;
  dir: string;
}

async function live(mainCf: string): Promise<Live> {
  const { cfg, dir } = testConfig(`mydestination = example.test, localhost\n${mainCf}`);
  const queue = openQueue({ directory: join(dir, "q") });
  const server = await startSmtpd({
    service: testService(),
    cfg,
    ctx: { newCleanup: (input) => openCleanup({ cfg, queue }, input), anvil: new Anvil() },
  });
  return { cfg, queue, server, dir };
}

async function close(l: Live): Promise<void> {
  await l.server.stop({ graceful: false });
  l.queue.close();
}

function body(q: QueueStore, id: string): string {
  return Buffer.concat([...q.body(id)]).toString("latin1");
}

function queueIdOf(response: string): string {
  const m = /queued as ([0-9A-F]+)/.exec(response);
  if (!m) throw new Error(`no queue id in ${response}`);
  return m[1];
}

for (const pipelining of [true, false]) {
  describe(`nodemailer, ${pipelining ? "with" : "without"} PIPELINING`, () => {
    let l: Live;
    beforeAll(async () => {
      l = await live(pipelining ? "" : "smtpd_discard_ehlo_keywords = pipelining");
    });
    afterAll(async () => {
      await close(l);
    });

    test("a message lands in the queue with its envelope, DSN options and exact content", async () => {
      const t = nodemailer.createTransport({
        host: "127.0.0.1",
        port: l.server.port,
        secure: false,
        ignoreTLS: true,
      });
      const info = await t.sendMail({
        envelope: { from: "alice@example.org", to: ["bob@example.test", "carol@example.test"] },
        from: "Alice <alice@example.org>",
        to: "bob@example.test",
        subject: "integration",
        text: "line one\n.line two starts with a dot\n",
        dsn: {
          id: "env-42",
          return: "headers",
          notify: ["success", "failure"],
          recipient: "alice@example.org",
        },
      });
      t.close();
      expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
      const id = queueIdOf(info.response);
      const m = l.queue.get(id);
      expect(m).not.toBeNull();
      expect(m!.sender).toBe("alice@example.org");
      expect(m!.envid).toBe("env-42");
      expect(m!.ret).toBe("HDRS");
      expect(m!.recipients.map((r) => [r.address, r.notify])).toEqual([
        ["bob@example.test", ["SUCCESS", "FAILURE"]],
        ["carol@example.test", ["SUCCESS", "FAILURE"]],
      ]);
      expect(m!.client).toMatchObject({
        name: "localhost",
        addr: "127.0.0.1",
        helo: expect.any(String),
      });
      const text = body(l.queue, id);
      expect(text).toStartWith("Received: from ");
      expect(text).toContain("\r\nSubject: integration\r\n");
      expect(text).toContain("\r\n.line two starts with a dot\r\n");
    });

    test("a 5 MB attachment arrives intact", async () => {
      const big = Buffer.alloc(5 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
      const t = nodemailer.createTransport({
        host: "127.0.0.1",
        port: l.server.port,
        secure: false,
        ignoreTLS: true,
      });
      const info = await t.sendMail({
        from: "alice@example.org",
        to: "bob@example.test",
        subject: "big",
        text: "see attachment",
        attachments: [{ filename: "blob.bin", content: big }],
      });
      t.close();
      const text = body(l.queue, queueIdOf(info.response));
      const b64 =
        /Content-Disposition: attachment; filename=blob\.bin\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--/.exec(
          text,
        );
      expect(b64).not.toBeNull();
      expect(Buffer.from(b64![1].replace(/\r\n/g, ""), "base64").equals(big)).toBe(true);
    });

    test("relay from outside $mynetworks is refused; nodemailer reports it", async () => {
      const t = nodemailer.createTransport({
        host: "127.0.0.1",
        port: l.server.port,
        secure: false,
        ignoreTLS: true,
      });
      await expect(
        t.sendMail({ from: "a@example.org", to: "x@elsewhere.example", text: "x" }),
      ).rejects.toThrow(/454 4\.7\.1 <x@elsewhere\.example>: Relay access denied/);
      t.close();
    });
  });
}

describe("raw sessions into the real queue", () => {
  let l: Live;
  beforeAll(async () => {
    l = await live(
      "message_size_limit = 200000\nsmtpd_recipient_restrictions = check_recipient_access inline:{ held@example.test=HOLD }",
    );
  });
  afterAll(async () => {
    await close(l);
  });

  test("BDAT chunks: the content is stored byte for byte, no unstuffing", async () => {
    const c = await SmtpClient.connect(l.server.port);
    await c.line();
    await c.cmd("EHLO client.example.org");
    const part1 = "Subject: chunked\r\n\r\n";
    const part2 = "..not unstuffed\r\n.\r\nstill content\r\n";
    await c.send(
      `MAIL FROM:<a@example.org> BODY=8BITMIME\r\nRCPT TO:<b@example.test>\r\nBDAT ${part1.length}\r\n${part1}BDAT ${part2.length} LAST\r\n${part2}`,
    );
    expect(await c.reply()).toEqual(["250 2.1.0 Ok"]);
    expect(await c.reply()).toEqual(["250 2.1.5 Ok"]);
    expect(await c.reply()).toEqual([`250 2.0.0 Ok: ${part1.length} bytes`]);
    const last = (await c.reply())[0];
    expect(last).toMatch(
      new RegExp(`^250 2\\.0\\.0 Ok: ${part1.length + part2.length} bytes queued as [0-9A-F]+$`),
    );
    const id = queueIdOf(last);
    const text = body(l.queue, id);
    expect(text.slice(text.indexOf("Subject: chunked"))).toBe(part1 + part2);
    expect(l.queue.get(id)!.bodyType).toBe("8BITMIME");
    await c.cmd("QUIT");
  });

  test("an access-table HOLD puts the message on hold", async () => {
    const c = await SmtpClient.connect(l.server.port);
    await c.line();
    await c.cmd("HELO client.example.org");
    await c.cmd("MAIL FROM:<a@example.org>");
    expect(await c.cmd("RCPT TO:<held@example.test>")).toEqual(["250 2.1.5 Ok"]);
    await c.cmd("DATA");
    const r = await c.cmd("Subject: hold me\r\n\r\nx\r\n.");
    const m = l.queue.get(queueIdOf(r[0]))!;
    expect(m.state).toBe("hold");
    await c.cmd("QUIT");
  });

  test("a HOLD decided at a later recipient, after cleanup was opened, still holds", async () => {
    const c = await SmtpClient.connect(l.server.port);
    await c.line();
    await c.cmd("HELO client.example.org");
    await c.cmd("MAIL FROM:<a@example.org>");
    expect(await c.cmd("RCPT TO:<b@example.test>")).toEqual(["250 2.1.5 Ok"]);
    expect(await c.cmd("RCPT TO:<held@example.test>")).toEqual(["250 2.1.5 Ok"]);
    await c.cmd("DATA");
    const r = await c.cmd("Subject: hold me too\r\n\r\nx\r\n.");
    const m = l.queue.get(queueIdOf(r[0]))!;
    expect(m.state).toBe("hold");
    expect(m.recipients.map((x) => x.address)).toEqual(["b@example.test", "held@example.test"]);
    await c.cmd("QUIT");
  });

  test("over $message_size_limit: 552, nothing stored, the session goes on", async () => {
    const c = await SmtpClient.connect(l.server.port);
    await c.line();
    await c.cmd("HELO client.example.org");
    await c.cmd("MAIL FROM:<a@example.org>");
    await c.cmd("RCPT TO:<b@example.test>");
    await c.cmd("DATA");
    const line = `${"x".repeat(998)}\r\n`;
    await c.send(line.repeat(300));
    expect(await c.cmd(".")).toEqual(["552 5.3.4 Error: message file too big"]);
    expect(await c.cmd("NOOP")).toEqual(["250 2.0.0 Ok"]);
    await c.cmd("QUIT");
  });
});
