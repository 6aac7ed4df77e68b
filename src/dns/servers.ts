/**
 * Where queries go: main.cf dns_servers entries, or the nameserver lines of resolv.conf(5).
 */

import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { DnsServer } from "./types.ts";

export const DEFAULT_RESOLV_CONF = "/etc/resolv.conf";
const DNS_PORT = 53;

/**
 * Parses "ip", "ip:port", "[ipv6]", "[ipv6]:port" or a bare IPv6 address. Host names are refused:
 * the resolver cannot resolve its own servers.
 */
export function parseServer(spec: string): DnsServer {
  const s = spec.trim();
  let host = s;
  let portText: string | undefined;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) throw new Error(`bad DNS server "${spec}": missing "]"`);
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw new Error(`bad DNS server "${spec}"`);
      portText = rest.slice(1);
    }
  } else {
    const colon = s.indexOf(":");
    // One colon means "ipv4:port"; more means a bare IPv6 address on port 53.
    if (colon >= 0 && s.indexOf(":", colon + 1) < 0) {
      host = s.slice(0, colon);
      portText = s.slice(colon + 1);
    }
  }
  const family = isIP(stripScope(host));
  if (family !== 4 && family !== 6) {
    throw new Error(`bad DNS server "${spec}": not an IP address`);
  }
  let port = DNS_PORT;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    if (port < 1 || port > 65535) throw new Error(`bad DNS server "${spec}": bad port`);
  }
  return { address: host, port, family };
}

/** "fe80::1%eth0" is a valid server in resolv.conf; isIP() does not know zone ids. */
function stripScope(host: string): string {
  const pct = host.indexOf("%");
  return pct < 0 ? host : host.slice(0, pct);
}

/** Formats a server back as "ip:port" or "[ipv6]:port", for logs and errors. */
export function formatServer(server: DnsServer): string {
  return server.family === 6
    ? `[${server.address}]:${server.port}`
    : `${server.address}:${server.port}`;
}

/**
 * The nameserver addresses of a resolv.conf(5) text, in order. Other keywords are ignored;
 * entries that are not IP addresses are skipped, as the C library does.
 */
export function parseResolvConf(text: string): DnsServer[] {
  const servers: DnsServer[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line[0] === "#" || line[0] === ";") continue;
    const fields = line.split(/\s+/);
    if (fields[0] !== "nameserver" || fields.length < 2) continue;
    try {
      // resolv.conf has no port syntax; a bracketed form would be a mistake, so parse strictly.
      const server = parseServer(fields[1]);
      if (server.port === DNS_PORT) servers.push(server);
    } catch {
      // skip a bad line, like res_init(3)
    }
  }
  return servers;
}

/**
 * Servers from main.cf when given, else from resolv.conf, else the local host (the C library's
 * fallback when resolv.conf names no server).
 */
export function resolveServerList(
  specs: readonly string[] | undefined,
  resolvConfPath: string = DEFAULT_RESOLV_CONF,
): DnsServer[] {
  const listed = (specs ?? []).filter((s) => s.trim() !== "");
  if (listed.length > 0) return listed.map(parseServer);
  let text = "";
  try {
    text = readFileSync(resolvConfPath, "utf8");
  } catch {
    // no resolv.conf: use the fallback below
  }
  const found = parseResolvConf(text);
  return found.length > 0 ? found : [{ address: "127.0.0.1", port: DNS_PORT, family: 4 }];
}
