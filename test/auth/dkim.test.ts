import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dkimVerify } from "mailauth";
import {
  DkimKeyError,
  generateKey,
  keysForDomain,
  listKeys,
  txtStrings,
} from "../../src/auth/dkim-keys.ts";
import { signMessage } from "../../src/auth/dkim-sign.ts";
import { createResolver, type MailauthResolver, mailauthResolver } from "../../src/dns/index.ts";
import { onLog } from "../../src/log/index.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";

let root: string;
let dns: TestDnsServer;
let resolver: MailauthResolver;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "posteix-dkim-"));
  dns = await startDnsServer({});
  resolver = mailauthResolver(createResolver({ servers: [dns.server], timeoutMs: 500, tries: 1 }));
});

afterAll(async () => {
  await dns.stop();
  rmSync(root, { recursive: true, force: true });
});

const MESSAGE =
  "From: Alice <alice@example.com>\r\n" +
  "To: bob@example.org\r\n" +
  "Subject: signed\r\n" +
  "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
  "Message-ID: <signed-1@example.com>\r\n" +
  "\r\n" +
  "A body line.\r\n" +
  "Another one,   with  spaces.   \r\n";

describe("keys", () => {
  test("generateKey: RSA 2048 and Ed25519 files, 0600, and the exact TXT records", async () => {
    const dir = join(root, "k1");
    const rsa = await generateKey(dir, "Example.COM.", { selector: "s2024", type: "rsa" });
    expect(rsa.path).toBe(join(dir, "example.com.s2024.rsa.key"));
    expect(statSync(rsa.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(rsa.path, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----\n");
    expect(rsa.name).toBe("s2024._domainkey.example.com.");
    const spki = (
      createPublicKey(rsa.privateKey).export({ type: "spki", format: "der" }) as Buffer
    ).toString("base64");
    expect(rsa.txt).toBe(`v=DKIM1; k=rsa; p=${spki}`);
    expect(createPublicKey(rsa.privateKey).asymmetricKeyDetails?.modulusLength).toBe(2048);
    // 2048-bit keys need two character-strings
    const parts = txtStrings(rsa.txt);
    expect(parts.length).toBe(2);
    expect(parts[0].length).toBe(255);
    expect(parts.join("")).toBe(rsa.txt);
    expect(rsa.record).toBe(`s2024._domainkey.example.com. IN TXT "${parts[0]}" "${parts[1]}"`);

    const ed = await generateKey(dir, "example.com", { selector: "ed", type: "ed25519" });
    expect(ed.path).toBe(join(dir, "example.com.ed.ed25519.key"));
    const p = /p=(.*)$/.exec(ed.txt)![1];
    expect(Buffer.from(p, "base64").length).toBe(32); // the raw key, RFC 8463 section 4.2
    expect(ed.record).toBe(`ed._domainkey.example.com. IN TXT "v=DKIM1; k=ed25519; p=${p}"`);

    await expect(generateKey(dir, "example.com", { selector: "s2024" })).rejects.toThrow(
      `${rsa.path} exists already (choose another selector to rotate keys)`,
    );
    await expect(generateKey(dir, "bad domain", { selector: "s" })).rejects.toThrow(DkimKeyError);
    await expect(generateKey(dir, "example.com", { selector: "a.b" })).rejects.toThrow(
      'invalid selector "a.b"',
    );
  });

  test("listKeys and keysForDomain: newest key per type, parent domains, nothing else", async () => {
    const dir = join(root, "k2");
    expect(listKeys(dir)).toEqual([]);
    expect(keysForDomain(dir, "example.com")).toEqual([]);
    const old = await generateKey(dir, "example.com", { selector: "old", type: "rsa" });
    utimesSync(old.path, new Date(2020, 0, 1), new Date(2020, 0, 1));
    const cur = await generateKey(dir, "example.com", { selector: "new", type: "rsa" });
    const ed = await generateKey(dir, "example.com", { selector: "ed", type: "ed25519" });
    const other = await generateKey(dir, "mail.example.org", { selector: "x", type: "rsa" });
    writeFileSync(join(dir, "README"), "not a key\n");
    expect(listKeys(dir).map((k) => `${k.domain} ${k.selector} ${k.type}`)).toEqual([
      "example.com ed ed25519",
      "example.com new rsa",
      "example.com old rsa",
      "mail.example.org x rsa",
    ]);
    expect(keysForDomain(dir, "example.com").map((k) => k.path)).toEqual([cur.path, ed.path]);
    expect(keysForDomain(dir, "lists.Example.com").map((k) => k.path)).toEqual([cur.path, ed.path]);
    expect(keysForDomain(dir, "mail.example.org").map((k) => k.path)).toEqual([other.path]);
    expect(keysForDomain(dir, "example.org")).toEqual([]);
    expect(keysForDomain(dir, "com")).toEqual([]);

    writeFileSync(join(dir, "broken.s.rsa.key"), "garbage");
    expect(() => listKeys(dir)).toThrow(`${join(dir, "broken.s.rsa.key")}: unparsable private key`);
    // Signing goes on for the other domains; the broken file is logged.
    const lines: string[] = [];
    const stop = onLog((_p, sev, text) => lines.push(`${sev}: ${text}`));
    try {
      expect(keysForDomain(dir, "mail.example.org").map((k) => k.path)).toEqual([other.path]);
    } finally {
      stop();
    }
    expect(lines.length).toBe(1);
    expect(lines[0]).toStartWith(
      `warning: DKIM key skipped: ${join(dir, "broken.s.rsa.key")}: unparsable private key:`,
    );
  });
});

describe("signing", () => {
  test("rsa-sha256 and ed25519-sha256 signatures verify against the published keys", async () => {
    const dir = join(root, "k3");
    const rsa = await generateKey(dir, "example.com", { selector: "r1", type: "rsa" });
    const ed = await generateKey(dir, "example.com", { selector: "e1", type: "ed25519" });
    // Published as a zone would: split into 255-byte character-strings.
    dns.set("r1._domainkey.example.com", "TXT", [txtStrings(rsa.txt)]);
    dns.set("e1._domainkey.example.com", "TXT", [txtStrings(ed.txt)]);

    const keys = keysForDomain(dir, "example.com");
    const signed = await signMessage(MESSAGE, { domain: "example.com", keys: [...keys].reverse() });
    expect(signed.errors).toEqual([]);
    const fields = signed.headers.split(/\r\n(?![ \t])/).filter(Boolean);
    expect(fields.length).toBe(2);
    expect(fields[0]).toStartWith(
      "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;",
    );
    expect(fields[0]).toContain(" s=r1;");
    expect(fields[1]).toStartWith(
      "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com;",
    );
    expect(signed.headers.endsWith("\r\n")).toBe(true);

    const good = await dkimVerify(signed.headers + MESSAGE, { resolver });
    expect(good.results.map((r) => [r.selector, r.status.result])).toEqual([
      ["r1", "pass"],
      ["e1", "pass"],
    ]);

    // relaxed body canonicalization: trailing white space does not matter...
    const relaxed = signed.headers + MESSAGE.replace("spaces.   \r\n", "spaces.\r\n");
    expect(
      (await dkimVerify(relaxed, { resolver })).results.every((r) => r.status.result === "pass"),
    ).toBe(true);
    // ...one changed byte does
    const tampered = signed.headers + MESSAGE.replace("A body line.", "A body line!");
    const bad = await dkimVerify(tampered, { resolver });
    expect(bad.results.map((r) => r.status.result)).toEqual(["neutral", "neutral"]);
    expect(bad.results[0].status.comment).toBe("body hash did not verify");
  });

  test("chunks in, same signature as bytes in; no keys, no signature", async () => {
    const dir = join(root, "k4");
    const rsa = await generateKey(dir, "example.com", { selector: "c1", type: "rsa" });
    const signTime = new Date("2024-01-01T00:00:00Z");
    const bytes = new TextEncoder().encode(MESSAGE);
    const whole = await signMessage(bytes, { domain: "example.com", keys: [rsa], signTime });
    const chunked = await signMessage(
      (function* () {
        for (let i = 0; i < bytes.length; i += 7) yield bytes.subarray(i, i + 7);
      })(),
      { domain: "example.com", keys: [rsa], signTime },
    );
    expect(chunked.headers).toBe(whole.headers);
    expect(await signMessage(MESSAGE, { domain: "example.com", keys: [] })).toEqual({
      headers: "",
      errors: [],
    });
  });
});
