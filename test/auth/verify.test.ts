import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DkimKey, generateKey, txtStrings } from "../../src/auth/dkim-keys.ts";
import { signMessage } from "../../src/auth/dkim-sign.ts";
import {
  authservIdOf,
  decideAction,
  type SenderAuthResult,
  startVerification,
  stripOwnAuthResults,
  type VerifyOptions,
  verifyMessage,
} from "../../src/auth/verify.ts";
import { loadConfig } from "../../src/config/index.ts";
import { createResolver, type MailauthResolver, mailauthResolver } from "../../src/dns/index.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";

const GOOD_IP = "192.0.2.10";
const BAD_IP = "203.0.113.5";

let dir: string;
let dns: TestDnsServer;
let resolver: MailauthResolver;
let key: DkimKey;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "posteix-verify-"));
  key = await generateKey(join(dir, "dkim"), "example.com", { selector: "s1", type: "rsa" });
  dns = await startDnsServer({
    "example.com": { TXT: [`v=spf1 ip4:${GOOD_IP} -all`] },
    "_dmarc.example.com": { TXT: ["v=DMARC1; p=reject"] },
    "s1._domainkey.example.com": { TXT: [txtStrings(key.txt)] },
    "example.net": { TXT: [`v=spf1 ip4:${GOOD_IP} ~all`] },
    "example.org": { TXT: [`v=spf1 ip4:${GOOD_IP} -all`] },
    "_dmarc.example.org": { TXT: ["v=DMARC1; p=quarantine"] },
    "sampled.example": { TXT: [`v=spf1 -all`] },
    "_dmarc.sampled.example": { TXT: ["v=DMARC1; p=reject; pct=20"] },
    "tempfail.example": { TXT: [`v=spf1 ip4:${GOOD_IP} -all`] },
    "spftemp.example": { MX: [{ preference: 10, exchange: "mx.spftemp.example" }] },
    "_dmarc.spftemp.example": { TXT: ["v=DMARC1; p=reject"] },
    "mx.example.net": { A: ["198.51.100.1"] },
  });
  dns.setMode("_dmarc.tempfail.example", "servfail");
  dns.setMode("spftemp.example", "servfail");
  resolver = mailauthResolver(createResolver({ servers: [dns.server], timeoutMs: 500, tries: 1 }));
});

afterAll(async () => {
  await dns.stop();
  rmSync(dir, { recursive: true, force: true });
});

function message(from: string, body = "Hello there.\r\n"): string {
  return [
    `From: Sender <${from}>`,
    "To: rcpt@example.net",
    "Subject: test",
    "Date: Mon, 1 Jan 2024 00:00:00 +0000",
    `Message-ID: <${Math.random().toString(36).slice(2)}@example.com>`,
    "",
    body,
  ].join("\r\n");
}

function opts(ip: string, sender: string, helo = "client.example.net"): VerifyOptions {
  return { ip, helo, sender, resolver, mta: "mx.example.net", authservId: "auth.example.net" };
}

const enforce = { dmarcEnforce: true, spfRejectFail: true, random: () => 0 };

describe("SPF", () => {
  test.each([
    ["pass", GOOD_IP, "a@example.com", "pass"],
    ["fail", BAD_IP, "a@example.com", "fail"],
    ["softfail", BAD_IP, "a@example.net", "softfail"],
    ["none (no record)", BAD_IP, "a@mx.example.net", "none"],
    ["temperror (SERVFAIL)", BAD_IP, "a@spftemp.example", "temperror"],
  ])("%s", async (_n, ip, sender, want) => {
    const r = await verifyMessage(message(sender), opts(ip, sender));
    expect(r.spf.result).toBe(want as never);
    expect(r.spf.domain).toBe(sender.split("@")[1]);
    expect(r.header).toContain(`spf=${want}`);
    expect(r.receivedSpf).toStartWith(`Received-SPF: ${want}`);
  });

  test("the null sender is checked by its HELO name", async () => {
    const r = await verifyMessage(message("a@example.com"), opts(GOOD_IP, "", "example.com"));
    expect(r.spf).toEqual({ result: "pass", domain: "example.com" });
  });

  test("smtpd_spf_reject_fail: fail is 550 5.7.23, softfail and temperror are not", () => {
    const base = fakeResult();
    expect(
      decideAction({ ...base, spf: { result: "fail", domain: "example.com" } }, enforce),
    ).toEqual({
      action: "reject",
      reply: {
        code: 550,
        enhanced: "5.7.23",
        text: "SPF validation failed: example.com does not allow this client to send its mail",
      },
      reason: "SPF fail for example.com",
    });
    for (const result of ["softfail", "temperror", "neutral", "none"] as const) {
      expect(decideAction({ ...base, spf: { result, domain: "example.com" } }, enforce)).toEqual({
        action: "accept",
      });
    }
    // straight from main.cf
    const d = mkdtempSync(join(dir, "cfg-"));
    writeFileSync(join(d, "main.cf"), "smtpd_spf_reject_fail = yes\n");
    const cfg = loadConfig({ configDir: d, env: {}, hostname: "mx.example.net" });
    expect(decideAction({ ...base, spf: { result: "fail", domain: "x" } }, cfg).action).toBe(
      "reject",
    );
    const off = { ...enforce, spfRejectFail: false };
    expect(decideAction({ ...base, spf: { result: "fail", domain: "x" } }, off)).toEqual({
      action: "accept",
    });
  });
});

