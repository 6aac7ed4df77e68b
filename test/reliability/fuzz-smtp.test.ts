/**
 * Property test of the SMTP server session (command parser, verb table, MAIL/RCPT parameters,
 * DATA and BDAT state machine, AUTH and error limits) driven without a socket: random and
 * mutated command scripts, fed in random chunks, then the client goes away. Whatever comes in:
 *   - the session ends (no hang) and nothing escapes it (no exception, no "unexpected error"
 *     in the log, no 451 4.3.0 internal error);
 *   - every reply is a well-formed SMTP reply line;
 *   - it never hands cleanup content after the end, nor ends a message twice (the recording
 *     cleanup throws, which would show as an unexpected error).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import fc from "fast-check";
import { onLog, setLogQuiet } from "../../src/log/index.ts";
import { Anvil } from "../../src/smtpd/anvil.ts";
import { SmtpSession } from "../../src/smtpd/session.ts";
import type { PeerInfo } from "../../src/smtpd/types.ts";
import { recordingCleanup } from "../helpers/smtp-cleanup.ts";
import { testConfig } from "../helpers/smtp-harness.ts";
import { checkAsync, mutated, report, rssMB, runs } from "./fuzz.ts";

const FILE = "fuzz-smtp.test.ts";
setLogQuiet(true);
const problems: string[] = [];
const unsubscribe = onLog((_p, sev, text) => {
  if (sev === "error" || /unexpected error|panic/.test(text)) problems.push(text);
});
const { cfg, dir } = testConfig(
  [
    "mydestination = example.test",
    "smtpd_sasl_auth_enable = yes",
    "smtpd_tls_auth_only = no",
    "smtpd_hard_error_limit = 8",
    "smtpd_recipient_limit = 5",
    "message_size_limit = 2000",
    "line_length_limit = 512",
    "smtpd_client_connection_rate_limit = 0",
    "smtpd_client_message_rate_limit = 0",
    "smtpd_client_recipient_rate_limit = 0",
  ].join("\n"),
);
afterAll(() => {
  unsubscribe();
  rmSync(dir, { recursive: true, force: true });
  report(FILE);
});

const client: PeerInfo = {
  addr: "198.51.100.7",
  port: 40000,
  name: "client.example.org",
  nameStatus: "ok",
  reverseName: "client.example.org",
  reverseStatus: "ok",
};

const COMMANDS = [
  "EHLO client.example.org",
  "HELO client.example.org",
  "LHLO x",
  "MAIL FROM:<a@example.org>",
  "MAIL FROM:<> BODY=8BITMIME",
  "MAIL FROM:<a@example.org> SIZE=100 BODY=BINARYMIME SMTPUTF8 RET=HDRS ENVID=x+2By",
  "MAIL FROM:a@example.org",
  "MAIL FROM:<@route,@r2:a@example.org>",
  "RCPT TO:<b@example.test>",
  'RCPT TO:<"a b"@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40x@example.test',
  "RCPT TO:<postmaster>",
  "RCPT TO:<victim@elsewhere.example>",
  "RCPT TO:<b%elsewhere@example.test>",
  "DATA",
  "BDAT 10",
  "BDAT 0 LAST",
  "BDAT 5 LAST",
  "RSET",
  "NOOP",
  "VRFY postmaster",
  "EXPN list",
  "HELP",
  "ETRN example.test",
  "STARTTLS",
  "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
  "AUTH LOGIN",
  "AUTH CRAM-MD5",
  "AUTH PLAIN =",
  "*",
  "QUIT",
  "GET / HTTP/1.0",
  "Subject: hello",
  "XCLIENT ADDR=1.2.3.4",
  "MAIL FROM:<a@example.org> SIZE=999999999999999999999",
  "BDAT 99999999999999999999",
  "BDAT -1",
  "RCPT TO:<\u00e9l\u00e8ve@ex\u00e4mple.test> ",
];

const line = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...COMMANDS) },
  { weight: 3, arbitrary: mutated(COMMANDS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom("", ".", "..", "x".repeat(600), "\0") },
);
const ending = fc.constantFrom("\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "\r\r\n", "\0\r\n");
const script = fc.array(fc.tuple(line, ending), { minLength: 1, maxLength: 30 });
const cuts = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 6 });

const REPLY = /^[2-5]\d\d([ -].*)?$/;

async function runSession(input: Uint8Array, sizes: number[]): Promise<string> {
  const writes: string[] = [];
  const rec = recordingCleanup();
  const session = new SmtpSession({
    cfg,
    ctx: {
      newCleanup: rec.newCleanup,
      anvil: new Anvil(),
      auth: {
        mechanisms: () => ["PLAIN", "LOGIN"],
        async authenticate(_view, _mech, initial, exchange) {
          // A two-step exchange and a refusal: enough to drive the session's AUTH path.
          if (initial === undefined) await exchange("VXNlcm5hbWU6");
          return { ok: false, reply: { code: 535, enhanced: "5.7.8", text: "Error: no" } };
        },
      },
    },
    service: "smtp",
    client,
    transport: { write: (d) => writes.push(d), close: () => {} },
  });
  const started = session.start();
  let pos = 0;
  for (let i = 0; pos < input.length; i++) {
    const n = sizes[i % sizes.length];
    session.feed(input.subarray(pos, pos + n));
    pos += n;
    if (i % 3 === 0) await Bun.sleep(0);
  }
  session.peerClosed();
  const done = await Promise.race([
    Promise.all([started, session.closed]).then(() => true),
    Bun.sleep(5000).then(() => false),
  ]);
  if (!done) throw new Error(`session did not end; wrote: ${JSON.stringify(writes.join(""))}`);
  return writes.join("");
}

describe("SMTP session under random and mutated input", () => {
  test("always ends, replies are well-formed, nothing unexpected happens", async () => {
    const before = rssMB();
    await checkAsync(
      FILE,
      fc.asyncProperty(script, cuts, async (lines, sizes) => {
        const text = lines.map(([l, e]) => l + e).join("");
        const input = new Uint8Array(Buffer.from(text, "utf8"));
        const out = await runSession(input, sizes);
        expect(out === "" || out.endsWith("\r\n")).toBe(true);
        for (const l of out.split("\r\n").slice(0, -1)) expect(l).toMatch(REPLY);
        expect(out).not.toContain("451 4.3.0");
        expect(problems).toEqual([]);
      }),
      runs(2_000, 100_000),
    );
    expect(rssMB() - before).toBeLessThan(300);
  }, 900_000);
});
