import { afterAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { copyFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadServerTls, TlsConfigError, TlsManager } from "../../src/tls/index.ts";
import { caChain, captureLog, makeConfig, removeTempDirs, selfSigned, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("no error");
}

describe("generated self-signed certificate", () => {
  test("made on first use, kept in $data_directory, reused, remade for a new hostname", async () => {
    const dir = tempDir();
    const log = captureLog();
    try {
      const cfg = makeConfig(dir, `data_directory = ${join(dir, "data")}\n`);
      const first = await loadServerTls(cfg);
      expect(first.source).toBe("generated");
      expect(first.names).toEqual(["mail.example.com"]);
      expect(first.subject).toBe("CN=mail.example.com");
      expect(first.chain).toBeUndefined();
      const certPath = join(dir, "data", "smtpd-cert.pem");
      const keyPath = join(dir, "data", "smtpd-key.pem");
      expect(first.files).toEqual([certPath, keyPath]);
      expect(statSync(keyPath).mode & 0o777).toBe(0o600);
      expect(readFileSync(keyPath, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----\n");
      const x = new X509Certificate(readFileSync(certPath, "utf8"));
      expect(x.publicKey.asymmetricKeyType).toBe("ec");
      expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
      expect(x.fingerprint256).toBe(first.fingerprint);
      const days = (first.notAfter.getTime() - Date.now()) / 86400_000;
      expect(days).toBeGreaterThan(364);
      expect(days).toBeLessThan(366);
      expect(log.lines.at(-1)).toContain(
        `posteix/tls: generated a self-signed certificate for mail.example.com in ${certPath} (none yet; ECDSA P-256`,
      );

      const second = await loadServerTls(cfg);
      expect(second.fingerprint).toBe(first.fingerprint);
      expect(second.key).toBe(first.key);
      expect(log.lines.at(-1)).toBe(
        `posteix/tls: using the self-signed certificate for mail.example.com in ${certPath} (valid until ${first.notAfter.toISOString().slice(0, 10)}, SHA256 fingerprint ${first.fingerprint})`,
      );

      const renamed = makeConfig(dir, `data_directory = ${join(dir, "data")}\n`, "mx.example.org");
      const third = await loadServerTls(renamed);
      expect(third.fingerprint).not.toBe(first.fingerprint);
      expect(third.names).toEqual(["mx.example.org"]);
      expect(log.lines.at(-1)).toContain(
        "generated a self-signed certificate for mx.example.org in",
      );
      expect(log.lines.at(-1)).toContain("(it is for mail.example.com; ECDSA P-256");
    } finally {
      log.stop();
    }
  });

  test("remade when expired or about to expire", async () => {
    const dir = tempDir();
    const log = captureLog();
    try {
      const cfg = makeConfig(dir, "");
      const first = await loadServerTls(cfg);
      expect(first.files[0]).toBe(join(dir, "queue", "smtpd-cert.pem"));
      const soon = new Date(first.notAfter.getTime() - 10 * 86400_000);
      const renewed = await loadServerTls(cfg, { now: soon });
      expect(renewed.fingerprint).not.toBe(first.fingerprint);
      expect(log.lines.at(-1)).toContain(
        `(it expires on ${first.notAfter.toISOString().slice(0, 10)}; ECDSA P-256`,
      );
      const later = new Date(renewed.notAfter.getTime() + 86400_000);
      const again = await loadServerTls(cfg, { now: later });
      expect(again.fingerprint).not.toBe(renewed.fingerprint);
      expect(log.lines.at(-1)).toContain(
        `(it expired on ${renewed.notAfter.toISOString().slice(0, 10)}; ECDSA P-256`,
      );
    } finally {
      log.stop();
    }
  });

  test("a damaged generated key is replaced, with the reason in the log", async () => {
    const dir = tempDir();
    const log = captureLog();
    try {
      const cfg = makeConfig(dir, "");
      const first = await loadServerTls(cfg);
      writeFileSync(first.files[1], "garbage\n");
      const second = await loadServerTls(cfg);
      expect(second.fingerprint).not.toBe(first.fingerprint);
      expect(log.lines.at(-1)).toContain(`(${first.files[1]}: no PEM data found; ECDSA`);
    } finally {
      log.stop();
    }
  });
});

describe("configured certificates", () => {
  test("RSA with separate cert and key files", async () => {
    const dir = tempDir();
    const { cert, key } = selfSigned(dir, "rsa", "mx.example.net", "rsa");
    const cfg = makeConfig(dir, `smtpd_tls_cert_file = ${cert}\nsmtpd_tls_key_file = ${key}\n`);
    const tls = await loadServerTls(cfg);
    expect(tls.source).toBe("configured");
    expect(tls.subject).toBe("CN=mx.example.net");
    expect(tls.names).toEqual(["mx.example.net"]);
    expect(tls.files).toEqual([cert, key]);
    expect(tls.cert).toBe(readFileSync(cert, "utf8"));
    expect(tls.key).toContain("PRIVATE KEY-----");
    expect(tls.fingerprint).toBe(new X509Certificate(readFileSync(cert)).fingerprint256);
  });

  test("ECDSA with key and certificate in one file (smtpd_tls_key_file defaults to it)", async () => {
    const dir = tempDir();
    const { cert, key } = selfSigned(dir, "ec", "mx.example.net", "ec");
    const both = join(dir, "both.pem");
    writeFileSync(both, readFileSync(cert, "utf8") + readFileSync(key, "utf8"));
    const cfg = makeConfig(dir, "smtpd_tls_cert_file = both.pem\n");
    const tls = await loadServerTls(cfg);
    expect(tls.files).toEqual([both]);
    expect(tls.names).toEqual(["mx.example.net"]);
  });

  test("smtpd_tls_chain_files: key, leaf and intermediate, in one file or several", async () => {
    const dir = tempDir();
    const c = caChain(dir, "mail.example.com");
    const r = (f: string) => readFileSync(f, "utf8");
    writeFileSync(join(dir, "full.pem"), r(c.leafKey) + r(c.leafCert) + r(c.interCert));
    const one = await loadServerTls(makeConfig(dir, "smtpd_tls_chain_files = full.pem\n"));
    expect(one.source).toBe("configured");
    expect(one.cert).toBe(r(c.leafCert));
    expect(one.chain).toBe(r(c.interCert));
    expect(one.subject).toBe("CN=mail.example.com");

    const several = await loadServerTls(
      makeConfig(
        dir,
        `smtpd_tls_chain_files = ${c.leafKey}, ${c.leafCert}\n  ${c.interCert}\n` +
          "smtpd_tls_cert_file = /nonexistent\n",
      ),
    );
    expect(several.fingerprint).toBe(one.fingerprint);
    expect(several.chain).toBe(r(c.interCert));
    expect(several.files).toEqual([c.leafKey, c.leafCert, c.interCert]);
  });

  test("errors name the file", async () => {
    const dir = tempDir();
    const rsa = selfSigned(dir, "rsa", "a.example", "rsa");
    const ec = selfSigned(dir, "ec", "b.example", "ec");
    const c = caChain(dir, "c.example");
    const r = (f: string) => readFileSync(f, "utf8");
    const load = (mainCf: string) => loadServerTls(makeConfig(dir, mainCf));

    let err = await errorOf(load(`smtpd_tls_cert_file = ${join(dir, "missing.pem")}\n`));
    expect(err).toBeInstanceOf(TlsConfigError);
    expect(err.message).toBe(`${join(dir, "missing.pem")}: cannot read: No such file or directory`);

    err = await errorOf(
      load(`smtpd_tls_cert_file = ${ec.cert}\nsmtpd_tls_key_file = ${rsa.key}\n`),
    );
    expect(err.message).toBe(
      `${rsa.key}: private key does not match the certificate (${rsa.key} and ${ec.cert}: subject CN=b.example)`,
    );

    writeFileSync(join(dir, "junk.pem"), "this is not PEM\n");
    err = await errorOf(load("smtpd_tls_cert_file = junk.pem\n"));
    expect(err.message).toBe(`${join(dir, "junk.pem")}: no PEM data found`);

    writeFileSync(
      join(dir, "broken.pem"),
      "-----BEGIN CERTIFICATE-----\nMIIB$$$\n-----END CERTIFICATE-----\n",
    );
    err = await errorOf(load(`smtpd_tls_cert_file = broken.pem\nsmtpd_tls_key_file = ${ec.key}\n`));
    expect(err.message).toBe(`${join(dir, "broken.pem")}: malformed PEM block "CERTIFICATE"`);

    writeFileSync(
      join(dir, "bad-der.pem"),
      "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
    );
    err = await errorOf(
      load(`smtpd_tls_cert_file = bad-der.pem\nsmtpd_tls_key_file = ${ec.key}\n`),
    );
    expect(err.message).toStartWith(`${join(dir, "bad-der.pem")}: unparsable certificate:`);

    writeFileSync(join(dir, "nokey.pem"), r(rsa.cert));
    err = await errorOf(load("smtpd_tls_cert_file = nokey.pem\n"));
    expect(err.message).toBe(`${join(dir, "nokey.pem")}: no private key found`);

    writeFileSync(join(dir, "order.pem"), r(c.leafKey) + r(c.interCert) + r(c.leafCert));
    err = await errorOf(load("smtpd_tls_chain_files = order.pem\n"));
    expect(err.message).toBe(
      `${join(dir, "order.pem")}: private key does not match the certificate (${join(dir, "order.pem")}: subject CN=Test Intermediate CA)`,
    );

    writeFileSync(join(dir, "order2.pem"), r(c.leafKey) + r(c.leafCert) + r(c.rootCert));
    err = await errorOf(load("smtpd_tls_chain_files = order2.pem\n"));
    expect(err.message).toBe(
      `${join(dir, "order2.pem")}: certificate chain out of order: "CN=c.example" was not issued by "CN=Test Root CA"`,
    );

    writeFileSync(join(dir, "certfirst.pem"), r(c.leafCert) + r(c.leafKey));
    err = await errorOf(load("smtpd_tls_chain_files = certfirst.pem\n"));
    expect(err.message).toBe(
      `${join(dir, "certfirst.pem")}: certificate before its private key (key must come first)`,
    );

    const encrypted = join(dir, "enc.key");
    Bun.spawnSync([
      "openssl",
      "pkcs8",
      "-topk8",
      "-in",
      ec.key,
      "-out",
      encrypted,
      "-passout",
      "pass:secret",
    ]);
    err = await errorOf(
      load(`smtpd_tls_cert_file = ${ec.cert}\nsmtpd_tls_key_file = ${encrypted}\n`),
    );
    expect(err.message).toBe(`${encrypted}: encrypted private keys are not supported`);
  });
});

describe("TlsManager", () => {
  test("reload reports a renewed certificate and keeps the old one on error", async () => {
    const dir = tempDir();
    const a = selfSigned(dir, "a", "mail.example.com", "ec");
    const b = selfSigned(dir, "b", "mail.example.com", "rsa");
    const live = { cert: join(dir, "live.crt"), key: join(dir, "live.key") };
    copyFileSync(a.cert, live.cert);
    copyFileSync(a.key, live.key);
    const cfg = makeConfig(
      dir,
      `smtpd_tls_cert_file = ${live.cert}\nsmtpd_tls_key_file = ${live.key}\n`,
    );
    const mgr = await TlsManager.create(cfg);
    const before = mgr.current.fingerprint;
    expect(mgr.options.cert).toBe(readFileSync(a.cert, "utf8"));
    expect(mgr.options.secureOptions).toBe(mgr.protocols.secureOptions);
    expect(await mgr.reload(cfg)).toBe(false);

    // certbot writes the new certificate and key
    copyFileSync(b.cert, live.cert);
    copyFileSync(b.key, live.key);
    expect(await mgr.reload(cfg)).toBe(true);
    expect(mgr.current.fingerprint).not.toBe(before);
    expect(mgr.options.cert).toBe(readFileSync(b.cert, "utf8"));
    expect(mgr.options.key).toBe(readFileSync(b.key, "utf8"));
    expect(await mgr.reload(cfg)).toBe(false);

    // a half-finished renewal (new certificate, old key) is refused; the old pair stays
    copyFileSync(a.cert, live.cert);
    const err = await errorOf(mgr.reload(cfg));
    expect(err.message).toContain("private key does not match the certificate");
    expect(mgr.options.cert).toBe(readFileSync(b.cert, "utf8"));

    // a protocol change is a change too
    const cfg13 = makeConfig(
      dir,
      `smtpd_tls_cert_file = ${b.cert}\nsmtpd_tls_key_file = ${b.key}\nsmtpd_tls_protocols = TLSv1.3\n`,
    );
    expect(await mgr.reload(cfg13)).toBe(true);
    expect(mgr.protocols.enabled).toEqual(["TLSv1.3"]);
  });
});

describe("smtp_tls_protocols is checked with the server's TLS settings", () => {
  test("a bad value refuses the start and a reload, naming the parameter", async () => {
    const dir = tempDir();
    const a = selfSigned(dir, "a", "mail.example.com", "ec");
    const files = `smtpd_tls_cert_file = ${a.cert}\nsmtpd_tls_key_file = ${a.key}\n`;
    await expect(
      TlsManager.create(makeConfig(dir, `${files}smtp_tls_protocols = TLSv9\n`)),
    ).rejects.toThrow('smtp_tls_protocols: unknown TLS protocol "TLSv9"');
    const mgr = await TlsManager.create(makeConfig(dir, files));
    await expect(
      mgr.reload(makeConfig(dir, `${files}smtp_tls_protocols = !TLSv1.2, !TLSv1.3\n`)),
    ).rejects.toThrow('smtp_tls_protocols: no TLS protocol left by "!TLSv1.2, !TLSv1.3"');
  });
});