describe("DKIM and DMARC", () => {
  test("a signed message passes DKIM and DMARC even from an address SPF refuses", async () => {
    const msg = message("a@example.com");
    const signed = await signMessage(msg, { domain: "example.com", keys: [key] });
    const r = await verifyMessage(signed.headers + msg, opts(BAD_IP, "a@example.com"));
    expect(r.dkim).toBe("pass");
    expect(r.signatures).toEqual([
      {
        result: "pass",
        domain: "example.com",
        selector: "s1",
        aligned: true,
        algorithm: "rsa-sha256",
      },
    ]);
    expect(r.spf.result).toBe("fail");
    expect(r.dmarc).toEqual({ result: "pass", policy: "reject", domain: "example.com", pct: 100 });
    expect(decideAction(r, { ...enforce, spfRejectFail: false })).toEqual({ action: "accept" });
    expect(r.header).toMatch(
      /^Authentication-Results: auth\.example\.net;\r\n dkim=pass header\.i=@example\.com header\.s=s1 header\.a=rsa-sha256 header\.b="?[\w+/]{8}"?;\r\n spf=fail \(mx\.example\.net: domain of a@example\.com does not designate 203\.0\.113\.5 as permitted sender\) smtp\.mailfrom=a@example\.com smtp\.helo=client\.example\.net;\r\n dmarc=pass \(p=REJECT arc=none\) header\.from=example\.com header\.d=example\.com$/,
    );
  });

  test("one changed body byte: DKIM no longer passes, DMARC fails, p=reject rejects", async () => {
    const msg = message("a@example.com");
    const signed = await signMessage(msg, { domain: "example.com", keys: [key] });
    const tampered = (signed.headers + msg).replace("Hello there.", "Hello there!");
    const r = await verifyMessage(tampered, opts(BAD_IP, "a@example.com"));
    expect(r.dkim).not.toBe("pass");
    expect(r.signatures[0].result).toBe("neutral");
    expect(r.header).toContain("dkim=neutral (body hash did not verify)");
    expect(r.dmarc.result).toBe("fail");
    expect(r.dmarc.policy).toBe("reject");
    expect(decideAction(r, { ...enforce, spfRejectFail: false })).toEqual({
      action: "reject",
      reply: {
        code: 550,
        enhanced: "5.7.1",
        text: "Email rejected per DMARC policy for example.com",
      },
      reason: "DMARC policy reject for example.com",
    });
    expect(decideAction(r, { dmarcEnforce: false, spfRejectFail: false })).toEqual({
      action: "accept",
    });
  });

  test("p=quarantine goes to the hold queue", async () => {
    const r = await verifyMessage(message("a@example.org"), opts(BAD_IP, "a@example.org"));
    expect(r.dkim).toBe("none");
    expect(r.dmarc).toEqual({
      result: "fail",
      policy: "quarantine",
      domain: "example.org",
      pct: 100,
    });
    expect(r.header).toContain("dkim=none");
    expect(decideAction(r, { dmarcEnforce: true, spfRejectFail: false })).toEqual({
      action: "hold",
      reason: "DMARC policy quarantine for example.org",
    });
    // SPF's own rejection is stronger than DMARC's quarantine
    expect(decideAction(r, enforce).action).toBe("reject");
  });

  test("pct= samples: outside the sample p=reject becomes quarantine", async () => {
    const r = await verifyMessage(message("a@sampled.example"), opts(BAD_IP, "a@sampled.example"));
    expect(r.dmarc).toMatchObject({ result: "fail", policy: "reject", pct: 20 });
    const pol = { dmarcEnforce: true, spfRejectFail: false };
    expect(decideAction(r, { ...pol, random: () => 0.1 }).action).toBe("reject");
    expect(decideAction(r, { ...pol, random: () => 0.5 }).action).toBe("hold");
  });

  test("a DNS failure is never a pass: DMARC temperror defers under enforcement", async () => {
    const r = await verifyMessage(
      message("a@tempfail.example"),
      opts(BAD_IP, "a@tempfail.example"),
    );
    expect(r.dmarc.result).toBe("temperror");
    expect(r.dmarc.policy).toBeNull();
    expect(r.header).toContain("dmarc=temperror");
    expect(decideAction(r, { dmarcEnforce: true, spfRejectFail: false })).toEqual({
      action: "defer",
      reply: {
        code: 451,
        enhanced: "4.7.5",
        text: "DMARC policy for tempfail.example could not be checked; try again later",
      },
      reason: "DMARC temperror for tempfail.example",
    });
    expect(decideAction(r, { dmarcEnforce: false, spfRejectFail: true }).action).toBe("reject");
  });

  test("a DMARC fail caused by an SPF temperror defers instead of rejecting", async () => {
    const r = await verifyMessage(message("a@spftemp.example"), opts(BAD_IP, "a@spftemp.example"));
    expect(r.spf.result).toBe("temperror");
    expect(r.dmarc.result).toBe("fail");
    expect(decideAction(r, enforce)).toMatchObject({ action: "defer", reply: { code: 451 } });
  });
});

