/**
 * TLS options of the SMTP client for each smtp_tls_security_level (Postfix TLS_README):
 *
 *   none     no TLS
 *   may      STARTTLS when offered, certificate not checked (opportunistic, RFC 7435)
 *   encrypt  TLS required, certificate not checked
 *   verify   chain checked against $smtp_tls_CAfile or the system store, name = the MX host
 *   secure   as verify; the name must be the next-hop domain or a host under it
 *
 * Options work for Bun's socket.upgradeTLS / Bun.connect({ tls }) and node:tls alike.
 */

import { readFileSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { Config } from "../config/types.ts";
import { TlsConfigError } from "./pem.ts";
import { type TlsVersion, tlsProtocols } from "./protocols.ts";

export type ClientTlsLevel = "none" | "may" | "encrypt" | "verify" | "secure";

export interface ClientTlsOptions {
  /** PEM of $smtp_tls_CAfile; undefined = the system store. */
  ca?: string;
  /**
   * true for verify: the handshake itself fails on a bad chain or name. false for secure too,
   * whose names (the next-hop domain and hosts under it) the runtime cannot check: there
   * verifyPeer() decides after the handshake.
   */
  rejectUnauthorized: boolean;
  /** SNI (RFC 6066) and the name checked; absent for an address literal. */
  servername?: string;
  /** The same, under Bun's spelling. */
  serverName?: string;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  /** SSL_OP_NO_* bits (Bun ignores min/maxVersion). */
  secureOptions: number;
}

const caCache = new Map<string, { mtimeMs: number; size: number; pem: string }>();

function readCaFile(path: string): string {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new TlsConfigError(path, "cannot read: No such file or directory");
  }
  const hit = caCache.get(path);
  if (hit !== undefined && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.pem;
  const pem = readFileSync(path, "utf8");
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new TlsConfigError(path, "no certificate found");
  }
  caCache.set(path, { mtimeMs: st.mtimeMs, size: st.size, pem });
  return pem;
}

/** Options for a STARTTLS handshake with `servername` at `level` (not for "none"). */
export function clientTlsOptions(
  cfg: Config,
  level: ClientTlsLevel,
  servername: string,
): ClientTlsOptions {
  const range = tlsProtocols(cfg.list("smtp_tls_protocols"));
  const verifying = level === "verify" || level === "secure";
  const opts: ClientTlsOptions = {
    rejectUnauthorized: level === "verify",
    minVersion: range.minVersion,
    maxVersion: range.maxVersion,
    secureOptions: range.secureOptions,
  };
  const host = servername.replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  if (host !== "" && isIP(host) === 0) {
    opts.servername = host;
    opts.serverName = host;
  }
  const caFile = cfg.str("smtp_tls_CAfile").trim();
  if (caFile !== "" && verifying) opts.ca = readCaFile(resolve(cfg.configDir ?? ".", caFile));
  return opts;
}

export interface PeerVerdict {
  /** The level's requirement is met (always true for may/encrypt). */
  ok: boolean;
  /** "Verified", "Trusted" (chain ok, name not checked) or "Untrusted", as Postfix logs. */
  trust: "Verified" | "Trusted" | "Untrusted";
  reason?: string;
}

/** What verifyPeer needs of a TLS socket: Bun's Socket or node's TLSSocket. */
export interface PeerSocket {
  readonly authorized: boolean;
  /** Bun's Socket. */
  getAuthorizationError?(): Error | null;
  /** node's TLSSocket (an Error, or the OpenSSL code as a string). */
  readonly authorizationError?: Error | string | null;
  /** null or {} when there is none (or the socket is gone). */
  getPeerCertificate(): PeerCertificate | null;
}

function certNames(cert: PeerCertificate | null): string[] {
  const names = (cert?.subjectaltname ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4).toLowerCase());
  return names;
}

/**
 * The verdict on the server certificate after the handshake. `names` are the acceptable host
 * names: the MX host for verify; the next-hop domain for secure (hosts under it also match).
 */
export function verifyPeer(
  socket: PeerSocket,
  level: ClientTlsLevel,
  names: readonly string[],
): PeerVerdict {
  let authErr: Error | string | null = null;
  if (!socket.authorized) {
    authErr = socket.getAuthorizationError?.() ?? socket.authorizationError ?? null;
  }
  const code = typeof authErr === "string" ? authErr : (authErr as { code?: string } | null)?.code;
  const authText = typeof authErr === "string" ? authErr : (authErr?.message ?? "unknown");
  // A name mismatch is decided below against our own list, not the runtime's SNI check.
  const chainOk = socket.authorized || code === "ERR_TLS_CERT_ALTNAME_INVALID";
  const cert = socket.getPeerCertificate();
  let nameOk = false;
  if (chainOk && cert && Object.keys(cert).length > 0) {
    const dns = certNames(cert);
    for (const raw of names) {
      const n = raw.toLowerCase().replace(/\.$/, "");
      if (checkServerIdentity(n, cert) === undefined) nameOk = true;
      else if (level === "secure" && dns.some((d) => d.endsWith(`.${n}`) && !d.startsWith("*"))) {
        nameOk = true;
      }
      if (nameOk) break;
    }
  }
  const trust = chainOk ? (nameOk ? "Verified" : "Trusted") : "Untrusted";
  if (level !== "verify" && level !== "secure") return { ok: true, trust };
  if (!chainOk) {
    return { ok: false, trust, reason: `untrusted issuer: ${authText}` };
  }
  if (!nameOk) {
    return {
      ok: false,
      trust,
      reason: `server certificate not verified: names ${certNames(cert).join(", ") || "(none)"} do not match ${names.join(", ")}`,
    };
  }
  return { ok: true, trust };
}
