/**
 * The session without a socket: it is transport-agnostic, so these tests drive it with feed()
 * and read what it writes, which makes timing-dependent behaviour (input before the greeting,
 * one write per pipelined batch, error delays, the AUTH and STARTTLS seams) deterministic.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { onLog, setLogQuiet } from "../../src/log/index.ts";
import { Anvil } from "../../src/smtpd/anvil.ts";
import { serveStdio } from "../../src/smtpd/index.ts";
import { SmtpSession } from "../../src/smtpd/session.ts";
import type { PeerInfo, SessionTransport, SmtpdContext, TlsInfo } from "../../src/smtpd/types.ts";
import { recordingCleanup } from "../helpers/smtp-cleanup.ts";
import { testConfig } from "../helpers/smtp-harness.ts";

setLogQuiet(true);
const logs: string[] = [];
onLog((_p, sev, text) => logs.push(sev === "info" ? text : `${sev}: ${text}`));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const remote: PeerInfo = {
  addr: "198.51.100.7",
  port: 40000,
  name: "client.example.org",
  nameStatus: "ok",
  reverseName: "client.example.org",
  reverseStatus: "ok",
};

interface Harness {
  session: SmtpSession;
  writes: string[];
  closed: () => boolean;
  /** Feed text and wait until the session went idle. */
  say(text: string): Promise<string>;
  rec: ReturnType<typeof recordingCleanup>;
}

async function harness(
  mainCf = "",
  opts: {
    ctx?: Partial<SmtpdContext>;
    transport?: Partial<SessionTransport>;
    client?: PeerInfo;
    start?: boolean;
  } = {},
): Promise<Harness> {
  const { cfg, dir } = testConfig(`mydestination = example.test\n${mainCf}`);
  dirs.push(dir);
  const writes: string[] = [];
  let closed = false;
  const rec = recordingCleanup();
  const session = new SmtpSession({
    cfg,
    ctx: { newCleanup: rec.newCleanup, anvil: new Anvil(), ...opts.ctx },
    service: "smtp",
    client: opts.client ?? remote,
    transport: {
      write: (d) => writes.push(d),
      close: () => {
        closed = true;
      },
      ...opts.transport,
    },
  });
  const settle = async () => {
    for (let i = 0; i < 200; i++) {
      await Bun.sleep(1);
      if (session.ended) break;
    }
  };
  const h: Harness = {
    session,
    writes,
    closed: () => closed,
    rec,
    async say(text) {
      const before = writes.length;
      session.feed(Buffer.from(text, "utf8"));
      for (let i = 0; i < 500 && writes.length === before && !session.ended; i++)
        await Bun.sleep(1);
      await Bun.sleep(2);
      return writes.slice(before).join("");
    },
  };
  if (opts.start !== false) {
    await session.start();
    await settle;
  }
  return h;
}

