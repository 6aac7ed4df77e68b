/**
 * PEM files as Postfix reads them for smtpd_tls_chain_files, smtpd_tls_cert_file and
 * smtpd_tls_key_file: a private key and a certificate chain (leaf first), RSA or ECDSA, in one
 * file or several. Every error names the file it is about.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

/** A configuration problem with TLS files, always naming the file. */
export class TlsConfigError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "TlsConfigError";
  }
}

export interface PemBlock {
  /** The label between BEGIN and END ("CERTIFICATE", "PRIVATE KEY", "EC PRIVATE KEY"...). */
  label: string;
  /** The whole block, BEGIN and END lines included, ending in "\n". */
  pem: string;
  file: string;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
const KEY_LABELS = new Set(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]);
/** Blocks `openssl ecparam -genkey` and friends write next to keys: harmless, skipped. */
const IGNORED_LABELS = new Set(["EC PARAMETERS", "DH PARAMETERS", "X509 CRL"]);

/** The PEM blocks of a file's text, in order. Throws when it has none or a broken one. */
export function parsePem(text: string, file: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  BLOCK.lastIndex = 0;
  for (let m = BLOCK.exec(text); m !== null; m = BLOCK.exec(text)) {
    const body = m[2].replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) {
      throw new TlsConfigError(file, `malformed PEM block "${m[1]}"`);
    }
    blocks.push({ label: m[1], pem: `${m[0].replace(/\r\n/g, "\n")}\n`, file });
  }
  const begins = text.match(/-----BEGIN /g)?.length ?? 0;
  if (begins !== blocks.length) throw new TlsConfigError(file, "unterminated PEM block");
  if (blocks.length === 0) throw new TlsConfigError(file, "no PEM data found");
  return blocks;
}

export function readPemFile(path: string): PemBlock[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "No such file or directory"
        : code === "EACCES"
          ? "Permission denied"
          : err instanceof Error
            ? err.message
            : String(err);
    throw new TlsConfigError(path, `cannot read: ${why}`);
  }
  return parsePem(text, path);
}

export interface KeyAndChain {
  /** PEM of the private key. */
  key: string;
  keyFile: string;
  /** PEM of each certificate, leaf first. */
  certs: string[];
  certFile: string;
  keyObject: KeyObject;
  leaf: X509Certificate;
}

function loadKey(block: PemBlock): KeyObject {
  if (block.label === "ENCRYPTED PRIVATE KEY" || /Proc-Type: 4,ENCRYPTED/.test(block.pem)) {
    throw new TlsConfigError(block.file, "encrypted private keys are not supported");
  }
  try {
    return createPrivateKey(block.pem);
  } catch (err) {
    throw new TlsConfigError(block.file, `unparsable private key: ${errText(err)}`);
  }
}

function loadCert(block: PemBlock): X509Certificate {
  try {
    return new X509Certificate(block.pem);
  } catch (err) {
    throw new TlsConfigError(block.file, `unparsable certificate: ${errText(err)}`);
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Checks that a key and a leaf certificate belong together, and that each certificate of the
 * chain was issued by the next one's subject (a chain in the wrong order makes clients fail
 * in ways that are hard to see from the server).
 */
export function checkKeyAndChain(kc: KeyAndChain): void {
  if (kc.keyObject.type !== "private") {
    throw new TlsConfigError(kc.keyFile, "not a private key");
  }
  const kind = kc.keyObject.asymmetricKeyType;
  if (kind !== "rsa" && kind !== "ec" && kind !== "rsa-pss" && kind !== "ed25519") {
    throw new TlsConfigError(kc.keyFile, `unsupported private key type ${kind ?? "unknown"}`);
  }
  if (!kc.leaf.checkPrivateKey(kc.keyObject)) {
    const where = kc.keyFile === kc.certFile ? kc.certFile : `${kc.keyFile} and ${kc.certFile}`;
    throw new TlsConfigError(
      kc.keyFile,
      `private key does not match the certificate (${where}: subject ${subjectText(kc.leaf)})`,
    );
  }
  for (let i = 0; i + 1 < kc.certs.length; i++) {
    const cert = new X509Certificate(kc.certs[i]);
    const issuer = new X509Certificate(kc.certs[i + 1]);
    if (!cert.checkIssued(issuer)) {
      throw new TlsConfigError(
        kc.certFile,
        `certificate chain out of order: "${subjectText(cert)}" was not issued by "${subjectText(issuer)}"`,
      );
    }
  }
}

/** "CN=mail.example.com, O=Example" from node's multi-line subject. */
export function subjectText(cert: X509Certificate): string {
  return cert.subject.split("\n").filter(Boolean).join(", ");
}

/**
 * smtpd_tls_chain_files: the files in order hold a private key followed by its certificates
 * (Postfix allows several key+chain sets for RSA and ECDSA; Bun serves one certificate per
 * listener, so the first set is used and the rest reported in `ignored`).
 */
export function loadChainFiles(files: string[]): { chain: KeyAndChain; ignored: number } {
  const blocks = files.flatMap(readPemFile).filter((b) => !IGNORED_LABELS.has(b.label));
  const sets: { key: PemBlock; certs: PemBlock[] }[] = [];
  for (const b of blocks) {
    if (KEY_LABELS.has(b.label) || b.label === "ENCRYPTED PRIVATE KEY") {
      sets.push({ key: b, certs: [] });
    } else if (b.label === "CERTIFICATE") {
      const cur = sets.at(-1);
      if (cur === undefined) {
        throw new TlsConfigError(
          b.file,
          "certificate before its private key (key must come first)",
        );
      }
      cur.certs.push(b);
    } else {
      throw new TlsConfigError(b.file, `unexpected PEM block "${b.label}"`);
    }
  }
  const first = sets[0];
  if (first === undefined) throw new TlsConfigError(files.join(", "), "no private key found");
  if (first.certs.length === 0) {
    throw new TlsConfigError(first.key.file, "private key without a certificate after it");
  }
  const chain: KeyAndChain = {
    key: first.key.pem,
    keyFile: first.key.file,
    certs: first.certs.map((c) => c.pem),
    certFile: first.certs[0].file,
    keyObject: loadKey(first.key),
    leaf: loadCert(first.certs[0]),
  };
  for (const c of first.certs.slice(1)) loadCert(c);
  checkKeyAndChain(chain);
  return { chain, ignored: sets.length - 1 };
}

/**
 * smtpd_tls_cert_file + smtpd_tls_key_file (the same file by default): certificates of the cert
 * file (leaf first, then intermediates), the one private key of the key file.
 */
export function loadCertAndKey(certFile: string, keyFile: string): KeyAndChain {
  const certBlocks = readPemFile(certFile).filter((b) => b.label === "CERTIFICATE");
  if (certBlocks.length === 0) throw new TlsConfigError(certFile, "no certificate found");
  const keyBlocks = (keyFile === certFile ? readPemFile(certFile) : readPemFile(keyFile)).filter(
    (b) => KEY_LABELS.has(b.label) || b.label === "ENCRYPTED PRIVATE KEY",
  );
  if (keyBlocks.length === 0) throw new TlsConfigError(keyFile, "no private key found");
  if (keyBlocks.length > 1) throw new TlsConfigError(keyFile, "more than one private key");
  const chain: KeyAndChain = {
    key: keyBlocks[0].pem,
    keyFile,
    certs: certBlocks.map((c) => c.pem),
    certFile,
    keyObject: loadKey(keyBlocks[0]),
    leaf: loadCert(certBlocks[0]),
  };
  for (const c of certBlocks.slice(1)) loadCert(c);
  checkKeyAndChain(chain);
  return chain;
}
