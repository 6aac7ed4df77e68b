/**
 * Outbound TLS policy (RFC 3207, Postfix TLS_README "client TLS security levels"):
 *
 *   none     never STARTTLS
 *   may      STARTTLS when offered; the certificate is not checked; a failed handshake is
 *            retried in plain text on a new connection
 *   encrypt  STARTTLS required (else deferred); the certificate is not checked
 *   verify   STARTTLS required; the chain must verify against $smtp_tls_CAfile (or the system
 *            store) and the certificate must match the MX host name (for "[host]": host)
 *   secure   as verify, but the name must be the next-hop domain or a sub-domain of it
 *
 * The protocol versions are $smtp_tls_protocols (default >=TLSv1.2; TLS 1.2 is also the
 * runtime's floor); a handshake that ends on another version counts as failed.
 */

import { readFileSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { TLSOptions } from "bun";
import type { Config } from "../../config/types.ts";
import { type TlsProtocolRange, tlsProtocols } from "../../tls/protocols.ts";
import { isIpAddress } from "./nexthop.ts";

export type TlsLevel = "none" | "may" | "encrypt" | "verify" | "secure";

export interface TlsPolicy {
  level: TlsLevel;
  /** PEM text of $smtp_tls_CAfile; undefined = the system store. */
  ca?: string;
  /** $smtp_tls_protocols: the versions allowed, and the SSL_OP_NO_* bits for the others. */
  protocols?: readonly string[];
  secureOptions?: number;
}

const LEVELS = new Set<string>(["none", "may", "encrypt", "verify", "secure"]);

const caCache = new Map<string, { mtimeMs: number; pem: string }>();

function loadCa(path: string): string {
  const st = statSync(path);
  const hit = caCache.get(path);
  if (hit !== undefined && hit.mtimeMs === st.mtimeMs) return hit.pem;
  const pem = readFileSync(path, "utf8");
  caCache.set(path, { mtimeMs: st.mtimeMs, pem });
  return pem;
}

/** The policy of the smtp client from main.cf (LMTP uses "none"). */
export function tlsPolicy(cfg: Config, lmtp: boolean): TlsPolicy {
  if (lmtp) return { level: "none" };
  const raw = cfg.str("smtp_tls_security_level").trim().toLowerCase();
  const level = (LEVELS.has(raw) ? raw : raw === "" ? "none" : "encrypt") as TlsLevel;
  if (level === "none") return { level };
  const range = clientProtocols(cfg.list("smtp_tls_protocols"));
  const policy: TlsPolicy = {
    level,
    protocols: range.enabled,
    secureOptions: range.secureOptions,
  };
  const caFile = cfg.str("smtp_tls_CAfile").trim();
  if (caFile === "") return policy;
  const path = isAbsolute(caFile) ? caFile : resolve(cfg.configDir ?? process.cwd(), caFile);
  policy.ca = loadCa(path);
  return policy;
}

/** $smtp_tls_protocols' default, for a list that does not parse and a policy made without one. */
const DEFAULT_RANGE: TlsProtocolRange = tlsProtocols([">=TLSv1.2"]);

/**
 * The parsed list, cached by its text. A bad list is refused at start and by reload (the TLS
 * manager checks it); should one get here, the default stands.
 */
let protocolCache: { key: string; range: TlsProtocolRange } | null = null;
function clientProtocols(list: readonly string[]): TlsProtocolRange {
  const key = list.join(",");
  if (protocolCache?.key === key) return protocolCache.range;
  let range: TlsProtocolRange;
  try {
    range = tlsProtocols(list);
  } catch {
    range = DEFAULT_RANGE;
  }
  protocolCache = { key, range };
  return range;
}

/** Socket options for the handshake. Verification is decided afterwards by checkPeer(). */
export function tlsOptions(policy: TlsPolicy, host: string): TLSOptions {
  // Bun's TLSOptions has no minVersion/maxVersion: the versions not allowed are switched off.
  const opts: TLSOptions = {
    rejectUnauthorized: false,
    secureOptions: policy.secureOptions ?? DEFAULT_RANGE.secureOptions,
  };
  // SNI (RFC 6066) carries a host name, never an address literal.
  if (!isIpAddress(host)) opts.serverName = host;
  if (policy.ca !== undefined) opts.ca = policy.ca;
  return opts;
}

/** Whether the negotiated version is one $smtp_tls_protocols allows. */
export function acceptableProtocol(policy: TlsPolicy, protocol: string): boolean {
  const allowed = policy.protocols ?? DEFAULT_RANGE.enabled;
  return allowed.includes(protocol);
}

/**
 * Whether the server certificate satisfies the level. `authorized` is the runtime's verdict for
 * the chain and the SNI host name; `error` its reason when not.
 */
export function checkPeer(
  policy: TlsPolicy,
  authorized: boolean,
  error: string | null,
  cert: PeerCertificate | undefined,
  domain: string,
): boolean {
  if (policy.level === "verify") return authorized;
  if (policy.level !== "secure") return true;
  // The chain must verify; the name is checked against the next-hop domain here.
  const chainOk = authorized || error === "ERR_TLS_CERT_ALTNAME_INVALID";
  if (!chainOk || cert === undefined) return false;
  const d = domain.toLowerCase();
  if (checkServerIdentity(d, cert) === undefined) return true;
  // "dot-nexthop": a certificate for a host under the domain.
  const names = (cert.subjectaltname ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4).toLowerCase());
  return names.some((n) => n.endsWith(`.${d}`) && !n.startsWith("*"));
}
