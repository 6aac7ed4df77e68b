/**
 * Sender authentication and DKIM signing end to end, against the real Master: mail arrives from
 * 127.0.0.1, outside $mynetworks (192.0.2.0/24), for a local recipient; SPF, DKIM and DMARC are
 * looked up on a real DNS server on 127.0.0.1 that publishes the TXT records; the result is one
 * Authentication-Results field in the delivered message, and DMARC/SPF policies refuse or hold
 * the mail. Mail of authenticated or $mynetworks senders is DKIM-signed by cleanup and verifies
 * with mailauth against the published keys, until a body byte changes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { type DkimKey, generateKey, txtStrings } from "../../src/auth/dkim-keys.ts";
import { signMessage } from "../../src/auth/dkim-sign.ts";
import { verifyMessage } from "../../src/auth/verify.ts";
import { createResolver, mailauthResolver } from "../../src/dns/index.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";
import { startPosteix, TEST_MASTER_CF, type TestPosteix } from "../helpers/posteix.ts";
import { type SmtpPeer, startSmtpPeer } from "../helpers/smtp-peer.ts";
import { LineConn } from "../tls/smtp-client.ts";

const PASSWORD = "sign me please";
const UNIX_SERVICES = TEST_MASTER_CF.split("\n")
  .filter((l) => / unix /.test(l))
  .join("\n");

let dns: TestDnsServer;
let mx: SmtpPeer;
let px: TestPosteix;
/** The key a remote sender (example.com) signs its mail with, before sending it to us. */
let senderKey: DkimKey;

