import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import nodemailer from "nodemailer";
import type { Config } from "../../src/config/types.ts";
import {
  clientTlsOptions,
  serverTlsOptions,
  TlsManager,
  tlsLogText,
  tlsProtocols,
  verifyPeer,
} from "../../src/tls/index.ts";
import { type EchoServer, startEchoServer } from "./echo-server.ts";
import { caChain, makeConfig, removeTempDirs, selfSigned, tempDir } from "./helpers.ts";
import { plainConnect, startTls, starttlsSession } from "./smtp-client.ts";

let dir: string;
let chain: ReturnType<typeof caChain>;
let cfg: Config;
let mgr: TlsManager;
let server: EchoServer;

beforeAll(async () => {
  dir = tempDir();
  chain = caChain(dir, "mail.example.com");
  const r = (f: string) => readFileSync(f, "utf8");
  writeFileSync(join(dir, "chain.pem"), r(chain.leafKey) + r(chain.leafCert) + r(chain.interCert));
  cfg = makeConfig(dir, `smtpd_tls_chain_files = chain.pem\nsmtp_tls_CAfile = ${chain.rootCert}\n`);
  mgr = await TlsManager.create(cfg);
  server = startEchoServer({ tls: () => mgr.options });
});

afterAll(() => {
  server.stop();
  removeTempDirs();
});

/** Runs openssl s_client -starttls smtp, feeding `input` lines; returns stdout and stderr. */
async function sClient(port: number, args: string[], input: string[]): Promise<string> {
  const proc = Bun.spawn(
    [
      "openssl",
      "s_client",
      "-starttls",
      "smtp",
      "-connect",
      `127.0.0.1:${port}`,
      "-crlf",
      "-nocommands",
      ...args,
    ],
    { stdin: "pipe", stdout: "pipe", stderr: "pipe" },
  );
  const killer = setTimeout(() => proc.kill(), 10_000);
  await Bun.sleep(300);
  for (const line of input) proc.stdin.write(`${line}\n`);
  await proc.stdin.flush();
  const [out, err] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  await proc.exited;
  clearTimeout(killer);
  proc.stdin.end();
  return out + err;
}

