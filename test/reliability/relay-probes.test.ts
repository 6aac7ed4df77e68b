/**
 * Open-relay probe battery against a real posteix (master, smtpd, cleanup, queue in this
 * process), from a client outside $mynetworks and not authenticated: every classic way of
 * making a server forward mail elsewhere -- percent hack, bang paths, source routes, quoted
 * local parts, user@remote@us, IP literals (ours and foreign), trailing dots, mixed case,
 * UTF-8 and punycode domains, with sender and HELO forgeries -- must be refused at RCPT, and
 * nothing may reach the queue. Our own addresses are accepted (the battery is not vacuous).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startPosteix, type TestPosteix } from "../helpers/posteix.ts";
import { SmtpClient } from "../helpers/smtp-client.ts";

let px: TestPosteix;
beforeAll(async () => {
  px = await startPosteix({
    mainCf: [
      "mydestination = example.test, localhost",
      "mynetworks = 192.0.2.0/24",
      "relay_domains =",
      "smtpd_error_sleep_time = 0",
      "smtpd_hard_error_limit = 100",
      "local_recipient_maps =",
      // Nothing may leave even if a probe got through: deliveries would fail, not relay.
      "relayhost = [127.0.0.1]:9",
      "minimal_backoff_time = 3600s",
      "maximal_backoff_time = 3600s",
    ].join("\n"),
  });
});
afterAll(async () => {
  await px?.stop();
});

const R = "elsewhere.example";
const US = "example.test";
const OUR_IP = "127.0.0.1";

/** Each probe: an RCPT argument that would make us forward mail to another host. */
const PROBES: string[] = [
  `<victim@${R}>`,
  `<victim%${R}@${US}>`,
  `<victim%${R}%${US}@${US}>`,
  `<${R}!victim@${US}>`,
  `<${US}!${R}!victim@${US}>`,
  `<${R}!victim%other.example@${US}>`,
  `<@${US}:victim@${R}>`,
  `<@${US},@localhost:victim@${R}>`,
  `<@[${OUR_IP}]:victim@${R}>`,
  `<"victim@${R}"@${US}>`,
  `<"victim%${R}"@${US}>`,
  `<"${R}!victim"@${US}>`,
  `<"victim@${R}">`,
  `<victim@${R}@${US}>`,
  `<victim@${R}@localhost>`,
  `<"victim@${R}"@[${OUR_IP}]>`,
  `<victim%${R}@[${OUR_IP}]>`,
  `<victim@${R}@[${OUR_IP}]>`,
  `<${R}!victim@[${OUR_IP}]>`,
  "<victim@[192.0.2.99]>",
  "<victim@[198.51.100.7]>",
  "<victim@[IPv6:2001:db8::1]>",
  "<victim%[192.0.2.99]@example.test>",
  '<"victim@[192.0.2.99]"@example.test>',
  "<[192.0.2.99]!victim@example.test>",
  `<victim@${R}.>`,
  `<victim@${R.toUpperCase()}>`,
  "<victim@ElseWhere.Example.>",
  `<VICTIM%${R.toUpperCase()}@${US.toUpperCase()}>`,
  `<victim@${US}.${R}>`,
  `<victim@localhost.${R}>`,
  `<victim@sub.${US}>`,
  `<victim@${US}x>`,
  "<victim@\u00e9lsewhere.example>",
  "<victim@\u4f8b\u3048.\u30c6\u30b9\u30c8>",
  "<victim@xn--lsewhere-e1a.example>",
  "<victim%\u00e9lsewhere.example@example.test>",
  `<postmaster@${R}>`,
  `<abuse@${R}>`,
  `<victim@${R}> NOTIFY=NEVER`,
  `<victim@${R}> ORCPT=rfc822;postmaster@${US}`,
  `victim@${R}`,
  ` <victim@${R}>`,
  `<victim@${R}%${US}>`,
  `<victim@[${R}]>`,
  `<victim@${R}:25>`,
  `<"victim"@${R}>`,
  `<victim@[IPv6:::ffff:192.0.2.99]>`,
  `<victim@[0300.0000.0002.0143]>`,
];

/** MAIL FROM and HELO forgeries each probe is tried under. */
const SENDERS = [
  { helo: "client.example.org", from: "<spammer@example.org>" },
  { helo: "mail.example.com", from: `<postmaster@${US}>` },
  { helo: "localhost", from: "<>" },
  { helo: `[${OUR_IP}]`, from: `<root@[${OUR_IP}]>` },
];

describe("open relay probes", () => {
  test(`${PROBES.length} probe forms x ${SENDERS.length} sender/HELO forgeries: none accepted`, async () => {
    const accepted: string[] = [];
    const codes = new Map<string, number>();
    let probes = 0;
    for (const s of SENDERS) {
      const c = await SmtpClient.connect(px.port());
      expect((await c.reply()).join()).toStartWith("220 ");
      expect((await c.cmd(`EHLO ${s.helo}`)).at(-1)).toStartWith("250 ");
      const mail = (await c.cmd(`MAIL FROM:${s.from} SMTPUTF8`)).join("\n");
      expect(mail).toStartWith("250 ");
      for (const p of PROBES) {
        probes++;
        // As UTF-8 bytes (the client announced SMTPUTF8).
        await c.send(new Uint8Array(Buffer.from(`RCPT TO:${p}\r\n`, "utf8")));
        const reply = (await c.reply()).join("\n");
        const code = reply.slice(0, 3);
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (reply.startsWith("2")) accepted.push(`${s.from} -> ${p}: ${reply}`);
      }
      // Control: our own domain is accepted on the same session.
      expect((await c.cmd(`RCPT TO:<someone@${US}>`)).join()).toStartWith("250 ");
      await c.cmd("RSET");
      await c.cmd("QUIT");
      c.close();
    }
    console.log(
      `figures: relay probes: ${probes} refused of ${probes} (${[...codes].map(([k, v]) => `${k}: ${v}`).join(", ")}); ${accepted.length} accepted`,
    );
    expect(accepted).toEqual([]);
    // Nothing was queued.
    const sum = px.master.queue.summary();
    expect(Object.values(sum).reduce((n, x) => n + x.count, 0)).toBe(0);
  }, 60_000);

  test("after DATA too: a transaction whose every probe was refused cannot send", async () => {
    const c = await SmtpClient.connect(px.port());
    await c.reply();
    await c.cmd("EHLO client.example.org");
    await c.cmd("MAIL FROM:<spammer@example.org>");
    for (const p of PROBES.slice(0, 10)) await c.cmd(`RCPT TO:${p}`);
    expect((await c.cmd("DATA")).join()).toMatch(/^554 5\.5\.1 /);
    await c.cmd("QUIT");
    c.close();
  });
});
