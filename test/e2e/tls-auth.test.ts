/**
 * TLS and AUTH end to end, against the real Master on loopback: STARTTLS and implicit TLS
 * (SMTPS) with nodemailer and `openssl s_client`, the generated certificate and a configured
 * one, a reload swapping the certificate (smtpd and the API), the STARTTLS command injection,
 * AUTH (success, failure, lockout, sender login mismatch, refused without TLS), and outbound
 * STARTTLS at every smtp_tls_security_level to nodemailer's smtp-server.
 *
 * Every service is a master.cf line on its own loopback address with -o overrides; the test
 * client always connects from 127.0.0.1, outside $mynetworks unless a test says otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import nodemailer from "nodemailer";
import { metrics } from "../../src/log/metrics.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";
import { startPosteix, TEST_MASTER_CF, type TestPosteix } from "../helpers/posteix.ts";
import { type SmtpPeer, startSmtpPeer } from "../helpers/smtp-peer.ts";
import { caChain, selfSigned } from "../tls/helpers.ts";
import { LineConn, startTls } from "../tls/smtp-client.ts";

const PASSWORD = "correct horse battery";
const UNIX_SERVICES = TEST_MASTER_CF.split("\n")
  .filter((l) => / unix /.test(l))
  .join("\n");

const tempDirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "posteix-tls-e2e-"));
  tempDirs.push(d);
  return d;
}

let dns: TestDnsServer;
const stoppers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dns = await startDnsServer({
    "mx.tls.test": { A: ["127.0.0.1"] },
    "other.tls.test": { A: ["127.0.0.1"] },
  });
});

afterAll(async () => {
  for (const s of stoppers.splice(0).reverse()) await s();
  await dns.stop();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

async function posteix(opts: Parameters<typeof startPosteix>[0]): Promise<TestPosteix> {
  const px = await startPosteix({
    ...opts,
    mainCf: `dns_servers = ${dns.server}\nmynetworks = 192.0.2.0/24\n${opts?.mainCf ?? ""}`,
  });
  stoppers.push(() => px.stop());
  return px;
}

async function peer(opts: Parameters<typeof startSmtpPeer>[0] = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer(opts);
  stoppers.push(() => p.stop());
  return p;
}

async function addUser(px: TestPosteix, name: string, password = PASSWORD): Promise<void> {
  px.master.queue.users.add(name, await Bun.password.hash(password, { algorithm: "argon2id" }));
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const plain = (user: string, pass: string) => b64(`\0${user}\0${pass}`);

/** A plaintext SMTP connection to host:port, after the greeting. */
async function connect(host: string, port: number): Promise<{ c: LineConn; greeting: string }> {
  const sock = netConnect({ host, port });
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  const c = new LineConn(sock);
  return { c, greeting: (await c.reply()) ?? "(closed)" };
}

/** Send one command line, return the (whole) reply; "(closed)" when the server hung up. */
async function cmd(c: LineConn, line: string): Promise<string> {
  c.socket.write(`${line}\r\n`);
  return (await c.reply()) ?? "(closed)";
}

/** EHLO, STARTTLS, handshake; the TLS line connection (EHLO not yet repeated). */
async function starttls(host: string, port: number): Promise<{ line: LineConn; tls: TLSSocket }> {
  const { c } = await connect(host, port);
  expect(await cmd(c, "EHLO client.test")).toContain("STARTTLS");
  expect(await cmd(c, "STARTTLS")).toBe("220 2.0.0 Ready to start TLS");
  return startTls(c, { rejectUnauthorized: false });
}

/** The SHA-256 fingerprint of the certificate a TLS server at host:port presents. */
async function implicitFingerprint(host: string, port: number): Promise<string> {
  const tls = tlsConnect({ host, port, rejectUnauthorized: false, servername: "mail.example.com" });
  await new Promise<void>((resolve, reject) => {
    tls.once("secureConnect", resolve);
    tls.once("error", reject);
  });
  const fp = tls.getPeerCertificate().fingerprint256;
  tls.destroy();
  return fp;
}

