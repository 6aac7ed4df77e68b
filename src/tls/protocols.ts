/**
 * smtpd_tls_protocols / smtp_tls_protocols in every form Postfix accepts:
 *
 *   >=TLSv1.2                         a lower bound (Postfix 3.6 and later)
 *   <=TLSv1.2, >=TLSv1 <=TLSv1.3      bounds
 *   !SSLv2, !SSLv3, !TLSv1, !TLSv1.1  exclusions
 *   TLSv1.2, TLSv1.3                  inclusions (only these)
 *   (empty)                           everything the TLS library offers
 *
 * The result is given both as minVersion/maxVersion (node:tls) and as the SSL_OP_NO_* bitmask
 * (Bun.listen/upgradeTLS, whose TLSOptions have no version fields).
 *
 * XXX Bun's TLS library (BoringSSL) refuses TLS 1.0 and 1.1 whatever the options say, so the
 * effective floor is TLSv1.2; `minVersion` reports that floor.
 */
import { constants } from "node:crypto";

export type TlsVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";

const VERSIONS: readonly TlsVersion[] = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
/** Names Postfix knows that no modern library offers: accepted, never enabled. */
const OBSOLETE = new Set(["sslv2", "sslv3"]);
/** The lowest version the runtime negotiates (see the XXX above). */
export const RUNTIME_FLOOR: TlsVersion = "TLSv1.2";

// Bun leaves SSL_OP_NO_SSLv3 undefined (no SSLv3 at all); the TLS bits are OpenSSL's values.
const NO_FLAG: Record<TlsVersion, number> = {
  TLSv1: constants.SSL_OP_NO_TLSv1 ?? 0x04000000,
  "TLSv1.1": constants.SSL_OP_NO_TLSv1_1 ?? 0x10000000,
  "TLSv1.2": constants.SSL_OP_NO_TLSv1_2 ?? 0x08000000,
  "TLSv1.3": constants.SSL_OP_NO_TLSv1_3 ?? 0x20000000,
};

export interface TlsProtocolRange {
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  /** SSL_OP_NO_* bits for every version outside the allowed set (for Bun's secureOptions). */
  secureOptions: number;
  /** The versions allowed, oldest first (after the runtime floor). */
  enabled: TlsVersion[];
}

export class TlsProtocolError extends Error {}

function version(name: string, entry: string): TlsVersion | "obsolete" {
  const n = name.trim().toLowerCase();
  if (OBSOLETE.has(n)) return "obsolete";
  const v = VERSIONS.find((x) => x.toLowerCase() === n);
  if (v === undefined) throw new TlsProtocolError(`unknown TLS protocol "${entry}"`);
  return v;
}

/** Parses a protocol list (already split, as Config.list gives it). */
export function tlsProtocols(list: readonly string[]): TlsProtocolRange {
  const included = new Set<TlsVersion>();
  const excluded = new Set<TlsVersion>();
  let lo = 0;
  let hi = VERSIONS.length - 1;
  let sawInclusion = false;
  for (const entry of list) {
    const e = entry.trim();
    if (e === "") continue;
    if (e.startsWith(">=") || e.startsWith("<=")) {
      const v = version(e.slice(2), e);
      // >=SSLv3 is "everything"; <=SSLv3 leaves nothing (caught below).
      const i = v === "obsolete" ? -1 : VERSIONS.indexOf(v);
      if (e.startsWith(">=")) lo = Math.max(lo, i);
      else hi = Math.min(hi, i);
    } else if (e.startsWith("!")) {
      const v = version(e.slice(1), e);
      if (v !== "obsolete") excluded.add(v);
    } else {
      sawInclusion = true;
      const v = version(e, e);
      if (v !== "obsolete") included.add(v);
    }
  }
  const floor = VERSIONS.indexOf(RUNTIME_FLOOR);
  const enabled = VERSIONS.filter((v, i) => {
    if (i < lo || i > hi || i < floor || excluded.has(v)) return false;
    return !sawInclusion || included.has(v);
  });
  if (enabled.length === 0) {
    throw new TlsProtocolError(
      `no TLS protocol left by "${list.join(", ")}" (this build supports ${VERSIONS.slice(floor).join(" and ")})`,
    );
  }
  let secureOptions = 0;
  for (const v of VERSIONS) if (!enabled.includes(v)) secureOptions |= NO_FLAG[v];
  return {
    minVersion: enabled[0],
    maxVersion: enabled[enabled.length - 1],
    secureOptions,
    enabled,
  };
}