beforeAll(async () => {
  mx = await startSmtpPeer();
  dns = await startDnsServer({
    "example.com": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
    "_dmarc.example.com": { TXT: ["v=DMARC1; p=reject"] },
    "softfail.test": { TXT: ["v=spf1 ip4:192.0.2.1 ~all"] },
    "fail.test": { TXT: ["v=spf1 ip4:192.0.2.1 -all"] },
    "reject.test": { TXT: ["v=spf1 ip4:192.0.2.1 -all"] },
    "_dmarc.reject.test": { TXT: ["v=DMARC1; p=reject"] },
    "quarantine.test": { TXT: ["v=spf1 ip4:192.0.2.1 -all"] },
    "_dmarc.quarantine.test": { TXT: ["v=DMARC1; p=quarantine"] },
    "temp.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  });
  dns.setMode("_dmarc.temp.test", "servfail");
  px = await startPosteix({
    mainCf: [
      `dns_servers = ${dns.server}`,
      "dns_timeout = 1s",
      "mynetworks = 192.0.2.0/24",
      "smtpd_dmarc_enforce = yes",
      `relayhost = [127.0.0.1]:${mx.port}`,
      "smtp_tls_security_level = none",
    ].join("\n"),
    masterCf: `
# mail from the Internet
127.0.0.1:0 inet n - n - - smtpd
# the same, refusing SPF fail
127.0.0.2:0 inet n - n - - smtpd
  -o smtpd_spf_reject_fail=yes
# authenticated submission (implicit TLS)
127.0.0.3:0 inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
# a service whose clients are all in mynetworks
127.0.0.4:0 inet n - n - - smtpd
  -o mynetworks=127.0.0.0/8
${UNIX_SERVICES}
`,
  });
  senderKey = await generateKey(join(px.dir, "sender-keys"), "example.com", {
    selector: "s1",
    type: "rsa",
  });
  dns.set("s1._domainkey.example.com", "TXT", [txtStrings(senderKey.txt)]);
  // Our own keys, where cleanup looks for them ($dkim_key_directory).
  const dir = px.master.cfg.path("dkim_key_directory");
  const rsa = await generateKey(dir, "example.org", { selector: "rsa1", type: "rsa" });
  const ed = await generateKey(dir, "example.org", { selector: "ed1", type: "ed25519" });
  dns.set("rsa1._domainkey.example.org", "TXT", [txtStrings(rsa.txt)]);
  dns.set("ed1._domainkey.example.org", "TXT", [txtStrings(ed.txt)]);
  dns.set("example.org", "TXT", ["v=spf1 ip4:192.0.2.0/24 -all"]);
  dns.set("_dmarc.example.org", "TXT", ["v=DMARC1; p=reject"]);
  px.master.queue.users.add(
    "alice@example.org",
    await Bun.password.hash(PASSWORD, { algorithm: "argon2id" }),
  );
});

afterAll(async () => {
  await px.stop();
  await mx.stop();
  await dns.stop();
});

/** Raw SMTP from 127.0.0.1, so the exact bytes (and their signatures) are the test's. */
async function sendRaw(host: string, port: number, from: string, content: string): Promise<string> {
  const sock = netConnect({ host, port });
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  const c = new LineConn(sock);
  const say = async (line: string) => {
    sock.write(`${line}\r\n`);
    return (await c.reply(10_000)) ?? "(closed)";
  };
  await c.reply();
  await say("EHLO client.sender.test");
  expect(await say(`MAIL FROM:<${from}>`)).toBe("250 2.1.0 Ok");
  expect(await say("RCPT TO:<root@localhost>")).toBe("250 2.1.5 Ok");
  expect(await say("DATA")).toStartWith("354 ");
  const final = await say(`${content.replace(/^\./gm, "..")}\r\n.`);
  await say("QUIT");
  sock.destroy();
  return final;
}

function message(from: string, subject: string, body = "Hello from the outside.\r\n"): string {
  return [
    `From: Sender <${from}>`,
    "To: root@localhost",
    `Subject: ${subject}`,
    "Date: Mon, 1 Jan 2024 00:00:00 +0000",
    `Message-ID: <${subject.replace(/\W/g, "")}@sender.test>`,
    "",
    body,
  ].join("\r\n");
}

async function signed(content: string): Promise<string> {
  const r = await signMessage(content, { domain: "example.com", keys: [senderKey] });
  expect(r.errors).toEqual([]);
  return r.headers + content;
}

/** The delivered message whose Subject is `subject` (Maildir of root, LF line ends). */
async function delivered(subject: string): Promise<string> {
  const dir = join(px.dir, "data", "mail", "root", "new");
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    let files: string[] = [];
    try {
      files = readdirSync(dir);
    } catch {
      // not there yet
    }
    for (const f of files) {
      const text = readFileSync(join(dir, f), "latin1");
      if (text.includes(`\nSubject: ${subject}\n`)) return text;
    }
    await Bun.sleep(20);
  }
  throw new Error(`no delivered message "${subject}"`);
}

/** The header fields of a delivered message named `name`, unfolded. */
function fields(text: string, name: string): string[] {
  const head = text.slice(0, text.indexOf("\n\n"));
  const out: string[] = [];
  for (const f of head.split(/\n(?![ \t])/)) {
    if (f.toLowerCase().startsWith(`${name.toLowerCase()}:`)) out.push(f.replace(/\n[ \t]+/g, " "));
  }
  return out;
}

const queued = /^250 2\.0\.0 Ok: queued as ([0-9A-F]+)$/;

describe("inbound: SPF, DKIM, DMARC from outside mynetworks", () => {
  test("SPF pass, DKIM pass, DMARC pass: one Authentication-Results and Received-SPF", async () => {
    const reply = await sendRaw(
      "127.0.0.1",
      px.port("127.0.0.1:0"),
      "a@example.com",
      await signed(message("a@example.com", "all pass")),
    );
    expect(reply).toMatch(queued);
    const text = await delivered("all pass");
    const ar = fields(text, "Authentication-Results");
    expect(ar.length).toBe(1);
    expect(ar[0]).toStartWith("Authentication-Results: mail.example.com;");
    expect(ar[0]).toMatch(/dkim=pass header\.i=@example\.com header\.s=s1/);
    expect(ar[0]).toMatch(/spf=pass \(.*\) smtp\.mailfrom=(a@)?example\.com/);
    expect(ar[0]).toMatch(/dmarc=pass \(p=REJECT/i);
    expect(fields(text, "Received-SPF")[0]).toMatch(/^Received-SPF: pass /);
    // Prepended: the results come before our Received field.
    expect(text.indexOf("Authentication-Results:")).toBeLessThan(text.indexOf("Received: from"));
    await px.waitForLog(/sender authentication: spf=pass dkim=pass dmarc=pass \(p=reject\)/);
  });

  test("DKIM fails once the signed body or a signed header changes", async () => {
    const good = await signed(message("a@example.com", "tampered body"));
    const body = good.replace("Hello from the outside.", "Hello from the 0utside.");
    expect(await sendRaw("127.0.0.1", px.port("127.0.0.1:0"), "a@example.com", body)).toMatch(
      queued,
    );
    const ar1 = fields(await delivered("tampered body"), "Authentication-Results")[0];
    // mailauth's word for a body hash mismatch (BUN-NOTES.md).
    expect(ar1).toMatch(/dkim=neutral \(body hash did not verify\) header\.i=@example\.com/);
    const hdr = (await signed(message("a@example.com", "tampered subject"))).replace(
      "Subject: tampered subject",
      "Subject: tampered subject!",
    );
    expect(await sendRaw("127.0.0.1", px.port("127.0.0.1:0"), "a@example.com", hdr)).toMatch(
      queued,
    );
    const ar2 = fields(await delivered("tampered subject!"), "Authentication-Results")[0];
    expect(ar2).toMatch(/dkim=fail \(bad signature\) header\.i=@example\.com/);
    // SPF still passes and aligns, so DMARC passes.
    expect(ar2).toMatch(/dmarc=pass/);
  });

  test("forged results claiming our authserv-id are removed; others stay", async () => {
    const content = [
      "Authentication-Results: mail.example.com; dkim=pass header.d=forged.test",
      "Authentication-Results: other.example; spf=pass smtp.mailfrom=x@other.example",
      message("a@example.com", "forged results"),
    ].join("\r\n");
    expect(await sendRaw("127.0.0.1", px.port("127.0.0.1:0"), "a@example.com", content)).toMatch(
      queued,
    );
    const ar = fields(await delivered("forged results"), "Authentication-Results");
    expect(ar.length).toBe(2);
    expect(ar[0]).toStartWith("Authentication-Results: mail.example.com;");
    expect(ar[0]).not.toContain("forged.test");
    expect(ar[1]).toBe(
      "Authentication-Results: other.example; spf=pass smtp.mailfrom=x@other.example",
    );
  });

  test("SPF softfail and fail are recorded; smtpd_spf_reject_fail refuses fail with 5.7.23", async () => {
    expect(
      await sendRaw(
        "127.0.0.1",
        px.port("127.0.0.1:0"),
        "a@softfail.test",
        message("a@softfail.test", "softfail"),
      ),
    ).toMatch(queued);
    const soft = await delivered("softfail");
    expect(fields(soft, "Authentication-Results")[0]).toMatch(/spf=softfail /);
    expect(fields(soft, "Received-SPF")[0]).toMatch(/^Received-SPF: softfail /);
    expect(
      await sendRaw(
        "127.0.0.1",
        px.port("127.0.0.1:0"),
        "a@fail.test",
        message("a@fail.test", "fail"),
      ),
    ).toMatch(queued);
    expect(fields(await delivered("fail"), "Authentication-Results")[0]).toMatch(/spf=fail /);
    expect(
      await sendRaw(
        "127.0.0.2",
        px.port("127.0.0.2:0"),
        "a@fail.test",
        message("a@fail.test", "x"),
      ),
    ).toBe(
      "550 5.7.23 SPF validation failed: fail.test does not allow this client to send its mail",
    );
  });

  test("DMARC p=reject with smtpd_dmarc_enforce: 550 5.7.1 at end of data", async () => {
    const reply = await sendRaw(
      "127.0.0.1",
      px.port("127.0.0.1:0"),
      "a@reject.test",
      message("a@reject.test", "dmarc reject"),
    );
    expect(reply).toBe("550 5.7.1 Email rejected per DMARC policy for reject.test");
    await px.waitForLog(
      /[0-9A-F]+: reject: END-OF-MESSAGE from \S+\[127\.0\.0\.1\]; from=<a@reject\.test> to=<root@localhost> proto=ESMTP helo=<client\.sender\.test>: 550 5\.7\.1 Email rejected per DMARC policy for reject\.test \(DMARC policy reject for reject\.test\)/,
    );
  });

  test("DMARC p=quarantine with smtpd_dmarc_enforce: accepted into the hold queue", async () => {
    const reply = await sendRaw(
      "127.0.0.1",
      px.port("127.0.0.1:0"),
      "a@quarantine.test",
      message("a@quarantine.test", "dmarc quarantine"),
    );
    const id = queued.exec(reply)?.[1];
    expect(id).toBeDefined();
    const rec = px.master.queue.get(id!);
    expect(rec?.state).toBe("hold");
    expect(rec?.reason).toBe("DMARC policy quarantine for quarantine.test");
    await px.waitForLog(new RegExp(`${id}: hold: DMARC policy quarantine for quarantine\\.test`));
    // The results are stored with it.
    const stored = [...px.master.queue.body(id!)].map((c) => Buffer.from(c).toString()).join("");
    expect(stored).toMatch(/^Authentication-Results: mail\.example\.com;\r\n .*dmarc=fail/s);
  });

  test("a DNS error is never a pass: DMARC temperror defers with 451 4.7.5", async () => {
    const reply = await sendRaw(
      "127.0.0.1",
      px.port("127.0.0.1:0"),
      "a@temp.test",
      message("a@temp.test", "temperror"),
    );
    expect(reply).toBe(
      "451 4.7.5 DMARC policy for temp.test could not be checked; try again later",
    );
  });

  test("mail from mynetworks is not checked (no Authentication-Results)", async () => {
    expect(
      await sendRaw(
        "127.0.0.4",
        px.port("127.0.0.4:0"),
        "a@reject.test",
        message("a@reject.test", "trusted"),
      ),
    ).toMatch(queued);
    expect(fields(await delivered("trusted"), "Authentication-Results")).toEqual([]);
  });
});

describe("outbound: DKIM signing in cleanup", () => {
  const resolver = () =>
    mailauthResolver(createResolver({ servers: [dns.server], timeoutMs: 1000 }));

  async function verify(raw: Uint8Array | string) {
    return verifyMessage(typeof raw === "string" ? raw : Buffer.from(raw), {
      ip: "192.0.2.10",
      helo: "mail.example.com",
      sender: "alice@example.org",
      resolver: resolver(),
      mta: "receiver.test",
      authservId: "receiver.test",
    });
  }

  async function submit(subject: string, text: string): Promise<string> {
    const t = nodemailer.createTransport({
      host: "127.0.0.3",
      port: px.port("127.0.0.3:0"),
      secure: true,
      tls: { rejectUnauthorized: false },
      auth: { user: "alice@example.org", pass: PASSWORD },
    });
    try {
      await t.sendMail({ from: "alice@example.org", to: "bob@remote.test", subject, text });
    } finally {
      t.close();
    }
    const m = await waitMx(subject);
    return Buffer.from(m.raw).toString("latin1");
  }

  async function waitMx(subject: string) {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const m = mx.messages.find((x) =>
        Buffer.from(x.raw).toString("latin1").includes(`\r\nSubject: ${subject}\r\n`),
      );
      if (m) return m;
      await Bun.sleep(20);
    }
    throw new Error(`nothing arrived with subject ${subject}`);
  }

  test("an authenticated user's mail is signed rsa-sha256 and ed25519-sha256: dkim=pass", async () => {
    const raw = await submit("signed", "Signed by posteix.\n");
    expect(raw).toStartWith("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;");
    expect(raw).toContain(
      "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org;",
    );
    // The signatures are prepended at commit: above our Received field, which they cover.
    expect(raw.indexOf("DKIM-Signature:")).toBeLessThan(raw.indexOf("Received: from"));
    const r = await verify(raw);
    expect(r.signatures.map((s) => [s.selector, s.result])).toEqual([
      ["rsa1", "pass"],
      ["ed1", "pass"],
    ]);
    expect(r.dkim).toBe("pass");
    expect(r.dmarc.result).toBe("pass");
    // One body byte changed: no signature passes any more.
    const bad = await verify(raw.replace("Signed by posteix.", "Signed by p0steix."));
    expect(bad.dkim).not.toBe("pass");
    expect(bad.signatures.every((s) => s.result !== "pass")).toBe(true);
    expect(bad.header).toContain("body hash did not verify");
  });

  test("a large message (many queue chunks) is signed as it streams, and verifies", async () => {
    const line = `${"0123456789".repeat(7)}\n`;
    const raw = await submit("big signed", line.repeat(60_000)); // about 4.3 MB
    expect(raw.length).toBeGreaterThan(4_000_000);
    const r = await verify(raw);
    expect(r.signatures.map((s) => s.result)).toEqual(["pass", "pass"]);
  });

  test("mail from mynetworks is signed too; other From domains are not", async () => {
    const content = message("bob@example.org", "from mynetworks");
    expect(await sendRaw("127.0.0.4", px.port("127.0.0.4:0"), "bob@example.org", content)).toMatch(
      queued,
    );
    const text = await delivered("from mynetworks");
    expect(fields(text, "DKIM-Signature").length).toBe(2);
    const r = await verify(
      text.replace(/\r?\n/g, "\r\n").replace(/^Return-Path:.*\r\nDelivered-To:.*\r\n/, ""),
    );
    expect(r.signatures.map((s) => s.result)).toEqual(["pass", "pass"]);
    expect(
      await sendRaw(
        "127.0.0.4",
        px.port("127.0.0.4:0"),
        "a@example.net",
        message("a@example.net", "no key"),
      ),
    ).toMatch(queued);
    expect(fields(await delivered("no key"), "DKIM-Signature")).toEqual([]);
  });
});