async function starttlsFingerprint(host: string, port: number): Promise<string> {
  const { line, tls } = await starttls(host, port);
  const fp = tls.getPeerCertificate().fingerprint256;
  await cmd(line, "QUIT");
  tls.destroy();
  return fp;
}

function fileFingerprint(path: string): string {
  return new X509Certificate(readFileSync(path)).fingerprint256;
}

/** Runs openssl s_client, feeding `input` lines; returns stdout and stderr. */
async function sClient(args: string[], input: string[]): Promise<string> {
  const proc = Bun.spawn(["openssl", "s_client", "-crlf", "-nocommands", ...args], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const killer = setTimeout(() => proc.kill(), 10_000);
  await Bun.sleep(400);
  for (const line of input) {
    proc.stdin.write(`${line}\n`);
    await proc.stdin.flush();
    await Bun.sleep(100);
  }
  const [out, err] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  await proc.exited;
  clearTimeout(killer);
  return out + err;
}

async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = fn();
    if (v) return v;
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function maildir(px: TestPosteix, user: string): string[] {
  const dir = join(px.dir, "data", "mail", user, "new");
  try {
    return readdirSync(dir).map((f) => readFileSync(join(dir, f), "latin1"));
  } catch {
    return [];
  }
}

const hasOpenssl = Bun.which("openssl") !== null;

// -------------------------------------------------------------------------------- server TLS

describe("server TLS and AUTH on one posteix", () => {
  let px: TestPosteix;
  let mx: SmtpPeer;

  beforeAll(async () => {
    mx = await peer();
    px = await posteix({
      mainCf: [
        `relayhost = [127.0.0.1]:${mx.port}`,
        "smtp_tls_security_level = none",
        "smtpd_helo_required = yes",
      ].join("\n"),
      masterCf: `
# smtp: STARTTLS offered (may), no AUTH
127.0.0.1:0 inet n - n - - smtpd
# submission: TLS required, AUTH, senders must be the login's own
127.0.0.2:0 inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
# smtps: implicit TLS
127.0.0.3:0 inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
# STARTTLS may, AUTH only inside TLS (the default smtpd_tls_auth_only = yes)
127.0.0.4:0 inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
# AUTH in plain text allowed
127.0.0.5:0 inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=no
# no TLS at all
127.0.0.6:0 inet n - n - - smtpd
  -o smtpd_tls_security_level=none
${UNIX_SERVICES}
`,
    });
    await addUser(px, "alice@example.com");
  });

  const port = (host: string) => px.port(`${host}:0`);

  test("the generated certificate is served, and the log says it was made", async () => {
    await px.waitForLog(
      /generated a self-signed certificate for mail\.example\.com in \S+smtpd-cert\.pem \(none yet; ECDSA P-256/,
    );
    const cert = px.master.tls?.current;
    expect(cert?.source).toBe("generated");
    expect(cert?.subject).toBe("CN=mail.example.com");
    expect(await starttlsFingerprint("127.0.0.1", port("127.0.0.1"))).toBe(cert!.fingerprint);
    expect(await implicitFingerprint("127.0.0.3", port("127.0.0.3"))).toBe(cert!.fingerprint);
  });

  test("STARTTLS with nodemailer: ESMTPS, protocol and cipher in Received and in the log", async () => {
    const before = metrics.total("connections_tls");
    const t = nodemailer.createTransport({
      host: "127.0.0.1",
      port: port("127.0.0.1"),
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
    });
    try {
      const info = await t.sendMail({
        from: "someone@sender.test",
        to: "root@localhost",
        subject: "over STARTTLS",
        text: "encrypted",
      });
      expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
    } finally {
      t.close();
    }
    const line = await px.waitForLog(
      /Anonymous TLS connection established from \S+\[127\.0\.0\.1\]: TLSv1\.[23] with cipher \S+ \(\d+\/\d+ bits\)/,
    );
    const [, proto, cipher, bits] =
      /(TLSv1\.[23]) with cipher (\S+) \((\d+)\/\d+ bits\)/.exec(line) ?? [];
    expect(metrics.total("connections_tls")).toBeGreaterThan(before);
    const [file] = await waitFor("maildir file", () => {
      const f = maildir(px, "root").filter((m) => m.includes("Subject: over STARTTLS"));
      return f.length > 0 ? f : undefined;
    });
    expect(file).toContain(
      `\n\t(using ${proto} with cipher ${cipher} (${bits}/${bits} bits))\n\tby mail.example.com (`,
    );
    expect(file).toMatch(/\) with ESMTPS id [0-9A-F]+/);
  });

  test("implicit TLS (SMTPS) with nodemailer and AUTH PLAIN: relayed, ESMTPSA", async () => {
    const t = nodemailer.createTransport({
      host: "127.0.0.3",
      port: port("127.0.0.3"),
      secure: true,
      tls: { rejectUnauthorized: false },
      auth: { user: "alice@example.com", pass: PASSWORD },
    });
    try {
      await t.sendMail({
        from: "alice@example.com",
        to: "bob@remote.test",
        subject: "over SMTPS",
        text: "implicit",
      });
    } finally {
      t.close();
    }
    await mx.waitForMessages(1, 10_000);
    const raw = Buffer.from(mx.messages.at(-1)!.raw).toString("latin1");
    expect(raw).toContain("Subject: over SMTPS");
    expect(raw).toMatch(/\t\(using TLSv1\.[23] with cipher \S+/);
    expect(raw).toMatch(/\) with ESMTPSA id [0-9A-F]+/);
    await px.waitForLog(
      /client=\S+\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=alice@example\.com/,
    );
  });

  test.skipIf(!hasOpenssl)("openssl s_client -starttls smtp and implicit TLS", async () => {
    const fp = px.master.tls!.current.fingerprint;
    const out = await sClient(
      [
        "-starttls",
        "smtp",
        "-connect",
        `127.0.0.1:${port("127.0.0.1")}`,
        "-servername",
        "mail.example.com",
      ],
      ["EHLO openssl.test", "QUIT"],
    );
    expect(out).toMatch(/subject=\s*CN\s*=\s*mail\.example\.com/);
    expect(out).toMatch(/Protocol\s*:\s*TLSv1\.3|New, TLSv1\.3, Cipher is/);
    // Inside TLS the EHLO reply no longer offers STARTTLS.
    expect(out).toContain("250-mail.example.com");
    expect(out).not.toContain("250-STARTTLS");
    expect(out).toContain("221 2.0.0 Bye");
    const smtps = await sClient(
      ["-connect", `127.0.0.3:${port("127.0.0.3")}`, "-servername", "mail.example.com"],
      ["EHLO openssl.test", "QUIT"],
    );
    expect(smtps).toContain("220 mail.example.com ESMTP");
    expect(smtps).toContain("250-AUTH PLAIN LOGIN");
    expect(smtps).toContain("221 2.0.0 Bye");
    // The certificate openssl saw is the generated one.
    for (const text of [out, smtps]) {
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
      expect(new X509Certificate(pem ?? "").fingerprint256).toBe(fp);
    }
  });

  test("commands pipelined after STARTTLS are discarded and the session starts over", async () => {
    const { c } = await connect("127.0.0.1", port("127.0.0.1"));
    expect(await cmd(c, "EHLO client.test")).toContain("250-STARTTLS");
    // The STARTTLS command injection (CVE-2011-0411): plaintext after STARTTLS, one write.
    c.socket.write("STARTTLS\r\nMAIL FROM:<x@y.test>\r\n");
    expect(await c.reply()).toBe("220 2.0.0 Ready to start TLS");
    await Bun.sleep(100);
    expect(c.take()).toBe("");
    const { line, tls } = await startTls(c, { rejectUnauthorized: false });
    // The injected MAIL never ran, and the EHLO before TLS is forgotten.
    expect(await cmd(line, "RCPT TO:<root@localhost>")).toBe("503 5.5.1 Error: need MAIL command");
    expect(await cmd(line, "MAIL FROM:<a@sender.test>")).toBe(
      "503 5.5.1 Error: send HELO/EHLO first",
    );
    const ehlo = await cmd(line, "EHLO client.test");
    expect(ehlo).toStartWith("250-mail.example.com");
    expect(ehlo).not.toContain("STARTTLS");
    expect(await cmd(line, "MAIL FROM:<a@sender.test>")).toBe("250 2.1.0 Ok");
    expect(await cmd(line, "STARTTLS")).toBe("554 5.5.1 Error: TLS already active");
    expect(await cmd(line, "QUIT")).toBe("221 2.0.0 Bye");
    tls.destroy();
    await px.waitForLog(
      /disconnect from \S+\[127\.0\.0\.1\] ehlo=2 starttls=1\/2 mail=1\/2 rcpt=0\/1 quit=1 commands=5\/8/,
    );
  });

  test("smtpd_tls_security_level = none: no STARTTLS", async () => {
    const { c } = await connect("127.0.0.6", port("127.0.0.6"));
    expect(await cmd(c, "EHLO client.test")).not.toContain("STARTTLS");
    expect(await cmd(c, "STARTTLS")).toBe("502 5.5.1 Error: command not implemented");
    await cmd(c, "QUIT");
  });

  test("encrypt: MAIL and AUTH before STARTTLS get 530 5.7.0; AUTH is offered inside TLS", async () => {
    const { c } = await connect("127.0.0.2", port("127.0.0.2"));
    const ehlo = await cmd(c, "EHLO client.test");
    expect(ehlo).toContain("250-STARTTLS");
    expect(ehlo).not.toContain("AUTH");
    expect(await cmd(c, "MAIL FROM:<alice@example.com>")).toBe(
      "530 5.7.0 Must issue a STARTTLS command first",
    );
    expect(await cmd(c, `AUTH PLAIN ${plain("alice@example.com", PASSWORD)}`)).toBe(
      "530 5.7.0 Must issue a STARTTLS command first",
    );
    await cmd(c, "QUIT");
    const { line, tls } = await starttls("127.0.0.2", port("127.0.0.2"));
    expect(await cmd(line, "EHLO client.test")).toContain("250-AUTH PLAIN LOGIN");
    await cmd(line, "QUIT");
    tls.destroy();
  });

  test("AUTH is offered and accepted only after STARTTLS (smtpd_tls_auth_only)", async () => {
    const { c } = await connect("127.0.0.4", port("127.0.0.4"));
    const ehlo = await cmd(c, "EHLO client.test");
    expect(ehlo).toContain("250-STARTTLS");
    expect(ehlo).not.toContain("AUTH");
    expect(await cmd(c, `AUTH PLAIN ${plain("alice@example.com", PASSWORD)}`)).toBe(
      "503 5.5.1 Error: authentication not enabled",
    );
    await cmd(c, "QUIT");
    const { line, tls } = await starttls("127.0.0.4", port("127.0.0.4"));
    expect(await cmd(line, "EHLO client.test")).toContain("250-AUTH PLAIN LOGIN");
    expect(await cmd(line, `AUTH PLAIN ${plain("alice@example.com", PASSWORD)}`)).toBe(
      "235 2.7.0 Authentication successful",
    );
    await cmd(line, "QUIT");
    tls.destroy();
    // With smtpd_tls_auth_only = no it is offered in plain text too.
    const p = await connect("127.0.0.5", port("127.0.0.5"));
    expect(await cmd(p.c, "EHLO client.test")).toContain("250-AUTH PLAIN LOGIN");
    await cmd(p.c, "QUIT");
    // Without smtpd_sasl_auth_enable never, not even in TLS.
    const s = await starttls("127.0.0.1", port("127.0.0.1"));
    expect(await cmd(s.line, "EHLO client.test")).not.toContain("AUTH");
    expect(await cmd(s.line, `AUTH PLAIN ${plain("alice@example.com", PASSWORD)}`)).toBe(
      "503 5.5.1 Error: authentication not enabled",
    );
    await cmd(s.line, "QUIT");
    s.tls.destroy();
  });

  test("AUTH failure (535, logged as Postfix does) and LOGIN success", async () => {
    const failures = metrics.total("auth_failures");
    const { line, tls } = await starttls("127.0.0.4", port("127.0.0.4"));
    await cmd(line, "EHLO client.test");
    expect(await cmd(line, `AUTH PLAIN ${plain("alice@example.com", "wrong")}`)).toBe(
      "535 5.7.8 Error: authentication failed: authentication failure",
    );
    await px.waitForLog(
      /warning: \S+\[127\.0\.0\.1\]: SASL PLAIN authentication failed: authentication failure/,
    );
    expect(metrics.total("auth_failures")).toBe(failures + 1);
    expect(await cmd(line, "AUTH LOGIN")).toBe("334 VXNlcm5hbWU6");
    expect(await cmd(line, b64("alice@example.com"))).toBe("334 UGFzc3dvcmQ6");
    expect(await cmd(line, b64(PASSWORD))).toBe("235 2.7.0 Authentication successful");
    expect(await cmd(line, "AUTH LOGIN")).toBe("503 5.5.1 Error: already authenticated");
    await cmd(line, "QUIT");
    tls.destroy();
    // Passwords never reach the log.
    expect(px.logs.some((l) => l.includes(PASSWORD) || l.includes(b64(PASSWORD)))).toBe(false);
  });

  test("sender login mismatch: a login sends only as its own address", async () => {
    const { line, tls } = await starttls("127.0.0.2", port("127.0.0.2"));
    await cmd(line, "EHLO client.test");
    // Not logged in: an address that belongs to a login is refused, relaying too.
    expect(await cmd(line, "MAIL FROM:<alice@example.com>")).toBe("250 2.1.0 Ok");
    expect(await cmd(line, "RCPT TO:<bob@remote.test>")).toBe(
      "553 5.7.1 <alice@example.com>: Sender address rejected: not logged in",
    );
    await cmd(line, "RSET");
    expect(await cmd(line, "MAIL FROM:<nobody@sender.test>")).toBe("250 2.1.0 Ok");
    expect(await cmd(line, "RCPT TO:<bob@remote.test>")).toBe(
      "554 5.7.1 <bob@remote.test>: Recipient address rejected: Access denied",
    );
    await cmd(line, "RSET");
    expect(await cmd(line, `AUTH PLAIN ${plain("alice@example.com", PASSWORD)}`)).toBe(
      "235 2.7.0 Authentication successful",
    );
    expect(await cmd(line, "MAIL FROM:<bob@example.com>")).toBe("250 2.1.0 Ok");
    expect(await cmd(line, "RCPT TO:<bob@remote.test>")).toBe(
      "553 5.7.1 <bob@example.com>: Sender address rejected: not owned by user alice@example.com",
    );
    await cmd(line, "RSET");
    expect(await cmd(line, "MAIL FROM:<alice@example.com>")).toBe("250 2.1.0 Ok");
    expect(await cmd(line, "RCPT TO:<bob@remote.test>")).toBe("250 2.1.5 Ok");
    await cmd(line, "QUIT");
    tls.destroy();
    await px.waitForLog(
      /NOQUEUE: reject: RCPT from \S+\[127\.0\.0\.1\]: 553 5\.7\.1 <bob@example\.com>: Sender address rejected: not owned by user alice@example\.com; from=<bob@example\.com> to=<bob@remote\.test> proto=ESMTP helo=<client\.test>/,
    );
  });
});

// -------------------------------------------------------------------------------- lockout

describe("AUTH lockout", () => {
  test("past smtpd_auth_failure_limit failures a client gets 421 4.7.0 and is refused", async () => {
    const px = await posteix({
      mainCf: "smtpd_auth_failure_limit = 3\nsmtpd_auth_lockout_time = 600s\n",
      masterCf: `127.0.0.1:0 inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=no
${UNIX_SERVICES}
`,
    });
    await addUser(px, "alice@example.com");
    const { c } = await connect("127.0.0.1", px.port());
    await cmd(c, "EHLO client.test");
    const bad = `AUTH PLAIN ${plain("alice@example.com", "guess")}`;
    expect(await cmd(c, bad)).toBe(
      "535 5.7.8 Error: authentication failed: authentication failure",
    );
    expect(await cmd(c, bad)).toBe(
      "535 5.7.8 Error: authentication failed: authentication failure",
    );
    expect(await cmd(c, bad)).toBe("421 4.7.0 mail.example.com Error: too many AUTH failures");
    expect(await c.reply()).toBeNull(); // closed
    await px.waitForLog(/too many AUTH failures \(3 within 600s\): AUTH refused for 600s/);
    // A new connection, even with the right password, is refused for the lockout time.
    const again = await connect("127.0.0.1", px.port());
    await cmd(again.c, "EHLO client.test");
    expect(await cmd(again.c, `AUTH PLAIN ${plain("alice@example.com", PASSWORD)}`)).toBe(
      "421 4.7.0 mail.example.com Error: too many AUTH failures",
    );
  });
});

// -------------------------------------------------------------------------------- certificates

describe("certificates", () => {
  test("the generated certificate is kept in the data directory and reused after a restart", async () => {
    const dir = tempDir();
    const masterCf = `127.0.0.1:0 inet n - n - - smtpd\n${UNIX_SERVICES}\n`;
    let px = await startPosteix({ dir, masterCf, mainCf: `dns_servers = ${dns.server}` });
    await px.waitForLog(/generated a self-signed certificate for mail\.example\.com/);
    const first = px.master.tls!.current.fingerprint;
    expect(await starttlsFingerprint("127.0.0.1", px.port())).toBe(first);
    const certFile = px.master.tls!.current.files[0];
    await px.stop();
    px = await startPosteix({ dir, masterCf, mainCf: `dns_servers = ${dns.server}` });
    stoppers.push(() => px.stop());
    await px.waitForLog(
      /using the self-signed certificate for mail\.example\.com in \S+smtpd-cert\.pem \(valid until/,
    );
    expect(px.logs.some((l) => l.includes("generated a self-signed"))).toBe(false);
    expect(px.master.tls!.current.files[0]).toBe(certFile);
    expect(await starttlsFingerprint("127.0.0.1", px.port())).toBe(first);
  });

  test("a configured certificate is served; reload picks up a renewed one (smtpd and API)", async () => {
    const dir = tempDir();
    const a = selfSigned(dir, "a", "mail.example.com", "rsa");
    const b = selfSigned(dir, "b", "mail.example.com", "ec");
    const certFile = join(dir, "cert.pem");
    const keyFile = join(dir, "key.pem");
    writeFileSync(certFile, readFileSync(a.cert));
    writeFileSync(keyFile, readFileSync(a.key));
    const px = await posteix({
      mainCf: [
        `smtpd_tls_cert_file = ${certFile}`,
        `smtpd_tls_key_file = ${keyFile}`,
        "api_listen = 127.0.0.1:0",
        "api_tls = yes",
      ].join("\n"),
      masterCf: `127.0.0.1:0 inet n - n - - smtpd
127.0.0.3:0 inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
${UNIX_SERVICES}
`,
    });
    const fpA = fileFingerprint(a.cert);
    const fpB = fileFingerprint(b.cert);
    expect(px.master.tls!.current.source).toBe("configured");
    await px.waitForLog(new RegExp(`using certificate ${certFile} \\(CN=mail\\.example\\.com`));
    expect(await starttlsFingerprint("127.0.0.1", px.port("127.0.0.1:0"))).toBe(fpA);
    expect(await implicitFingerprint("127.0.0.3", px.port("127.0.0.3:0"))).toBe(fpA);
    expect(await implicitFingerprint("127.0.0.1", px.master.api!.port)).toBe(fpA);

    // A session that started before the renewal keeps working on its certificate.
    const old = await starttls("127.0.0.1", px.port("127.0.0.1:0"));
    expect(await cmd(old.line, "EHLO client.test")).toStartWith("250-mail.example.com");

    // certbot renews: new files replace the old ones; `posteix reload`.
    writeFileSync(`${keyFile}.new`, readFileSync(b.key));
    writeFileSync(`${certFile}.new`, readFileSync(b.cert));
    renameSync(`${keyFile}.new`, keyFile);
    renameSync(`${certFile}.new`, certFile);
    expect(await px.master.reload()).toBe(true);
    await px.waitForLog(/TLS certificate or protocols changed: new connections use them/);
    expect(await starttlsFingerprint("127.0.0.1", px.port("127.0.0.1:0"))).toBe(fpB);
    expect(await implicitFingerprint("127.0.0.3", px.port("127.0.0.3:0"))).toBe(fpB);
    expect(await waitFor("API restart", () => px.master.api?.port)).toBeGreaterThan(0);
    expect(await implicitFingerprint("127.0.0.1", px.master.api!.port)).toBe(fpB);
    expect(await cmd(old.line, "NOOP")).toBe("250 2.0.0 Ok");
    await cmd(old.line, "QUIT");
    old.tls.destroy();

    // A broken renewal: the running certificate stays.
    writeFileSync(certFile, "not a certificate\n");
    expect(await px.master.reload()).toBe(true);
    await px.waitForLog(/TLS: keeping the running certificate: .*cert\.pem/);
    expect(await starttlsFingerprint("127.0.0.1", px.port("127.0.0.1:0"))).toBe(fpB);
  });
});

// -------------------------------------------------------------------------------- outbound

describe("outbound STARTTLS at each smtp_tls_security_level", () => {
  let px: TestPosteix;
  let verified: SmtpPeer;
  let selfsigned: SmtpPeer;
  let broken: SmtpPeer;
  let plainPeer: SmtpPeer;

  beforeAll(async () => {
    const dir = tempDir();
    const chain = caChain(dir, "mx.tls.test");
    const self = selfSigned(dir, "self", "mx.tls.test", "ec");
    const read = (f: string) => readFileSync(f, "utf8");
    verified = await peer({
      tls: { key: read(chain.leafKey), cert: read(chain.leafCert) + read(chain.interCert) },
    });
    selfsigned = await peer({ tls: { key: read(self.key), cert: read(self.cert) } });
    broken = await peer({ tls: { key: read(self.key), cert: read(self.cert), broken: true } });
    plainPeer = await peer();
    const level = (l: string) =>
      `tls-${l}   unix - - n - - smtp\n  -o smtp_tls_security_level=${l}`;
    const route = (domain: string, transport: string, p: SmtpPeer) =>
      `${domain} ${transport}:[mx.tls.test]:${p.port}`;
    px = await posteix({
      mainCf: [
        // The client is trusted here: these tests are about the way out.
        "mynetworks = 127.0.0.0/8",
        `smtp_tls_CAfile = ${chain.rootCert}`,
        "transport_maps = texthash:$config_directory/transport",
      ].join("\n"),
      masterCf: `127.0.0.1:0 inet n - n - - smtpd
${UNIX_SERVICES}
${["none", "may", "encrypt", "verify"].map(level).join("\n")}
`,
      files: {
        transport: [
          route("none.test", "tls-none", verified),
          route("may.test", "tls-may", selfsigned),
          route("maybroken.test", "tls-may", broken),
          route("encplain.test", "tls-encrypt", plainPeer),
          route("encself.test", "tls-encrypt", selfsigned),
          route("verify.test", "tls-verify", verified),
          route("verifyself.test", "tls-verify", selfsigned),
          // The CA-signed certificate of mx.tls.test, reached under another name.
          `verifyname.test tls-verify:[other.tls.test]:${verified.port}`,
        ].join("\n"),
      },
    });
  });

  async function send(to: string): Promise<void> {
    const t = nodemailer.createTransport({
      host: "127.0.0.1",
      port: px.port(),
      secure: false,
      ignoreTLS: true,
    });
    try {
      await t.sendMail({ from: "a@example.com", to, subject: `to ${to}`, text: "out" });
    } finally {
      t.close();
    }
  }

  async function arrived(p: SmtpPeer, to: string) {
    return waitFor(`message for ${to}`, () =>
      p.messages.find((m) => m.rcptTo.some((r) => r.address === to)),
    );
  }

  test("none: plain text although the server offers STARTTLS", async () => {
    await send("u@none.test");
    expect((await arrived(verified, "u@none.test")).secure).toBe(false);
    const sent = await px.waitForLog(/to=<u@none\.test>.*status=sent/);
    expect(sent).toContain("posteix/smtp");
    expect(px.logs.some((l) => /TLS connection established to .*none/.test(l))).toBe(false);
  });

  test("may: STARTTLS, certificate not checked, logged as Untrusted with protocol and cipher", async () => {
    await send("u@may.test");
    expect((await arrived(selfsigned, "u@may.test")).secure).toBe(true);
    await px.waitForLog(
      new RegExp(
        `Untrusted TLS connection established to mx\\.tls\\.test\\[127\\.0\\.0\\.1\\]:${selfsigned.port}: TLSv1\\.[23] with cipher \\S+`,
      ),
    );
    await px.waitForLog(/to=<u@may\.test>.*status=sent/);
  });

  test("may: a failed handshake falls back to plain text on a new connection", async () => {
    await send("u@maybroken.test");
    expect((await arrived(broken, "u@maybroken.test")).secure).toBe(false);
    await px.waitForLog(/to=<u@maybroken\.test>.*status=sent/);
    expect(broken.connections).toBeGreaterThanOrEqual(2);
  });

  test("encrypt: deferred when the server offers no STARTTLS", async () => {
    await send("u@encplain.test");
    await px.waitForLog(
      /to=<u@encplain\.test>.*dsn=4\.7\.4, status=deferred \(TLS is required, but was not offered by host mx\.tls\.test\[127\.0\.0\.1\]/,
    );
    expect(plainPeer.messages.length).toBe(0);
  });

  test("encrypt: any certificate will do", async () => {
    await send("u@encself.test");
    expect((await arrived(selfsigned, "u@encself.test")).secure).toBe(true);
  });

  test("verify: chain and name checked; Verified in the log", async () => {
    await send("u@verify.test");
    expect((await arrived(verified, "u@verify.test")).secure).toBe(true);
    await px.waitForLog(
      new RegExp(
        `Verified TLS connection established to mx\\.tls\\.test\\[127\\.0\\.0\\.1\\]:${verified.port}: TLSv1\\.[23] with cipher \\S+`,
      ),
    );
  });

  test("verify: an untrusted certificate defers", async () => {
    await send("u@verifyself.test");
    await px.waitForLog(
      /to=<u@verifyself\.test>.*status=deferred \(Server certificate not verified/,
    );
    expect(selfsigned.messages.some((m) => m.rcptTo[0].address === "u@verifyself.test")).toBe(
      false,
    );
  });

  test("verify: a trusted certificate for another name defers", async () => {
    await send("u@verifyname.test");
    await px.waitForLog(
      /to=<u@verifyname\.test>.*status=deferred \(Server certificate not verified \(other\.tls\.test\[127\.0\.0\.1\]: ERR_TLS_CERT_ALTNAME_INVALID/,
    );
    expect(verified.messages.some((m) => m.rcptTo[0].address === "u@verifyname.test")).toBe(false);
  });
});
