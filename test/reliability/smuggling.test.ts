/**
 * SMTP smuggling, end to end (https://www.postfix.org/smtp-smuggling.html,
 * https://sec-consult.com/blog/detail/smtp-smuggling-spoofing-e-mails-worldwide/): every
 * published end-of-data variant, with and without NUL bytes, against a real posteix relaying
 * to a real smtp-server peer.
 *   - from an ordinary client: the message never ends early; the bare line end is refused with
 *     550 5.5.2 and the connection closed, so the smuggled commands never run; nothing queued;
 *   - from a client excluded from the check ($smtpd_forbid_bare_newline_exclusions) and in
 *     BDAT content (no end marker at all): the message is accepted as one message, the
 *     smuggled text stays content, and what the peer receives on the wire holds no bare CR or
 *     LF at all -- so no variant can end data at the next hop either -- and exactly one end of
 *     data per message.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startPosteix, type TestPosteix } from "../helpers/posteix.ts";
import { SmtpClient } from "../helpers/smtp-client.ts";
import { type SmtpPeer, startSmtpPeer } from "../helpers/smtp-peer.ts";

const VARIANTS: [string, string][] = [
  ["\\n.\\n", "\n.\n"],
  ["\\n.\\r\\n", "\n.\r\n"],
  ["\\r.\\r", "\r.\r"],
  ["\\r\\n.\\r", "\r\n.\r"],
  ["\\r\\n.\\n", "\r\n.\n"],
  ["\\r.\\r\\n", "\r.\r\n"],
  ["\\r\\n.\\0\\r\\n", "\r\n.\0\r\n"],
  ["\\r\\n\\0.\\r\\n", "\r\n\0.\r\n"],
  ["\\n.\\0\\n", "\n.\0\n"],
  ["\\r\\n.\\0\\n", "\r\n.\0\n"],
];

/** What follows the variant: a whole second transaction, as in the published attacks. */
const SMUGGLED =
  "MAIL FROM:<admin@example.test>\r\nRCPT TO:<victim@remote.test>\r\nDATA\r\nFrom: admin@example.test\r\nSubject: smuggled\r\n\r\nevil\r\n";

function content(i: number, variant: string): string {
  return `Subject: carrier ${i}\r\nX-Carrier: ${i}\r\n\r\nhello${variant}${SMUGGLED}`;
}

let peer: SmtpPeer;
let px: TestPosteix;
beforeAll(async () => {
  peer = await startSmtpPeer();
  px = await startPosteix({
    mainCf: [
      "mynetworks = 127.0.0.0/8",
      // What this one queues stays queued: the peer counts only the relay's messages.
      "relayhost = [127.0.0.1]:9",
      "minimal_backoff_time = 3600s",
      "maximal_backoff_time = 3600s",
      "smtpd_error_sleep_time = 0",
    ].join("\n"),
  });
});
afterAll(async () => {
  await px?.stop();
  await peer?.stop();
});

/** Every byte the peer read on every connection, as latin1 text. */
function wire(): string[] {
  return [...peer.chunks.values()].map((parts) => parts.join(""));
}

function expectCleanWire(): void {
  for (const w of wire()) {
    for (let i = 0; i < w.length; i++) {
      if (w[i] === "\r" && w[i + 1] !== "\n")
        throw new Error(`bare CR at ${i}: ${JSON.stringify(w.slice(i - 20, i + 20))}`);
      if (w[i] === "\n" && w[i - 1] !== "\r")
        throw new Error(`bare LF at ${i}: ${JSON.stringify(w.slice(i - 20, i + 20))}`);
    }
  }
}

describe("SMTP smuggling", () => {
  test("from an ordinary client no variant ends the message: a bare line end is refused (550 5.5.2, closed); the rest is content", async () => {
    // Not excluded from the bare newline check: the default.
    let refused = 0;
    let carried = 0;
    for (const [name, v] of VARIANTS) {
      const c = await SmtpClient.connect(px.port());
      await c.reply();
      await c.cmd("EHLO client.example.org");
      expect((await c.cmd("MAIL FROM:<a@example.org>")).join()).toStartWith("250");
      expect((await c.cmd("RCPT TO:<b@remote.test>")).join()).toStartWith("250");
      expect((await c.cmd("DATA")).join()).toStartWith("354");
      await c.send(`${content(0, v)}`);
      if (/\r(?!\n)|(?<!\r)\n/.test(v)) {
        const reply = (await c.reply()).join("\n");
        expect(reply, name).toMatch(/^550 5\.5\.2 .*bare <(LF|CR)> received$/);
        expect(await c.waitClosed(2000), name).toBe(true);
        refused++;
      } else {
        // NUL forms without a bare line end: plain content, the message goes on.
        expect(c.pending, name).toBe("");
        const reply = (await c.cmd("\r\n.")).join("\n");
        expect(reply, name).toMatch(/^250 2\.0\.0 Ok: queued as /);
        // The smuggled MAIL/RCPT/DATA were content: nothing else answered.
        expect((await c.cmd("QUIT")).join(), name).toStartWith("221 ");
        expect(c.pending).toBe("");
        carried++;
      }
      c.close();
    }
    const sum = px.master.queue.summary();
    expect(Object.values(sum).reduce((n, x) => n + x.count, 0)).toBe(carried);
    for (const m of px.master.queue.iterate({})) {
      expect(m.recipients.map((r) => r.address)).toEqual(["b@remote.test"]);
    }
    console.log(
      `figures: smuggling from an ordinary client: ${refused} variants refused with 550 5.5.2, ${carried} (NUL, no bare line end) kept as content of one message each`,
    );
  }, 30_000);
});