describe("streaming", () => {
  test("a 4 MiB message fed in 64 KiB chunks while it arrives", async () => {
    const line = `${"x".repeat(76)}\r\n`;
    const body = line.repeat(Math.ceil((4 << 20) / line.length));
    const msg = message("a@example.com", body);
    const bytes = new TextEncoder().encode(msg);
    const chunks = function* () {
      for (let i = 0; i < bytes.length; i += 65536) yield bytes.subarray(i, i + 65536);
    };
    const signed = await signMessage(chunks(), { domain: "example.com", keys: [key] });
    const v = startVerification(opts(GOOD_IP, "a@example.com"));
    v.write(new TextEncoder().encode(signed.headers));
    for (const c of chunks()) v.write(c);
    const r = await v.end();
    expect(r.dkim).toBe("pass");
    expect(r.spf.result).toBe("pass");
    expect(r.dmarc.result).toBe("pass");

    const aborted = startVerification(opts(GOOD_IP, "a@example.com"));
    aborted.write(bytes.subarray(0, 1000));
    aborted.abort();
  });
});

describe("Authentication-Results of our own authserv-id are removed", () => {
  test("authservIdOf", () => {
    expect(authservIdOf(" mx.example.net; spf=pass")).toBe("mx.example.net");
    expect(authservIdOf(" (comment (nested)) MX.example.net 1; none")).toBe("MX.example.net");
    expect(authservIdOf(' "mx.example.net"; none')).toBe("mx.example.net");
    expect(authservIdOf("\r\n\tmx.example.net;\r\n spf=pass")).toBe("mx.example.net");
  });

  test("header lists (cleanup's form) and raw header sections", () => {
    const headers = [
      { name: "Received", raw: "Received: from a by b" },
      { name: "Authentication-Results", raw: "Authentication-Results: auth.example.net; spf=pass" },
      {
        name: "authentication-results",
        raw: "authentication-results: (forged)\r\n AUTH.example.net;\r\n dkim=pass",
      },
      { name: "Authentication-Results", raw: "Authentication-Results: other.example; spf=fail" },
      {
        name: "ARC-Authentication-Results",
        raw: "ARC-Authentication-Results: i=1; auth.example.net; spf=pass",
      },
      { name: "Subject", raw: "Subject: x" },
    ];
    expect(stripOwnAuthResults(headers, "auth.example.net").map((h) => h.name)).toEqual([
      "Received",
      "Authentication-Results",
      "ARC-Authentication-Results",
      "Subject",
    ]);
    const raw =
      "Received: from a\r\n\tby b\r\n" +
      "Authentication-Results: auth.example.net;\r\n spf=pass\r\n" +
      "Authentication-Results: other.example; none\r\n" +
      "Authentication-Results:auth.example.net; dkim=pass\r\n" +
      "Subject: x\r\n";
    expect(stripOwnAuthResults(raw, "auth.example.net")).toBe(
      "Received: from a\r\n\tby b\r\nAuthentication-Results: other.example; none\r\nSubject: x\r\n",
    );
  });
});

function fakeResult(): SenderAuthResult {
  return {
    header: "Authentication-Results: x; none",
    receivedSpf: null,
    spf: { result: "none", domain: null },
    dkim: "none",
    signatures: [],
    dmarc: { result: "none", policy: null, domain: null, pct: 100 },
    arc: "none",
    headerFrom: [],
  };
}
