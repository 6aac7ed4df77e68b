/**
 * DKIM signing keys in $dkim_key_directory: one PKCS#8 PEM file per key, mode 0600, named
 * DOMAIN.SELECTOR.rsa.key or DOMAIN.SELECTOR.ed25519.key (selectors without dots, so the name
 * splits one way). generateKey() makes RSA 2048 (RFC 8301) or Ed25519 (RFC 8463) keys and gives
 * the DNS TXT record to publish at SELECTOR._domainkey.DOMAIN (RFC 6376 section 3.6.1).
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { logger } from "../log/index.ts";

const log = logger("cleanup");

export type DkimKeyType = "rsa" | "ed25519";

export interface DkimKeyInfo {
  domain: string;
  selector: string;
  type: DkimKeyType;
  path: string;
  /** Owner name of the TXT record, with the final dot: "s1._domainkey.example.com." */
  name: string;
  /** The record's text: "v=DKIM1; k=rsa; p=MIIB..." */
  txt: string;
  /** The zone-file line: NAME IN TXT "..." "..." (character-strings of at most 255 bytes). */
  record: string;
  /** File modification time (ms): the newest key of a type is the one used. */
  mtimeMs: number;
}

export interface DkimKey extends DkimKeyInfo {
  /** PKCS#8 PEM. */
  privateKey: string;
}

export class DkimKeyError extends Error {}

const FILE = /^(.+)\.([A-Za-z0-9_-]+)\.(rsa|ed25519)\.key$/;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A domain name as keys are filed under: lowercase, no final dot, valid labels. */
export function normalizeDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/\.$/, "");
  if (d === "" || d.length > 253 || !d.split(".").every((l) => LABEL.test(l))) {
    throw new DkimKeyError(`invalid domain name "${domain}"`);
  }
  return d;
}

export function validSelector(selector: string): string {
  const s = selector.trim().toLowerCase();
  if (!LABEL.test(s)) {
    throw new DkimKeyError(
      `invalid selector "${selector}" (one DNS label: letters, digits, "-" and "_")`,
    );
  }
  return s;
}

export function keyFileName(domain: string, selector: string, type: DkimKeyType): string {
  return `${normalizeDomain(domain)}.${validSelector(selector)}.${type}.key`;
}

/** The p= value: SPKI DER for RSA (RFC 6376 3.6.1), the raw 32-byte key for Ed25519 (RFC 8463). */
function publicKeyData(key: KeyObject, type: DkimKeyType): string {
  const pub = createPublicKey(key);
  if (type === "ed25519") {
    const jwk = pub.export({ format: "jwk" }) as { x?: string };
    if (jwk.x === undefined) throw new DkimKeyError("not an Ed25519 key");
    return Buffer.from(jwk.x, "base64url").toString("base64");
  }
  return (pub.export({ type: "spki", format: "der" }) as Buffer).toString("base64");
}

/** Splits a TXT record into quoted character-strings of at most 255 bytes (RFC 1035 3.3.14). */
export function txtStrings(txt: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < txt.length; i += 255) out.push(txt.slice(i, i + 255));
  return out;
}

function describe(
  domain: string,
  selector: string,
  type: DkimKeyType,
  key: KeyObject,
  path: string,
  mtimeMs: number,
): DkimKeyInfo {
  const txt = `v=DKIM1; k=${type}; p=${publicKeyData(key, type)}`;
  const name = `${selector}._domainkey.${domain}.`;
  const quoted = txtStrings(txt)
    .map((s) => `"${s}"`)
    .join(" ");
  return {
    domain,
    selector,
    type,
    path,
    name,
    txt,
    record: `${name} IN TXT ${quoted}`,
    mtimeMs,
  };
}

function loadKeyFile(path: string, domain: string, selector: string, type: DkimKeyType): DkimKey {
  const pem = readFileSync(path, "utf8");
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new DkimKeyError(`${path}: unparsable private key: ${(err as Error).message}`);
  }
  const kind = key.asymmetricKeyType;
  if ((type === "rsa" && kind !== "rsa") || (type === "ed25519" && kind !== "ed25519")) {
    throw new DkimKeyError(`${path}: holds a ${kind} key, not ${type}`);
  }
  return {
    ...describe(domain, selector, type, key, path, statSync(path).mtimeMs),
    privateKey: pem,
  };
}

export interface GenerateOptions {
  /** Default: $dkim_selector (the caller passes it). */
  selector: string;
  type?: DkimKeyType;
  /** Replace an existing key file of that name (default: refuse). */
  force?: boolean;
}

const generate = promisify(generateKeyPair);

/** Makes a key, writes it (0600, directory 0700) and returns it with its DNS record. */
export async function generateKey(
  dir: string,
  domain: string,
  opts: GenerateOptions,
): Promise<DkimKey> {
  const type = opts.type ?? "rsa";
  const d = normalizeDomain(domain);
  const s = validSelector(opts.selector);
  const path = join(dir, keyFileName(d, s, type));
  if (!opts.force && existsSync(path)) {
    throw new DkimKeyError(`${path} exists already (choose another selector to rotate keys)`);
  }
  const encoding = {
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  } as const;
  const { privateKey: pem } =
    type === "rsa"
      ? await generate("rsa", { modulusLength: 2048, ...encoding })
      : await generate("ed25519", encoding);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, pem, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return loadKeyFile(path, d, s, type);
}

/**
 * Every key in the directory, by domain, selector and type; [] when it does not exist. A key
 * file that cannot be read throws, unless `onError` takes it (the key is then skipped).
 */
export function listKeys(dir: string, onError?: (err: Error) => void): DkimKey[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const keys: DkimKey[] = [];
  for (const f of names.sort()) {
    const m = FILE.exec(f);
    if (m === null) continue;
    try {
      keys.push(loadKeyFile(join(dir, f), m[1], m[2], m[3] as DkimKeyType));
    } catch (err) {
      if (onError === undefined) throw err;
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
  return keys;
}

const cache = new Map<string, { mtimeMs: number; keys: DkimKey[] }>();

/**
 * The keys to sign mail from `domain` with: the newest RSA key and the newest Ed25519 key of
 * the domain itself, else of its nearest parent that has keys (a d= of a parent domain still
 * aligns under DMARC's relaxed mode). The directory is read again only when it changed; a
 * broken key file is logged and skipped, so it cannot stop mail of other domains.
 */
export function keysForDomain(dir: string, domain: string): DkimKey[] {
  // No exception for a missing directory: this runs for every message.
  const st = statSync(dir, { throwIfNoEntry: false });
  if (!st) return [];
  const mtimeMs = st.mtimeMs;
  let entry = cache.get(dir);
  if (entry === undefined || entry.mtimeMs !== mtimeMs) {
    entry = { mtimeMs, keys: listKeys(dir, (err) => log.warn(`DKIM key skipped: ${err.message}`)) };
    cache.set(dir, entry);
  }
  let d = domain.trim().toLowerCase().replace(/\.$/, "");
  for (;;) {
    const own = entry.keys.filter((k) => k.domain === d);
    if (own.length > 0) {
      const pick = (t: DkimKeyType) =>
        own.filter((k) => k.type === t).sort((a, b) => b.mtimeMs - a.mtimeMs)[0];
      return [pick("rsa"), pick("ed25519")].filter((k): k is DkimKey => k !== undefined);
    }
    const dot = d.indexOf(".");
    // Stop before the last label: nobody signs as a top-level domain.
    if (dot < 0 || d.indexOf(".", dot + 1) < 0) return [];
    d = d.slice(dot + 1);
  }
}
