/**
 * The SMTP client's name, as Postfix's smtpd_peer.c finds it: the PTR name of the address,
 * kept only when that name resolves back to the same address (forward-confirmed reverse DNS),
 * else "unknown". Loopback clients are "localhost" without a query. A temporary DNS failure
 * is remembered as such, so reject_unknown_client_hostname defers instead of rejecting.
 *
 * Parameter: smtpd_peername_lookup.
 */
import { parseIp } from "../config/ip.ts";
import type { Resolver } from "../dns/index.ts";
import { logger } from "../log/index.ts";
import type { NameStatus, PeerInfo } from "./types.ts";

const log = logger("smtpd");

/** "::ffff:192.0.2.1" (dual-stack socket) → "192.0.2.1"; other addresses lower-cased. */
export function normalizeAddr(addr: string): string {
  const a = addr.toLowerCase();
  if (a.startsWith("::ffff:") && a.includes(".")) return a.slice(7);
  return a;
}

export function isLoopback(addr: string): boolean {
  return addr.startsWith("127.") || addr === "::1";
}

/** The name of a client as it goes in logs: "host[addr]". */
export function namaddr(p: PeerInfo): string {
  return `${p.name}[${p.addr}]`;
}

/** Host names as Postfix's valid_hostname() accepts them, and never all-numeric. */
function plausibleHostname(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  const labels = name.split(".");
  for (const l of labels) {
    if (!/^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l)) return false;
  }
  return !/^\d+$/.test(labels[labels.length - 1]);
}

export async function lookupPeer(
  rawAddr: string,
  port: number,
  opts: { resolver?: Resolver; lookup: boolean },
): Promise<PeerInfo> {
  const addr = normalizeAddr(rawAddr);
  const unknown = (status: NameStatus, reverseName = "unknown", reverseStatus = status) => ({
    addr,
    port,
    name: "unknown",
    nameStatus: status,
    reverseName,
    reverseStatus,
  });
  if (isLoopback(addr)) {
    return {
      addr,
      port,
      name: "localhost",
      nameStatus: "ok",
      reverseName: "localhost",
      reverseStatus: "ok",
    };
  }
  if (!opts.lookup || !opts.resolver || !parseIp(addr)) return unknown("perm");
  const resolver = opts.resolver;
  const ptr = await resolver.ptr(addr);
  if (ptr.status === "tempfail") return unknown("temp");
  const name = ptr.status === "ok" ? ptr.records[0]?.replace(/\.$/, "").toLowerCase() : undefined;
  if (!name || !plausibleHostname(name)) return unknown("perm");
  const v6 = addr.includes(":");
  const fwd = v6 ? await resolver.aaaa(name) : await resolver.a(name);
  if (fwd.status === "tempfail") {
    log.warn(`hostname ${name} does not resolve to address ${addr}: temporary failure`);
    return unknown("temp", name, "ok");
  }
  const want = parseIp(addr)!.value;
  if (fwd.status === "ok" && fwd.records.some((r) => parseIp(r)?.value === want)) {
    return { addr, port, name, nameStatus: "ok", reverseName: name, reverseStatus: "ok" };
  }
  log.warn(`hostname ${name} does not resolve to address ${addr}`);
  return unknown("forged", name, "ok");
}