describe("STARTTLS with openssl s_client", () => {
  test("TLSv1.3, the chain verifies against the root CA, the session echoes", async () => {
    const before = server.sessions.length;
    const out = await sClient(
      server.port,
      ["-CAfile", chain.rootCert, "-verify_return_error", "-verify_hostname", "mail.example.com"],
      ["NOOP hello", "QUIT"],
    );
    expect(out).toContain("Verification: OK");
    expect(out).toContain("Verified peername: mail.example.com");
    expect(out).toContain("New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384");
    expect(out).toContain("250 echo NOOP hello");
    expect(out).toContain("221 2.0.0 Bye");
    expect(server.sessions.slice(before)).toEqual([
      { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", bits: 256 },
    ]);
    expect(tlsLogText("unknown[127.0.0.1]", server.sessions[before])).toBe(
      "Anonymous TLS connection established from unknown[127.0.0.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
    );
  });

  test("TLSv1.2 when the client asks for it; TLSv1.1 refused", async () => {
    const before = server.sessions.length;
    const out = await sClient(server.port, ["-tls1_2"], ["NOOP twelve", "QUIT"]);
    expect(out).toContain("250 echo NOOP twelve");
    expect(out).toMatch(/New, TLSv1\.2, Cipher is ECDHE-(RSA|ECDSA)-AES256-GCM-SHA384/);
    expect(server.sessions[before].protocol).toBe("TLSv1.2");
    expect(server.sessions[before].cipher).toBe("ECDHE-RSA-AES256-GCM-SHA384");

    const failures = server.failures.length;
    const old = await sClient(
      server.port,
      ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
      ["NOOP old", "QUIT"],
    );
    expect(old).not.toContain("250 echo NOOP old");
    expect(old).toContain("alert protocol version");
    for (let i = 0; i < 100 && server.failures.length === failures; i++) await Bun.sleep(10);
    expect(server.failures.length).toBe(failures + 1);
  });
});

describe("STARTTLS with nodemailer", () => {
  test("verify() over STARTTLS (requireTLS) and over implicit TLS", async () => {
    const before = server.sessions.length;
    const t = nodemailer.createTransport({
      host: "127.0.0.1",
      port: server.port,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      name: "client.example",
    });
    expect(await t.verify()).toBe(true);
    t.close();
    expect(server.sessions.length).toBe(before + 1);
    expect(server.tlsLines).toContain("EHLO client.example");

    const implicit = startEchoServer({ tls: () => mgr.options, implicit: true });
    try {
      const s = nodemailer.createTransport({
        host: "127.0.0.1",
        port: implicit.port,
        secure: true,
        tls: { ca: readFileSync(chain.rootCert, "utf8"), servername: "mail.example.com" },
        name: "client.example",
      });
      expect(await s.verify()).toBe(true);
      s.close();
      // The cipher is the client's choice among TLS 1.3's suites.
      expect(implicit.sessions.length).toBe(1);
      expect(implicit.sessions[0].protocol).toBe("TLSv1.3");
      expect(implicit.sessions[0].cipher).toMatch(/^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA/);
      expect(implicit.leaks).toBe(0);
    } finally {
      implicit.stop();
    }
  });
});

describe("the recipe's guarantees", () => {
  test("commands pipelined after STARTTLS never reach the TLS session", async () => {
    const before = server.sessions.length;
    const linesBefore = server.tlsLines.length;
    const c = await plainConnect(server.port);
    await c.reply();
    c.socket.write("EHLO x\r\n");
    await c.reply();
    // The CVE-2011-0411 pattern: STARTTLS and a command in one packet.
    c.socket.write("STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n");
    expect(await c.reply()).toBe("220 2.0.0 Ready to start TLS");
    const { tls, line } = await startTls(c);
    tls.write("EHLO y\r\n");
    expect(await line.reply()).toBe("250-test\n250 PIPELINING");
    tls.write("QUIT\r\n");
    expect(await line.reply()).toBe("221 2.0.0 Bye");
    tls.destroy();
    expect(server.discarded[before]).toBe("MAIL FROM:<injected@example.com>\r\n");
    expect(server.tlsLines.slice(linesBefore)).toEqual(["EHLO y", "QUIT"]);
    expect(server.leaks).toBe(0);
  });

  test("200 sequential STARTTLS sessions", async () => {
    const before = server.sessions.length;
    const started = Date.now();
    for (let i = 0; i < 200; i++) {
      const { replies } = await starttlsSession(server.port, `n${i}`);
      expect(replies).toEqual(["250-test\n250 PIPELINING", `250 echo NOOP n${i}`, "221 2.0.0 Bye"]);
    }
    expect(server.sessions.length).toBe(before + 200);
    expect(server.leaks).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  test("hostile clients: garbage, a reset mid-handshake, silence, a hang-up; no crash", async () => {
    const hostile = startEchoServer({ tls: () => mgr.options, handshakeTimeoutMs: 300 });
    try {
      const afterStarttls = async () => {
        const c = await plainConnect(hostile.port);
        await c.reply();
        c.socket.write("STARTTLS\r\n");
        expect(await c.reply()).toBe("220 2.0.0 Ready to start TLS");
        return c;
      };
      // 1. An HTTP request instead of a ClientHello.
      let c = await afterStarttls();
      c.socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      for (let i = 0; i < 200 && !c.closed; i++) await Bun.sleep(10);
      expect(c.closed).toBe(true);
      // 2. The start of a ClientHello record, then a reset.
      c = await afterStarttls();
      c.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]));
      await Bun.sleep(20);
      c.socket.resetAndDestroy();
      // 3. Silence: the handshake timeout ends it.
      c = await afterStarttls();
      for (let i = 0; i < 200 && !c.closed; i++) await Bun.sleep(10);
      expect(c.closed).toBe(true);
      // 4. Hang-up right after the 220.
      c = await afterStarttls();
      c.socket.destroy();
      // 5. Garbage at many sizes, in parallel.
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const s = await afterStarttls();
          s.socket.write(Buffer.alloc(1 + i * 97, i));
          await Bun.sleep(5);
          s.socket.destroy();
        }),
      );
      for (let i = 0; i < 300 && hostile.failures.length < 24; i++) await Bun.sleep(10);
      expect(hostile.failures.length).toBe(24);
      expect(hostile.failures.some((f) => f.code === "ETIMEDOUT")).toBe(true);
      expect(hostile.failures.some((f) => /closed during the TLS handshake/.test(f.message))).toBe(
        true,
      );
      expect(hostile.sessions).toEqual([]);
      expect(hostile.leaks).toBe(0);
      // Still serving.
      const { replies } = await starttlsSession(hostile.port, "alive");
      expect(replies[1]).toBe("250 echo NOOP alive");
    } finally {
      hostile.stop();
    }
  }, 30_000);

  test("a raw TCP hang-up before anything is harmless", async () => {
    const s = netConnect({ host: "127.0.0.1", port: server.port });
    await new Promise((r) => s.once("connect", r));
    s.destroy();
    const { replies } = await starttlsSession(server.port, "after");
    expect(replies[1]).toBe("250 echo NOOP after");
  });
});

