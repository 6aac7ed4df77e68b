/**
 * Next-hop syntax of the smtp and lmtp transports, as Postfix writes it:
 *
 *   smtp:  domain   domain:port   [host]   [host]:port          (brackets: no MX lookup)
 *   lmtp:  inet:host   inet:host:port   inet:[host]:port   unix:/path   /path
 *
 * A port may be a number or a service name (smtp, submission, lmtp, ...). Pure: no I/O.
 */

import { isIPv4, isIPv6 } from "../../rewrite/address.ts";

export type NextHop =
  /** Look up MX records of the domain (RFC 5321 section 5.1). */
  | { kind: "mx"; domain: string; port: number }
  /** Connect to this host (name or IP address); no MX lookup. */
  | { kind: "host"; host: string; port: number }
  | { kind: "unix"; path: string };

const SERVICES: Record<string, number> = {
  smtp: 25,
  submission: 587,
  smtps: 465,
  submissions: 465,
  lmtp: 24,
};

function parsePort(text: string): number | null {
  if (/^\d{1,5}$/.test(text)) {
    const n = Number(text);
    return n > 0 && n < 65536 ? n : null;
  }
  return SERVICES[text.toLowerCase()] ?? null;
}

/** "[host]" or "[host]:port" (host may be an IPv4 or IPv6 address or a name). */
function parseBracketed(text: string, defaultPort: number): NextHop | null {
  const close = text.indexOf("]");
  if (close < 0) return null;
  let host = text.slice(1, close);
  if (host.toLowerCase().startsWith("ipv6:")) host = host.slice(5);
  if (host === "") return null;
  const rest = text.slice(close + 1);
  let port = defaultPort;
  if (rest !== "") {
    if (!rest.startsWith(":")) return null;
    const p = parsePort(rest.slice(1));
    if (p === null) return null;
    port = p;
  }
  return { kind: "host", host, port };
}

/** Parses a next hop; null when it cannot be understood. */
export function parseNexthop(
  text: string,
  lmtp: boolean,
  defaultPort = lmtp ? 24 : 25,
): NextHop | null {
  let s = text.trim();
  if (s === "") return null;
  if (lmtp) {
    if (s.startsWith("unix:")) {
      const path = s.slice(5);
      return path === "" ? null : { kind: "unix", path };
    }
    if (s.startsWith("/")) return { kind: "unix", path: s };
    if (s.startsWith("inet:")) s = s.slice(5);
    if (s.startsWith("[")) return parseBracketed(s, defaultPort);
    if (isIPv6(s)) return { kind: "host", host: s, port: defaultPort };
    const colon = s.lastIndexOf(":");
    if (colon < 0) return { kind: "host", host: s, port: defaultPort };
    const port = parsePort(s.slice(colon + 1));
    const host = s.slice(0, colon);
    return port === null || host === "" ? null : { kind: "host", host, port };
  }
  if (s.startsWith("[")) return parseBracketed(s, defaultPort);
  const colon = s.lastIndexOf(":");
  let port = defaultPort;
  if (colon >= 0) {
    const p = parsePort(s.slice(colon + 1));
    if (p === null) return null;
    port = p;
    s = s.slice(0, colon);
  }
  if (s === "") return null;
  // An IP address given without brackets is used as is (there is nothing to look up).
  if (isIPv4(s)) return { kind: "host", host: s, port };
  return { kind: "mx", domain: s.endsWith(".") ? s.slice(0, -1) : s, port };
}

/** True when host is an IP address literal (IPv4 or IPv6, no brackets). */
export function isIpAddress(host: string): boolean {
  return isIPv4(host) || isIPv6(host);
}
