/**
 * The server certificate of smtpd: from smtpd_tls_chain_files, else smtpd_tls_cert_file +
 * smtpd_tls_key_file, else a self-signed certificate for $myhostname kept in $data_directory
 * (smtpd-cert.pem, smtpd-key.pem), made on first use, reused afterwards and made again when it
 * has expired (or is about to) or names another host.
 */
import type { X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Config } from "../config/types.ts";
import { type Logger, logger } from "../log/index.ts";
import {
  type KeyAndChain,
  loadCertAndKey,
  loadChainFiles,
  subjectText,
  TlsConfigError,
} from "./pem.ts";

export interface ServerTls {
  /** PEM of the leaf certificate. */
  cert: string;
  /** PEM of the private key. */
  key: string;
  /** PEM of the intermediate certificates, in order; absent when there are none. */
  chain?: string;
  source: "configured" | "generated";
  /** SHA-256 fingerprint of the leaf, colon-separated hex (as `openssl x509 -fingerprint`). */
  fingerprint: string;
  notAfter: Date;
  notBefore: Date;
  /** "CN=mail.example.com" */
  subject: string;
  /** dNSName entries of subjectAltName. */
  names: string[];
  /** The files read, for messages and reload. */
  files: string[];
}

export const GENERATED_CERT_FILE = "smtpd-cert.pem";
export const GENERATED_KEY_FILE = "smtpd-key.pem";
/** A generated certificate this close to its end is made again. */
const RENEW_MARGIN_MS = 30 * 86400_000;

export interface LoadTlsOptions {
  /** Clock for expiry decisions (tests). */
  now?: Date;
  log?: Logger;
}

function dnsNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4).toLowerCase());
}

function toServerTls(kc: KeyAndChain, source: ServerTls["source"], files: string[]): ServerTls {
  const leaf = kc.leaf;
  const tls: ServerTls = {
    cert: kc.certs[0],
    key: kc.key,
    source,
    fingerprint: leaf.fingerprint256,
    notAfter: new Date(leaf.validTo),
    notBefore: new Date(leaf.validFrom),
    subject: subjectText(leaf),
    names: dnsNames(leaf),
    files,
  };
  if (kc.certs.length > 1) tls.chain = kc.certs.slice(1).join("");
  return tls;
}

/** Relative paths in main.cf are relative to the configuration directory. */
function configPath(cfg: Config, p: string): string {
  return resolve(cfg.configDir ?? process.cwd(), p);
}

/** Writes via a temporary file and rename, so a reader never sees half a key. */
function writeAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

async function generatedTls(cfg: Config, now: Date, log: Logger): Promise<ServerTls> {
  const dir = cfg.path("data_directory");
  const host = cfg.str("myhostname").toLowerCase();
  const certPath = join(dir, GENERATED_CERT_FILE);
  const keyPath = join(dir, GENERATED_KEY_FILE);
  let why = "none yet";
  try {
    const old = toServerTls(loadCertAndKey(certPath, keyPath), "generated", [certPath, keyPath]);
    if (!old.names.includes(host)) why = `it is for ${old.names.join(", ") || old.subject}`;
    else if (old.notAfter.getTime() <= now.getTime()) why = `it expired on ${day(old.notAfter)}`;
    else if (old.notAfter.getTime() - now.getTime() < RENEW_MARGIN_MS) {
      why = `it expires on ${day(old.notAfter)}`;
    } else {
      log.info(
        `using the self-signed certificate for ${host} in ${certPath} (valid until ${day(old.notAfter)}, SHA256 fingerprint ${old.fingerprint})`,
      );
      return old;
    }
  } catch (err) {
    if (!(err instanceof TlsConfigError && /No such file/.test(err.message))) {
      why = err instanceof Error ? err.message : String(err);
    }
  }
  // Loaded on demand: @peculiar/x509 is among the slowest imports (BUN-NOTES.md).
  const { generateSelfSigned } = await import("./self-signed.ts");
  const made = await generateSelfSigned(host, now);
  mkdirSync(dirname(certPath), { recursive: true, mode: 0o750 });
  // The key first: a certificate without its key on disk would be unusable after a crash.
  writeAtomic(keyPath, made.key, 0o600);
  writeAtomic(certPath, made.cert, 0o644);
  const tls = toServerTls(loadCertAndKey(certPath, keyPath), "generated", [certPath, keyPath]);
  log.info(
    `generated a self-signed certificate for ${host} in ${certPath} (${why}; ECDSA P-256, valid until ${day(tls.notAfter)}, SHA256 fingerprint ${tls.fingerprint})`,
  );
  return tls;
}

/**
 * The certificate and key smtpd serves. Configured files are read as they are now (so a
 * reload sees a renewed certificate); errors are TlsConfigError naming the file.
 */
export async function loadServerTls(cfg: Config, opts: LoadTlsOptions = {}): Promise<ServerTls> {
  const now = opts.now ?? new Date();
  const log = opts.log ?? logger("tls");
  const chainFiles = cfg.list("smtpd_tls_chain_files").map((f) => configPath(cfg, f));
  let tls: ServerTls;
  let certFile: string;
  if (chainFiles.length > 0) {
    const { chain, ignored } = loadChainFiles(chainFiles);
    if (ignored > 0) {
      log.warn(
        `smtpd_tls_chain_files: ${ignored} more key and certificate set(s) ignored: one certificate per listener is supported`,
      );
    }
    tls = toServerTls(chain, "configured", chainFiles);
    certFile = chain.certFile;
  } else {
    const certSetting = cfg.str("smtpd_tls_cert_file").trim();
    if (certSetting === "") return generatedTls(cfg, now, log);
    certFile = configPath(cfg, certSetting);
    const keySetting = cfg.str("smtpd_tls_key_file").trim();
    const keyFile = keySetting === "" ? certFile : configPath(cfg, keySetting);
    const files = keyFile === certFile ? [certFile] : [certFile, keyFile];
    tls = toServerTls(loadCertAndKey(certFile, keyFile), "configured", files);
  }
  if (tls.notAfter.getTime() <= now.getTime()) {
    log.warn(`certificate in ${certFile} (${tls.subject}) expired on ${day(tls.notAfter)}`);
  }
  log.info(
    `using certificate ${certFile} (${tls.subject}, valid until ${day(tls.notAfter)}, SHA256 fingerprint ${tls.fingerprint})`,
  );
  return tls;
}

/** Certificate and chain as one PEM, leaf first: what a TLS server sends. */
export function certificateChainPem(tls: ServerTls): string {
  return tls.chain ? tls.cert + tls.chain : tls.cert;
}
