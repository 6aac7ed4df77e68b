/**
 * $myhostname's own records: its A/AAAA records (receivers and MX records point at it), and for
 * each address mail leaves from, a PTR record naming $myhostname that resolves back to the same
 * address ("forward-confirmed reverse DNS", RFC 8601 section 3, which large receivers demand;
 * the name should match the EHLO name, $smtp_helo_name = $myhostname by default).
 */
import { isIPv4, isIPv6 } from "node:net";
import { networkInterfaces } from "node:os";
import type { DnsResult, Resolver } from "../dns/index.ts";
import { reverseName } from "../dns/index.ts";
import type { CheckContext, CheckResult } from "./types.ts";
import { addressRecord, bare, fqdn, lookupError, result } from "./zone.ts";

export interface HostAddresses {
  /** A and AAAA records of $myhostname. */
  addresses: string[];
  /** Both lookups answered (with records or without): false on SERVFAIL or timeout. */
  answered: boolean;
  error?: string;
}

export async function lookupAddresses(resolver: Resolver, name: string): Promise<HostAddresses> {
  const [a, aaaa] = await Promise.all([resolver.a(name), resolver.aaaa(name)]);
  const failed = [a, aaaa].find((r) => r.status === "tempfail");
  return {
    addresses: [...a.records, ...aaaa.records],
    answered: failed === undefined,
    ...(failed ? { error: failed.error ?? "temporary DNS failure" } : {}),
  };
}

/** Same address, whatever the spelling ("2001:DB8::1" and "2001:db8:0::1"). */
export function sameAddress(x: string, y: string): boolean {
  if (isIPv4(x) || isIPv4(y)) return x === y;
  if (!isIPv6(x) || !isIPv6(y)) return false;
  try {
    return reverseName(x) === reverseName(y);
  } catch {
    return false;
  }
}

const includesAddress = (list: readonly string[], ip: string) =>
  list.some((a) => sameAddress(a, ip));

/**
 * Public addresses of this machine's interfaces: the best guess of what to publish when
 * $myhostname has no address yet and none was given.
 */
export function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.internal || !isPublic(i.address)) continue;
      out.push(i.address);
    }
  }
  return out;
}

function isPublic(ip: string): boolean {
  if (isIPv4(ip)) {
    const [a, b] = ip.split(".").map(Number);
    return !(
      a === 10 ||
      a === 127 ||
      a === 0 ||
      (a === 100 && b >= 64 && b < 128) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) ||
      a >= 224
    );
  }
  const first = Number.parseInt(ip.split(":")[0] || "0", 16);
  // Global unicast is 2000::/3; fc00::/7 and fe80::/10 are not.
  return (first & 0xe000) === 0x2000;
}

export function checkAddress(ctx: CheckContext, host: HostAddresses): CheckResult {
  const name = bare(ctx.hostname);
  const base = { kind: "address" as const, domain: null, name, found: host.addresses };
  if (!host.answered) {
    return result({ ...base, status: "error", detail: lookupError(name, "A/AAAA", host.error) });
  }
  const missing = ctx.addresses.filter((ip) => !includesAddress(host.addresses, ip));
  if (host.addresses.length === 0) {
    const publishFor = ctx.addresses.length > 0 ? ctx.addresses : interfaceAddresses();
    return result({
      ...base,
      status: "missing",
      detail:
        publishFor.length > 0
          ? `${name} has no A or AAAA record`
          : `${name} has no A or AAAA record; give this host's public address with --address`,
      publish: publishFor.map((ip) => addressRecord(name, ip)),
    });
  }
  if (missing.length > 0) {
    return result({
      ...base,
      status: "wrong",
      detail: `${name} does not resolve to ${missing.join(", ")}`,
      publish: missing.map((ip) => addressRecord(name, ip)),
    });
  }
  return result({
    ...base,
    status: "ok",
    detail: `${name} resolves to ${host.addresses.join(", ")}`,
  });
}

async function forward(resolver: Resolver, name: string): Promise<string[]> {
  const r = await lookupAddresses(resolver, name);
  return r.addresses;
}

export async function checkPtr(
  ctx: CheckContext,
  ip: string,
  host: HostAddresses,
): Promise<CheckResult> {
  const name = reverseName(ip);
  const want = bare(ctx.hostname);
  const publish = [`${fqdn(name)} IN PTR ${fqdn(want)}`];
  const r: DnsResult<string> = await ctx.resolver.ptr(ip);
  const found = r.records.map(fqdn);
  const base = { kind: "ptr" as const, domain: null, name, found };
  if (r.status === "tempfail") {
    return result({ ...base, status: "error", detail: lookupError(name, "PTR", r.error) });
  }
  if (r.status !== "ok" || r.records.length === 0) {
    return result({
      ...base,
      status: "missing",
      detail: `${ip} has no PTR record; ask whoever provides the address (the hosting company) to set it`,
      publish,
    });
  }
  const names = r.records.map(bare);
  if (names.includes(want)) {
    if (includesAddress(host.addresses, ip)) {
      return result({
        ...base,
        status: "ok",
        detail: `${ip} is ${want}, and ${want} resolves back to ${ip}`,
      });
    }
    return result({
      ...base,
      status: "wrong",
      detail: `${ip} is ${want}, but ${want} does not resolve back to ${ip} (no forward confirmation)`,
      publish: [addressRecord(want, ip)],
    });
  }
  const confirmed: string[] = [];
  for (const n of names) if (includesAddress(await forward(ctx.resolver, n), ip)) confirmed.push(n);
  return result({
    ...base,
    status: "wrong",
    detail:
      confirmed.length > 0
        ? `${ip} is ${confirmed.join(", ")}, not ${want}: receivers compare it with the EHLO name (or set myhostname = ${confirmed[0]})`
        : `${ip} is ${names.join(", ")}, not ${want}, and that name does not resolve back to ${ip}`,
    publish,
  });
}
