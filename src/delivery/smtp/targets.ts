/**
 * From a next hop to the list of server addresses to try, in order (RFC 5321 section 5.1):
 * MX records by preference (equal preferences arrive shuffled from the resolver), the domain's
 * own A/AAAA records when it has no MX (NODATA), none at all for a null MX (RFC 7505), and no
 * MX lookup for "[host]". At most $smtp_mx_address_limit addresses.
 *
 * DNS outcomes become Postfix's results: NXDOMAIN bounces (5.4.4 "Host or domain name not
 * found. Name service error for name=X type=MX: Host not found"), a temporary failure defers
 * (4.4.3 "..., try again"), a null MX bounces (5.1.10).
 */

import type { DnsResult, Resolver } from "../../dns/index.ts";
import { isIpAddress, type NextHop } from "./nexthop.ts";

export interface Target {
  /** Host name as known (MX exchange, "[host]" name, or the address itself). */
  host: string;
  /** IP address to connect to ("" for a unix-domain socket). */
  addr: string;
  port: number;
  unix?: string;
}

export interface TargetFailure {
  status: "deferred" | "bounced";
  dsn: string;
  diagnostic: string;
}

export type TargetResult = { ok: true; targets: Target[] } | ({ ok: false } & TargetFailure);

export interface TargetOptions {
  /** $smtp_mx_address_limit (0 = no limit). */
  addressLimit: number;
  ipv4: boolean;
  ipv6: boolean;
  /** Try IPv6 addresses first ($smtp_address_preference = ipv6). */
  preferIpv6: boolean;
  /** Our own host name: an MX pointing at it must not be used (mail loop). */
  myhostname: string;
}

function nameError(name: string, type: string, temp: boolean): TargetFailure {
  return {
    status: temp ? "deferred" : "bounced",
    dsn: temp ? "4.4.3" : "5.4.4",
    diagnostic: `Host or domain name not found. Name service error for name=${name} type=${type}: Host not found${temp ? ", try again" : ""}`,
  };
}

interface Addresses {
  addrs: string[];
  failure: TargetFailure | null;
}

async function hostAddresses(
  resolver: Resolver,
  host: string,
  opt: TargetOptions,
): Promise<Addresses> {
  // "localhost" is not asked of DNS (resolvers answer it from /etc/hosts, not from zones).
  if (host.toLowerCase() === "localhost")
    return { addrs: opt.ipv4 ? ["127.0.0.1"] : ["::1"], failure: null };
  const lookups: Array<Promise<DnsResult<string>>> = [];
  const types: string[] = [];
  if (opt.ipv4) {
    lookups.push(resolver.a(host));
    types.push("A");
  }
  if (opt.ipv6) {
    lookups.push(resolver.aaaa(host));
    types.push("AAAA");
  }
  if (opt.preferIpv6) {
    lookups.reverse();
    types.reverse();
  }
  const results = await Promise.all(lookups);
  const addrs: string[] = [];
  let temp = false;
  for (const r of results) {
    if (r.status === "ok") addrs.push(...r.records);
    else if (r.status === "tempfail") temp = true;
  }
  if (addrs.length > 0) return { addrs, failure: null };
  return { addrs, failure: nameError(host, types[0] ?? "A", temp) };
}

function sameHost(a: string, b: string): boolean {
  const x = a.toLowerCase().replace(/\.$/, "");
  const y = b.toLowerCase().replace(/\.$/, "");
  return x !== "" && x === y;
}

export async function resolveTargets(
  resolver: Resolver,
  nh: NextHop,
  opt: TargetOptions,
): Promise<TargetResult> {
  const limit = opt.addressLimit > 0 ? opt.addressLimit : Number.POSITIVE_INFINITY;
  if (nh.kind === "unix")
    return { ok: true, targets: [{ host: nh.path, addr: "", port: 0, unix: nh.path }] };
  if (nh.kind === "host") {
    if (isIpAddress(nh.host))
      return { ok: true, targets: [{ host: nh.host, addr: nh.host, port: nh.port }] };
    const a = await hostAddresses(resolver, nh.host, opt);
    if (a.failure !== null) return { ok: false, ...a.failure };
    return {
      ok: true,
      targets: a.addrs.slice(0, limit).map((addr) => ({ host: nh.host, addr, port: nh.port })),
    };
  }
  const mx = await resolver.mx(nh.domain);
  if (mx.status === "tempfail") return { ok: false, ...nameError(nh.domain, "MX", true) };
  if (mx.status === "nxdomain") return { ok: false, ...nameError(nh.domain, "MX", false) };
  if (mx.status === "ok" && mx.nullMx)
    return {
      ok: false,
      status: "bounced",
      dsn: "5.1.10",
      diagnostic: `Domain ${nh.domain} does not accept mail (nullMX)`,
    };
  if (mx.status === "nodata" || mx.records.length === 0) {
    // No MX: the domain itself is the implicit MX (RFC 5321 section 5.1).
    const a = await hostAddresses(resolver, nh.domain, opt);
    if (a.failure !== null) return { ok: false, ...a.failure };
    return {
      ok: true,
      targets: a.addrs.slice(0, limit).map((addr) => ({ host: nh.domain, addr, port: nh.port })),
    };
  }
  // MX hosts at or after our own preference would loop back to us (Postfix smtp_addr.c).
  let records = mx.records;
  const self = records.findIndex((r) => sameHost(r.exchange, opt.myhostname));
  if (self >= 0) {
    const pref = records[self].preference;
    records = records.filter((r) => r.preference < pref);
    if (records.length === 0)
      return {
        ok: false,
        status: "bounced",
        dsn: "5.4.6",
        diagnostic: `mail for ${nh.domain} loops back to myself`,
      };
  }
  const targets: Target[] = [];
  let failure: TargetFailure | null = null;
  let temp = false;
  for (const r of records) {
    if (targets.length >= limit) break;
    const a = await hostAddresses(resolver, r.exchange, opt);
    if (a.failure !== null) {
      failure = a.failure;
      if (a.failure.status === "deferred") temp = true;
      continue;
    }
    for (const addr of a.addrs) {
      if (targets.length >= limit) break;
      targets.push({ host: r.exchange.replace(/\.$/, ""), addr, port: nh.port });
    }
  }
  if (targets.length > 0) return { ok: true, targets };
  const f = failure ?? nameError(nh.domain, "MX", false);
  return temp ? { ok: false, ...f, status: "deferred", dsn: "4.4.3" } : { ok: false, ...f };
}