describe("SMTP smuggling through to the next hop", () => {
  let relay: TestPosteix;
  beforeAll(async () => {
    relay = await startPosteix({
      mainCf: [
        "mynetworks = 127.0.0.0/8",
        `relayhost = [127.0.0.1]:${peer.port}`,
        // This client's bare LFs are normalized (Postfix's "normalize"), not refused.
        "smtpd_forbid_bare_newline_exclusions = 127.0.0.1",
        "smtpd_error_sleep_time = 0",
      ].join("\n"),
    });
  });
  afterAll(async () => {
    await relay?.stop();
  });

  test("each variant from an excluded client (DATA) and in BDAT content: one message each, clean wire at the peer", async () => {
    const before = peer.messages.length;
    let sent = 0;
    const c = await SmtpClient.connect(relay.port());
    await c.reply();
    const ehlo = (await c.cmd("EHLO client.example.org")).join("\n");
    expect(ehlo).toContain("CHUNKING");
    for (const [i, [name, v]] of VARIANTS.entries()) {
      // DATA
      expect((await c.cmd("MAIL FROM:<a@example.org>")).join()).toStartWith("250");
      expect((await c.cmd(`RCPT TO:<data-${i}@remote.test>`)).join()).toStartWith("250");
      expect((await c.cmd("DATA")).join()).toStartWith("354");
      await c.send(`${content(i, v)}\r\n.\r\n`);
      const r1 = (await c.reply()).join("\n");
      expect(r1, `DATA ${name}`).toMatch(/^250 2\.0\.0 Ok: queued as /);
      sent++;
      // BDAT: no end marker at all; the variant is just bytes of the chunk.
      const body = Buffer.from(content(100 + i, v), "latin1");
      expect((await c.cmd("MAIL FROM:<a@example.org>")).join()).toStartWith("250");
      expect((await c.cmd(`RCPT TO:<bdat-${i}@remote.test>`)).join()).toStartWith("250");
      await c.send(Buffer.concat([Buffer.from(`BDAT ${body.length} LAST\r\n`), body]));
      const r2 = (await c.reply()).join("\n");
      expect(r2, `BDAT ${name}`).toMatch(/^250 2\.0\.0 Ok: \d+ bytes queued as /);
      sent++;
    }
    await c.cmd("QUIT");
    c.close();
    await peer.waitForMessages(before + sent, 20_000);
    const got = peer.messages.slice(before);
    // Exactly one message per transaction: nothing smuggled became a message of its own.
    expect(got.length).toBe(sent);
    for (const m of got) {
      const text = Buffer.from(m.raw).toString("latin1");
      expect(m.rcptTo.length).toBe(1);
      expect(m.rcptTo[0].address).not.toBe("victim@remote.test");
      expect(m.mailFrom.address).toBe("a@example.org");
      // The smuggled transaction arrived as content, inside the carrier.
      expect(text).toContain("MAIL FROM:<admin@example.test>");
      expect(text).toMatch(/X-Carrier: \d+/);
    }
    expect(
      peer.messages.filter((m) => m.rcptTo.some((r) => r.address === "victim@remote.test")),
    ).toEqual([]);
    expectCleanWire();
    // One end of data per message on the wire, no more.
    const ends = wire().reduce((n, w) => n + w.split("\r\n.\r\n").length - 1, 0);
    expect(ends).toBe(got.length);
    console.log(
      `figures: smuggling through a relay: ${VARIANTS.length} variants; ${sent} carriers (DATA and BDAT) relayed as ${got.length} messages, wire at the peer free of bare CR/LF, ${ends} ends of data`,
    );
  }, 60_000);
});
