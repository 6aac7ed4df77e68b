/**
 * Table-driven tests of the small pure parts: reply formatting, ESMTP parameters, access(5)
 * values, DSN fixing, DNSBL reply filters and templates, host name syntax, anvil counting,
 * and the client name lookup against a real DNS server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createResolver } from "../../src/dns/index.ts";
import { setLogQuiet } from "../../src/log/index.ts";
import { fixDsn, parseAccessValue, splitDsn } from "../../src/smtpd/access.ts";
import { Anvil } from "../../src/smtpd/anvil.ts";
import { parseMailParams, parseRcptParams } from "../../src/smtpd/params.ts";
import { lookupPeer, normalizeAddr } from "../../src/smtpd/peer.ts";
import { formatReply, parseReplyText, SmtpError } from "../../src/smtpd/reply.ts";
import { expandTemplate, ipFilterMatch, validHostname } from "../../src/smtpd/restrictions.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";
import { testConfig } from "../helpers/smtp-harness.ts";

setLogQuiet(true);

describe("reply formatting", () => {
  const cases: [Parameters<typeof formatReply>[0], string][] = [
    [{ code: 250, enhanced: "2.1.0", text: "Ok" }, "250 2.1.0 Ok\r\n"],
    [{ code: 220, text: "mx ESMTP" }, "220 mx ESMTP\r\n"],
    [
      { code: 250, text: ["mx", "PIPELINING", "SIZE 10"] },
      "250-mx\r\n250-PIPELINING\r\n250 SIZE 10\r\n",
    ],
    [{ code: 550, enhanced: "5.7.1", text: ["one", "two"] }, "550-5.7.1 one\r\n550 5.7.1 two\r\n"],
    // A line ending inside a text (from a table) can never inject a reply.
    [
      { code: 554, enhanced: "5.7.1", text: "a\r\n250 fake" },
      "554-5.7.1 a\r\n554 5.7.1 250 fake\r\n",
    ],
  ];
  for (const [r, want] of cases) test(JSON.stringify(r), () => expect(formatReply(r)).toBe(want));

  test("parseReplyText and SmtpError", () => {
    expect(parseReplyText("554 5.7.1 <x>: denied")).toEqual({
      code: 554,
      enhanced: "5.7.1",
      text: "<x>: denied",
    });
    expect(parseReplyText("450 try later")).toEqual({ code: 450, text: "try later" });
    expect(parseReplyText("hello")).toBeNull();
    const e = new SmtpError(451, "4.3.0", "Error: internal error", "db locked");
    expect(e.temporary).toBe(true);
    expect(e.toReply()).toEqual({ code: 451, enhanced: "4.3.0", text: "Error: internal error" });
  });
});

describe("ESMTP parameters", () => {
  const f = { dsn: true, smtputf8: true, binarymime: false };
  test("MAIL: good values", () => {
    expect(
      parseMailParams("SIZE=100 BODY=8bitmime SMTPUTF8 RET=full ENVID=a+2Bb AUTH=<>", f),
    ).toEqual({
      size: 100,
      body: "8BITMIME",
      smtputf8: true,
      ret: "FULL",
      envid: "a+b",
      auth: "",
    });
    expect(parseMailParams("", f)).toEqual({ smtputf8: false });
  });
  const bad: [string, string][] = [
    ["SIZE=", "501 5.5.4 Bad message size syntax"],
    ["SIZE=-1", "501 5.5.4 Bad message size syntax"],
    ["BODY=BINARYMIME", "555 5.5.4 Unsupported option: BODY=BINARYMIME"],
    ["RET=FULL RET=FULL", "501 5.5.4 Bad RET parameter syntax"],
    [`ENVID=${"x".repeat(101)}`, "501 5.5.4 Bad ENVID parameter syntax"],
    ["ENVID=a+0Ab", "501 5.5.4 Bad ENVID parameter syntax"],
    ["BODY=7BIT BODY=8BITMIME", "501 5.5.4 Error: duplicate BODY parameter"],
    ["AUTH=a+zz", "501 5.5.4 Bad AUTH parameter syntax"],
    ["FOO", "555 5.5.4 Unsupported option: FOO"],
  ];
  for (const [p, want] of bad) {
    test(`MAIL ${p.slice(0, 20)} → ${want}`, () => {
      try {
        parseMailParams(p, f);
        throw new Error("no error");
      } catch (e) {
        expect(e).toBeInstanceOf(SmtpError);
        const s = e as SmtpError;
        expect(`${s.code} ${s.enhanced} ${s.text}`).toBe(want);
      }
    });
  }
  test("RCPT", () => {
    expect(parseRcptParams("NOTIFY=failure,delay ORCPT=rfc822;a+2Bb@x", f)).toEqual({
      notify: ["FAILURE", "DELAY"],
      orcpt: "rfc822;a+b@x",
    });
    expect(parseRcptParams("ORCPT=utf-8;j\\x{F6}rg@x", f)).toEqual({ orcpt: "utf-8;jörg@x" });
    expect(() => parseRcptParams("NOTIFY=NEVER", { ...f, dsn: false })).toThrow(
      "DSN support is disabled",
    );
    expect(() => parseRcptParams("ORCPT=;x", f)).toThrow("Bad ORCPT parameter syntax");
  });
});

describe("access(5) values", () => {
  const cases: [string, unknown][] = [
    ["OK", { kind: "ok", name: "OK" }],
    ["relay", { kind: "ok", name: "RELAY" }],
    ["1234567", { kind: "ok", name: "1234567" }],
    ["DUNNO", { kind: "dunno" }],
    ["REJECT", { kind: "reject", dsn: "5.7.1", text: "" }],
    ["REJECT 5.7.9 go away", { kind: "reject", dsn: "5.7.9", text: "go away" }],
    ["DEFER later", { kind: "defer", dsn: "4.7.1", text: "later" }],
    ["450 4.2.0 full", { kind: "code", code: 450, dsn: "4.2.0", text: "full" }],
    ["550 no", { kind: "code", code: 550, dsn: "5.7.1", text: "no" }],
    ["DEFER_IF_PERMIT grey", { kind: "defer_if_permit", dsn: "4.7.1", text: "grey" }],
    ["HOLD", { kind: "hold", text: "" }],
    ["DISCARD spam", { kind: "discard", text: "spam" }],
    ["PREPEND X-Seen: yes", { kind: "prepend", header: "X-Seen: yes" }],
    [
      "PREPEND not a header",
      { kind: "error", reason: 'PREPEND requires header: text: "PREPEND not a header"' },
    ],
    ["WARN odd", { kind: "warn", text: "odd" }],
    ["FILTER smtp:[127.0.0.1]:10025", { kind: "filter", destination: "smtp:[127.0.0.1]:10025" }],
    ["REDIRECT abuse@example.test", { kind: "redirect", address: "abuse@example.test" }],
    ["permit_mynetworks, reject", { kind: "restrictions", list: ["permit_mynetworks", "reject"] }],
    ["hash:/etc/x", { kind: "error", reason: "access table value with lookup table: hash:/etc/x" }],
  ];
  for (const [v, want] of cases) test(v, () => expect(parseAccessValue(v)).toEqual(want as never));

  test("splitDsn and fixDsn (Postfix smtpd_dsn_fix)", () => {
    expect(splitDsn("5.7.1", "5.1.1 nope")).toEqual({ dsn: "5.1.1", text: "nope" });
    expect(splitDsn("5.7.1", "nope")).toEqual({ dsn: "5.7.1", text: "nope" });
    expect(fixDsn("5.1.1", "Sender address")).toBe("5.1.7");
    expect(fixDsn("5.1.8", "Recipient address")).toBe("5.1.2");
    expect(fixDsn("5.1.1", "Client host")).toBe("5.0.0");
    expect(fixDsn("5.7.1", "Sender address")).toBe("5.7.1");
  });
});

describe("restriction helpers", () => {
  test("DNSBL reply filters", () => {
    expect(ipFilterMatch("127.0.0.2", "127.0.0.2")).toBe(true);
    expect(ipFilterMatch("127.0.0.[2..11]", "127.0.0.11")).toBe(true);
    expect(ipFilterMatch("127.0.0.[2..11]", "127.0.0.12")).toBe(false);
    expect(ipFilterMatch("127.0.[0;1].[2;4..6]", "127.0.1.5")).toBe(true);
    expect(ipFilterMatch("127.0.[0;1].[2;4..6]", "127.0.1.3")).toBe(false);
  });
  test("templates", () => {
    const { cfg, dir } = testConfig();
    try {
      const vars = {
        rbl_code: "554",
        rbl_class: "Client host",
        rbl_what: "192.0.2.1",
        rbl_domain: "zen.example",
        rbl_reason: "",
      };
      expect(expandTemplate(cfg.str("default_rbl_reply"), vars, cfg)).toBe(
        "554 Service unavailable; Client host [192.0.2.1] blocked using zen.example",
      );
      expect(
        expandTemplate(cfg.str("default_rbl_reply"), { ...vars, rbl_reason: "see url" }, cfg),
      ).toBe("554 Service unavailable; Client host [192.0.2.1] blocked using zen.example; see url");
      const template = "$$ $" + "{x:none} $myhostname";
      expect(expandTemplate(template, {}, cfg)).toBe("$ none mx.example.test");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("host name syntax (Postfix valid_hostname)", () => {
    for (const ok of ["mx.example.com", "a", "under_score.example", "x-y.example"])
      expect(validHostname(ok)).toBe(true);
    for (const bad of [
      "",
      "-a.example",
      "a-.example",
      "a..b",
      "1.2.3.4",
      "a b",
      `${"x".repeat(64)}.example`,
    ])
      expect(validHostname(bad)).toBe(false);
  });
});

describe("anvil", () => {
  test("counts and rates per service and client, windows, bounded memory", () => {
    let now = 1_000_000;
    const a = new Anvil({ now: () => now, maxEntries: 100 });
    expect(a.connect("smtp", "192.0.2.1", 60_000)).toEqual({ count: 1, rate: 1 });
    expect(a.connect("smtp", "192.0.2.1", 60_000)).toEqual({ count: 2, rate: 2 });
    expect(a.connect("submission", "192.0.2.1", 60_000)).toEqual({ count: 1, rate: 1 });
    a.disconnect("smtp", "192.0.2.1");
    expect(a.connect("smtp", "192.0.2.1", 60_000)).toEqual({ count: 2, rate: 3 });
    expect(a.message("smtp", "192.0.2.1", 60_000)).toBe(1);
    expect(a.recipient("smtp", "192.0.2.1", 60_000)).toBe(1);
    now += 60_000;
    expect(a.connect("smtp", "192.0.2.1", 60_000)).toEqual({ count: 3, rate: 1 });
    expect(a.message("smtp", "192.0.2.1", 60_000)).toBe(1);
    for (let i = 0; i < 10_000; i++) {
      const ip = `198.51.${i >> 8}.${i & 255}`;
      a.connect("smtp", ip, 60_000);
      a.disconnect("smtp", ip);
    }
    expect(a.size).toBeLessThanOrEqual(100);
    // Clients with open connections are never forgotten.
    expect(a.connect("smtp", "192.0.2.1", 60_000).count).toBe(4);
  });
});

describe("client name lookup", () => {
  let dns: TestDnsServer;
  beforeAll(async () => {
    dns = await startDnsServer({
      "7.100.51.198.in-addr.arpa": { PTR: ["mail.good.example."] },
      "mail.good.example": { A: ["198.51.100.7"] },
      "8.100.51.198.in-addr.arpa": { PTR: ["liar.example"] },
      "liar.example": { A: ["203.0.113.1"] },
    });
    dns.setMode("9.100.51.198.in-addr.arpa", "servfail");
  });
  afterAll(async () => {
    await dns.stop();
  });
  test("PTR confirmed by A, forged, missing, temporary failure, loopback", async () => {
    const resolver = createResolver({ servers: [dns.server], timeoutMs: 500, tries: 1 });
    const look = (a: string) => lookupPeer(a, 25, { resolver, lookup: true });
    expect(await look("198.51.100.7")).toMatchObject({
      name: "mail.good.example",
      nameStatus: "ok",
    });
    expect(await look("::ffff:198.51.100.7")).toMatchObject({
      addr: "198.51.100.7",
      name: "mail.good.example",
    });
    expect(await look("198.51.100.8")).toMatchObject({
      name: "unknown",
      nameStatus: "forged",
      reverseName: "liar.example",
      reverseStatus: "ok",
    });
    expect(await look("198.51.100.10")).toMatchObject({ name: "unknown", nameStatus: "perm" });
    expect(await look("198.51.100.9")).toMatchObject({ name: "unknown", nameStatus: "temp" });
    expect(await look("127.0.0.1")).toMatchObject({ name: "localhost", nameStatus: "ok" });
    expect(await lookupPeer("198.51.100.7", 25, { resolver, lookup: false })).toMatchObject({
      name: "unknown",
    });
    expect(normalizeAddr("::FFFF:10.0.0.1")).toBe("10.0.0.1");
  });
});
