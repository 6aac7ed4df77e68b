/**
 * Test helpers for TLS: temporary configuration directories with a main.cf, certificates made
 * with the openssl command (RSA, ECDSA, a CA -> intermediate -> leaf chain), and log capture.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import type { Config } from "../../src/config/types.ts";
import { onLog } from "../../src/log/index.ts";

const dirs: string[] = [];

export function tempDir(prefix = "posteix-tls-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A configuration directory with main.cf = the lines given (queue and data inside it). */
export function makeConfig(dir: string, mainCf: string, hostname = "mail.example.com"): Config {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "main.cf"), `queue_directory = ${join(dir, "queue")}\n${mainCf}`);
  return loadConfig({ configDir: dir, env: {}, hostname });
}

export function openssl(args: string[], cwd: string): string {
  const r = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) {
    throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
  }
  return r.stdout.toString();
}

/** A self-signed certificate and key, RSA 2048 or ECDSA P-256, for `cn` (and SAN dNSName). */
export function selfSigned(
  dir: string,
  name: string,
  cn: string,
  type: "rsa" | "ec",
): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  const keyArgs =
    type === "rsa"
      ? ["-newkey", "rsa:2048"]
      : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  openssl(
    [
      "req",
      "-x509",
      ...keyArgs,
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "30",
      "-subj",
      `/CN=${cn}`,
      "-addext",
      `subjectAltName=DNS:${cn}`,
    ],
    dir,
  );
  return { cert, key };
}

/** Root CA -> intermediate CA -> leaf for `cn`; returns the PEM file paths. */
export function caChain(
  dir: string,
  cn: string,
): { rootCert: string; interCert: string; leafCert: string; leafKey: string } {
  const p = (f: string) => join(dir, f);
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      p("root.key"),
      "-out",
      p("root.crt"),
      "-days",
      "30",
      "-subj",
      "/CN=Test Root CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  openssl(
    [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      p("inter.key"),
      "-out",
      p("inter.csr"),
      "-subj",
      "/CN=Test Intermediate CA",
    ],
    dir,
  );
  writeFileSync(
    p("inter.ext"),
    "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      p("inter.csr"),
      "-CA",
      p("root.crt"),
      "-CAkey",
      p("root.key"),
      "-CAcreateserial",
      "-out",
      p("inter.crt"),
      "-days",
      "30",
      "-extfile",
      p("inter.ext"),
    ],
    dir,
  );
  openssl(
    [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      p("leaf.key"),
      "-out",
      p("leaf.csr"),
      "-subj",
      `/CN=${cn}`,
    ],
    dir,
  );
  writeFileSync(p("leaf.ext"), `subjectAltName=DNS:${cn}\nextendedKeyUsage=serverAuth\n`);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      p("leaf.csr"),
      "-CA",
      p("inter.crt"),
      "-CAkey",
      p("inter.key"),
      "-CAcreateserial",
      "-out",
      p("leaf.crt"),
      "-days",
      "30",
      "-extfile",
      p("leaf.ext"),
    ],
    dir,
  );
  return {
    rootCert: p("root.crt"),
    interCert: p("inter.crt"),
    leafCert: p("leaf.crt"),
    leafKey: p("leaf.key"),
  };
}

/** Collects log lines ("program: severity: text") until stop() is called. */
export function captureLog(): { lines: string[]; stop: () => void } {
  const lines: string[] = [];
  const stop = onLog((program, severity, text) => {
    lines.push(`${program}: ${severity === "info" ? "" : `${severity}: `}${text}`);
  });
  return { lines, stop };
}