describe("session", () => {
  test("input before the greeting: 554 5.5.0 in place of the greeting, then close", async () => {
    const h = await harness("", { start: false });
    h.session.feed(Buffer.from("EHLO early.example\r\n"));
    await h.session.start();
    await h.session.closed;
    expect(h.writes.join("")).toBe("554 5.5.0 Error: SMTP protocol synchronization\r\n");
    expect(h.closed()).toBe(true);
    expect(logs).toContain(
      "improper command pipelining after CONNECT from client.example.org[198.51.100.7]: EHLO early.example\\r\\n",
    );
  });

  test("the replies to a pipelined batch go out in one write", async () => {
    const h = await harness();
    expect(h.writes).toEqual(["220 mx.example.test ESMTP posteix\r\n"]);
    await h.say("EHLO client.example.org\r\n");
    const n = h.writes.length;
    const out = await h.say(
      "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n",
    );
    expect(h.writes.length).toBe(n + 1);
    expect(out).toBe(
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
    );
    const end = await h.say("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n");
    expect(end).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]+\r\n221 2\.0\.0 Bye\r\n$/);
    await h.session.closed;
    const m = h.rec.messages[0];
    expect(h.rec.content(m)).toBe("Subject: x\r\n\r\nbody\r\n");
    expect(m.recipients.map((r) => r.address)).toEqual(["b@example.test", "c@example.test"]);
    expect(m.input.client).toEqual({
      name: "client.example.org",
      addr: "198.51.100.7",
      helo: "client.example.org",
      protocol: "ESMTP",
      saslUser: undefined,
    });
    expect(m.input.trusted).toBe(false);
    expect(m.ended).toBe(true);
  });

  test("envelope parameters reach cleanup", async () => {
    const h = await harness("mynetworks = 198.51.100.0/24");
    await h.say("EHLO client.example.org\r\n");
    await h.say("MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1\r\n");
    await h.say(
      "RCPT TO:<b@example.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@example.test\r\n",
    );
    await h.say("DATA\r\n");
    await h.say(".\r\n");
    const m = h.rec.messages[0];
    expect(m.input).toMatchObject({
      sender: "a@example.org",
      origin: "smtpd",
      trusted: true,
      envid: "id+1",
      ret: "HDRS",
      bodyType: "8BITMIME",
      smtputf8: true,
      protocol: "ESMTP",
    });
    expect(m.recipients).toEqual([
      { address: "b@example.test", orcpt: "rfc822;b+x@example.test", notify: ["SUCCESS", "DELAY"] },
    ]);
  });

  test("RSET, a new EHLO and QUIT in the middle of a transaction abort the cleanup session", async () => {
    const h = await harness();
    await h.say("EHLO client.example.org\r\n");
    await h.say("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
    await h.say("RSET\r\n");
    await h.say("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
    await h.say("EHLO again.example.org\r\n");
    await h.say("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
    await h.say("DATA\r\n");
    await h.say("partial\r\n");
    h.session.peerClosed();
    await h.session.closed;
    expect(h.rec.messages.map((m) => [m.aborted, m.ended])).toEqual([
      [true, false],
      [true, false],
      [true, false],
    ]);
  });

  test("$smtpd_error_sleep_time delays replies once $smtpd_soft_error_limit is reached", async () => {
    const h = await harness("smtpd_soft_error_limit = 2\nsmtpd_error_sleep_time = 1s");
    await h.say("FOO\r\n");
    await h.say("FOO\r\n");
    const t0 = performance.now();
    const out = await h.say("NOOP\r\n");
    for (let i = 0; i < 1500 && !h.writes.at(-1)?.startsWith("250"); i++) await Bun.sleep(1);
    expect(h.writes.at(-1)).toBe("250 2.0.0 Ok\r\n");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
    void out;
  });

  test("debug_peer_list: a C:/S: transcript in the log, AUTH arguments and exchanges redacted", async () => {
    const auth = {
      mechanisms: () => ["PLAIN", "LOGIN"],
      async authenticate(
        _v: unknown,
        mech: string,
        initial: string | undefined,
        exchange: (c: string) => Promise<string>,
      ) {
        if (mech === "LOGIN") {
          const user = await exchange("VXNlcm5hbWU6");
          const pass = await exchange("UGFzc3dvcmQ6");
          return user === "am9l" && pass === "c2VjcmV0"
            ? { ok: true as const, user: "joe", method: "LOGIN" }
            : {
                ok: false as const,
                reply: { code: 535, enhanced: "5.7.8", text: "Error: authentication failed" },
              };
        }
        return initial === "AGpvZQBzZWNyZXQ="
          ? { ok: true as const, user: "joe", method: "PLAIN" }
          : {
              ok: false as const,
              reply: { code: 535, enhanced: "5.7.8", text: "Error: authentication failed" },
            };
      },
    };
    const h = await harness(
      "debug_peer_list = 198.51.100.7\nsmtpd_sasl_auth_enable = yes\nsmtpd_tls_auth_only = no",
      { ctx: { auth } },
    );
    const ehlo = await h.say("EHLO client.example.org\r\n");
    expect(ehlo).toContain("250-AUTH PLAIN LOGIN\r\n");
    expect(await h.say("AUTH PLAIN bm9wZQBub3BlAG5vcGU=\r\n")).toBe(
      "535 5.7.8 Error: authentication failed\r\n",
    );
    expect(await h.say("AUTH LOGIN\r\n")).toBe("334 VXNlcm5hbWU6\r\n");
    expect(await h.say("am9l\r\n")).toBe("334 UGFzc3dvcmQ6\r\n");
    expect(await h.say("c2VjcmV0\r\n")).toBe("235 2.7.0 Authentication successful\r\n");
    expect(await h.say("AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n")).toBe(
      "503 5.5.1 Error: already authenticated\r\n",
    );
    await h.say("MAIL FROM:<joe@example.org>\r\nRCPT TO:<x@elsewhere.example>\r\n");
    await h.say("QUIT\r\n");
    await h.session.closed;
    const trace = logs.filter((l) => l.startsWith("debug: "));
    expect(trace).toContain("debug: < client.example.org[198.51.100.7]: EHLO client.example.org");
    expect(trace).toContain("debug: > client.example.org[198.51.100.7]: 250-mx.example.test");
    expect(trace).toContain("debug: < client.example.org[198.51.100.7]: AUTH PLAIN ********");
    expect(trace).toContain("debug: < client.example.org[198.51.100.7]: ********");
    expect(
      trace.some((l) => l.includes("bm9wZQ") || l.includes("c2VjcmV0") || l.includes("am9l")),
    ).toBe(false);
    // An authenticated client is trusted by cleanup, and may relay (permit_sasl_authenticated).
    expect(h.rec.messages[0].input.client.saslUser).toBe("joe");
    expect(h.rec.messages[0].input.trusted).toBe(true);
    expect(h.rec.messages[0].input.protocol).toBe("ESMTPA");
    expect(logs).toContain(
      `${h.rec.messages[0].queueId}: client=client.example.org[198.51.100.7], sasl_method=LOGIN, sasl_username=joe`,
    );
  });

  test("STARTTLS through the seam: 220, input sent before the handshake dropped, state reset", async () => {
    let upgraded = false;
    let writesAtUpgrade: string[] = [];
    const info: TlsInfo = { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", bits: 256 };
    const h = await harness("", {
      ctx: { tls: { offer: () => true } },
      transport: {
        async startTls() {
          upgraded = true;
          writesAtUpgrade = h.writes.slice(-1);
          await Bun.sleep(5);
          return info;
        },
      },
    });
    expect(await h.say("EHLO client.example.org\r\n")).toContain("250-STARTTLS\r\n");
    // STARTTLS command injection: plaintext pipelined after STARTTLS must never be executed.
    expect(await h.say("STARTTLS\r\nRSET\r\nMAIL FROM:<evil@example.org>\r\n")).toBe(
      "220 2.0.0 Ready to start TLS\r\n",
    );
    expect(upgraded).toBe(true);
    expect(writesAtUpgrade).toEqual(["220 2.0.0 Ready to start TLS\r\n"]);
    for (let i = 0; i < 100 && !h.session.tls; i++) await Bun.sleep(2);
    expect(h.session.tls).toEqual(info);
    const ehlo = await h.say("EHLO client.example.org\r\n");
    expect(ehlo).not.toContain("STARTTLS");
    expect(await h.say("STARTTLS\r\n")).toBe("554 5.5.1 Error: TLS already active\r\n");
    await h.say("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n");
    await h.say(".\r\n");
    expect(h.rec.messages[0].input.tls).toEqual(info);
    expect(h.rec.messages[0].input.protocol).toBe("ESMTPS");
  });

  test("smtpd_tls_security_level = encrypt: only pre-TLS commands before STARTTLS", async () => {
    const h = await harness("smtpd_tls_security_level = encrypt");
    await h.say("EHLO client.example.org\r\n");
    expect(await h.say("MAIL FROM:<a@example.org>\r\n")).toBe(
      "530 5.7.0 Must issue a STARTTLS command first\r\n",
    );
    expect(await h.say("NOOP\r\n")).toBe("250 2.0.0 Ok\r\n");
  });

  test("ETRN with the scheduler hook", async () => {
    const asked: string[] = [];
    const h = await harness("", {
      ctx: {
        flush: (d) => {
          asked.push(d);
          return d !== "closed.example";
        },
      },
    });
    await h.say("EHLO client.example.org\r\n");
    expect(await h.say("ETRN @example.org\r\n")).toBe("250 Queuing started\r\n");
    expect(await h.say("ETRN closed.example\r\n")).toBe(
      "459 <closed.example>: service unavailable\r\n",
    );
    expect(await h.say("ETRN [192.0.2.1]\r\n")).toBe("250 Queuing started\r\n");
    await h.say("MAIL FROM:<a@example.org>\r\n");
    expect(await h.say("ETRN example.org\r\n")).toBe("503 Error: MAIL transaction in progress\r\n");
    expect(asked).toEqual(["example.org", "closed.example", "[192.0.2.1]"]);
  });

  test("shutdown: 421 4.3.2 and close; afterTransaction waits for the message", async () => {
    const h = await harness();
    await h.say("EHLO client.example.org\r\n");
    await h.say("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
    h.session.shutdown({ afterTransaction: true });
    await Bun.sleep(5);
    expect(h.session.ended).toBe(false);
    await h.say("DATA\r\n");
    const out = await h.say("x\r\n.\r\n");
    expect(out).toMatch(
      /^250 2\.0\.0 Ok: queued as \w+\r\n421 4\.3\.2 mx\.example\.test Service shutting down, closing transmission channel\r\n$/,
    );
    await h.session.closed;
    expect(h.closed()).toBe(true);
  });

  test("access actions shape the message: PREPEND, REDIRECT, BCC, HOLD, DISCARD", async () => {
    const h = await harness(
      "smtpd_recipient_restrictions = check_recipient_access inline:{ " +
        "{ tagged@example.test = PREPEND X-Tag: yes }, { moved@example.test = REDIRECT new@example.test }, " +
        "{ copied@example.test = BCC audit@example.test }, dropped@example.test=DISCARD }",
    );
    const send = async (rcpt: string) => {
      await h.say("MAIL FROM:<a@example.org>\r\n");
      expect(await h.say(`RCPT TO:<${rcpt}>\r\n`)).toBe("250 2.1.5 Ok\r\n");
      await h.say("DATA\r\n");
      return h.say("Subject: x\r\n\r\nbody\r\n.\r\n");
    };
    await h.say("HELO client.example.org\r\n");
    await send("tagged@example.test");
    expect(h.rec.messages[0].input.prepend).toEqual(["X-Tag: yes"]);
    await send("moved@example.test");
    expect(h.rec.messages[1].recipients).toEqual([
      { address: "new@example.test", original: "new@example.test" },
    ]);
    await send("copied@example.test");
    expect(h.rec.messages[2].recipients).toEqual([
      { address: "copied@example.test" },
      { address: "audit@example.test", notify: ["NEVER"] },
    ]);
    // DISCARD: the client is told the message was queued; nothing is kept.
    expect(await send("dropped@example.test")).toMatch(/^250 2\.0\.0 Ok: queued as \w+\r\n$/);
    const d = h.rec.messages[3];
    expect([d.aborted, d.ended]).toEqual([true, false]);
    expect(logs).toContain(`${d.queueId}: discard: Recipient address triggers DISCARD action`);
    // Actions do not leak into the next transaction.
    await send("plain@example.test");
    expect(h.rec.messages[4].input.prepend).toBeUndefined();
    expect(h.rec.messages[4].recipients).toEqual([{ address: "plain@example.test" }]);
  });

  test("a non-ASCII HELO name is neutered for logs and headers", async () => {
    const h = await harness();
    await h.say("HELO bad<name>;@x\r\n");
    expect(h.session.helo).toBe("bad?name???x");
  });
});

describe("sendmail -bs", () => {
  test("serveStdio: a stand-alone session on a byte stream, no restrictions", async () => {
    const { cfg, dir } = testConfig("smtpd_client_restrictions = reject");
    dirs.push(dir);
    const rec = recordingCleanup();
    const out: string[] = [];
    async function* input() {
      yield Buffer.from(
        "HELO localhost\r\nMAIL FROM:<user>\r\nRCPT TO:<friend@elsewhere.example>\r\n",
      );
      await Bun.sleep(5);
      yield Buffer.from("DATA\r\n");
      await Bun.sleep(5);
      yield Buffer.from("Subject: local\r\n\r\nhi\r\n.\r\nQUIT\r\n");
    }
    await serveStdio({
      cfg,
      ctx: { newCleanup: rec.newCleanup, anvil: new Anvil() },
      input: input(),
      write: (t) => out.push(t),
    });
    const text = out.join("");
    expect(text).toMatch(
      /^220 mx\.example\.test ESMTP posteix\r\n250 mx\.example\.test\r\n250 2\.1\.0 Ok\r\n250 2\.1\.5 Ok\r\n354 [^\r]*\r\n250 2\.0\.0 Ok: queued as \w+\r\n221 2\.0\.0 Bye\r\n$/,
    );
    expect(rec.messages[0].recipients).toEqual([{ address: "friend@elsewhere.example" }]);
  });
});
