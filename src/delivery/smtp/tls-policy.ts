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
 * TLS 1.2 is the minimum ($smtp_tls_protocols, >=TLSv1.2).
 */

import { constants } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { TLSOptions } from "bun";
import type { Config } from "../../config/types.ts";
import { isIpAddress } from "./nexthop.ts";

export type TlsLevel = "none" | "may" | "encrypt" | "verify" | "secure";

export interface TlsPolicy {
  level: TlsLevel;
  /** PEM text of $smtp_tls_CAfile; undefined = the system store. */
  ca?: string;
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
  const caFile = cfg.str("smtp_tls_CAfile").trim();
  if (caFile === "" || level === "none") return { level };
  const path = isAbsolute(caFile) ? caFile : resolve(cfg.configDir ?? process.cwd(), caFile);
  return { level, ca: loadCa(path) };
}

// TLS 1.2 minimum: Bun's TLSOptions has no minVersion, so older protocols are switched off.
const NO_OLD_PROTOCOLS =
  (constants.SSL_OP_NO_SSLv2 ?? 0) |
  (constants.SSL_OP_NO_SSLv3 ?? 0) |
  (constants.SSL_OP_NO_TLSv1 ?? 0) |
  (constants.SSL_OP_NO_TLSv1_1 ?? 0);

/** Socket options for the handshake. Verification is decided afterwards by checkPeer(). */
export function tlsOptions(policy: TlsPolicy, host: string): TLSOptions {
  const opts: TLSOptions = {
    rejectUnauthorized: false,
    secureOptions: NO_OLD_PROTOCOLS,
  };
  // SNI (RFC 6066) carries a host name, never an address literal.
  if (!isIpAddress(host)) opts.serverName = host;
  if (policy.ca !== undefined) opts.ca = policy.ca;
  return opts;
}

export function acceptableProtocol(protocol: string): boolean {
  return protocol === "TLSv1.2" || protocol === "TLSv1.3";
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