describe("certificate swap on reload", () => {
  test("the next connection gets the renewed certificate", async () => {
    const d = tempDir();
    const a = selfSigned(d, "a", "mail.example.com", "ec");
    const b = selfSigned(d, "b", "mail.example.com", "rsa");
    const live = { cert: join(d, "live.crt"), key: join(d, "live.key") };
    copyFileSync(a.cert, live.cert);
    copyFileSync(a.key, live.key);
    const c = makeConfig(
      d,
      `smtpd_tls_cert_file = ${live.cert}\nsmtpd_tls_key_file = ${live.key}\n`,
    );
    const m = await TlsManager.create(c);
    const srv = startEchoServer({ tls: () => m.options });
    try {
      const fp = async () => {
        const conn = await plainConnect(srv.port);
        await conn.reply();
        conn.socket.write("STARTTLS\r\n");
        await conn.reply();
        const { tls } = await startTls(conn);
        const f = tls.getPeerCertificate().fingerprint256;
        tls.destroy();
        return f;
      };
      const fa = new X509Certificate(readFileSync(a.cert)).fingerprint256;
      const fb = new X509Certificate(readFileSync(b.cert)).fingerprint256;
      expect(await fp()).toBe(fa);
      copyFileSync(b.cert, live.cert);
      copyFileSync(b.key, live.key);
      expect(await m.reload(c)).toBe(true);
      expect(await fp()).toBe(fb);
    } finally {
      srv.stop();
    }
  });

  test("smtpd_tls_protocols = TLSv1.3 refuses a TLSv1.2-only client", async () => {
    const srv = startEchoServer({
      tls: () => serverTlsOptions(mgr.current, tlsProtocols(["TLSv1.3"])),
    });
    try {
      const ok = await starttlsSession(srv.port, "13");
      expect(ok.protocol).toBe("TLSv1.3");
      await expect(
        starttlsSession(srv.port, "12", { rejectUnauthorized: false, maxVersion: "TLSv1.2" }),
      ).rejects.toThrow();
    } finally {
      srv.stop();
    }
  });
});

describe("client side", () => {
  test("clientTlsOptions + verifyPeer at each level", async () => {
    const verify = clientTlsOptions(cfg, "verify", "mail.example.com");
    expect(verify.rejectUnauthorized).toBe(true);
    expect(verify.servername).toBe("mail.example.com");
    expect(verify.ca).toBe(readFileSync(chain.rootCert, "utf8"));
    expect(verify.minVersion).toBe("TLSv1.2");
    let verdict: unknown;
    const ok = await starttlsSession(server.port, "v", verify, (tls) => {
      verdict = verifyPeer(tls, "verify", ["mail.example.com"]);
    });
    expect(ok.replies[1]).toBe("250 echo NOOP v");
    expect(verdict).toEqual({ ok: true, trust: "Verified" });

    // verify: the wrong MX name fails in the handshake itself
    await expect(
      starttlsSession(server.port, "w", clientTlsOptions(cfg, "verify", "other.example.com")),
    ).rejects.toThrow();

    // secure: the certificate names a host under the next-hop domain
    const secure = clientTlsOptions(cfg, "secure", "mail.example.com");
    expect(secure.rejectUnauthorized).toBe(false);
    const verdicts: unknown[] = [];
    await starttlsSession(server.port, "s", secure, (tls) => {
      verdicts.push(verifyPeer(tls, "secure", ["example.com"]));
      verdicts.push(verifyPeer(tls, "secure", ["example.org"]));
    });
    expect(verdicts).toEqual([
      { ok: true, trust: "Verified" },
      {
        ok: false,
        trust: "Trusted",
        reason: "server certificate not verified: names mail.example.com do not match example.org",
      },
    ]);

    // may/encrypt: no CA file used, any certificate accepted, the log still says what it was
    const may = clientTlsOptions(cfg, "may", "[127.0.0.1]");
    expect(may).toEqual({
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.3",
      secureOptions: may.secureOptions,
    });
    const mays: { ok: boolean; trust: string; reason?: string }[] = [];
    await starttlsSession(server.port, "m", may, (tls) => {
      mays.push(verifyPeer(tls, "may", ["mail.example.com"]));
      mays.push(verifyPeer(tls, "verify", ["mail.example.com"]));
    });
    expect(mays[0]).toEqual({ ok: true, trust: "Untrusted" });
    expect(mays[1].ok).toBe(false);
    expect(mays[1].reason).toStartWith("untrusted issuer:");

    const missing = makeConfig(tempDir(), "smtp_tls_CAfile = /nonexistent/ca.pem\n");
    expect(() => clientTlsOptions(missing, "verify", "mx.example")).toThrow(
      "/nonexistent/ca.pem: cannot read: No such file or directory",
    );
  });
});
