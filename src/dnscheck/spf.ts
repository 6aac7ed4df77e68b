/**
 * SPF (RFC 7208): exactly one "v=spf1" TXT record at the domain (two are a permerror, section
 * 4.5), and it must authorise every address mail leaves from. That is evaluated the way a
 * receiver does, with mailauth's SPF implementation resolving through our DNS module, for
 * MAIL FROM:<postmaster@DOMAIN> from each address with EHLO $myhostname.
 */
import { isIPv6 } from "node:net";
import { mailauthResolver } from "../dns/index.ts";
import { sameAddress } from "./host.ts";
import type { CheckContext, CheckResult } from "./types.ts";
import { bare, lookupError, result, txtRecord, withVersion } from "./zone.ts";

const SPF_VERSION = /^v=spf1(\s|$)/i;

/** The mechanism that names this host: a:$myhostname, or the addresses when they are not its. */
function ourMechanisms(ctx: CheckContext): string {
  const hostCovers = ctx.addresses.every((ip) => ctx.hostAddresses.some((h) => sameAddress(h, ip)));
  if (hostCovers) return `a:${bare(ctx.hostname)}`;
  return ctx.addresses.map((ip) => (isIPv6(ip) ? `ip6:${ip}` : `ip4:${ip}`)).join(" ");
}

/** `record` with our mechanism added right after the version, where it is evaluated first. */
export function authorise(record: string, mechanisms: string): string {
  const rest = record.trim().replace(SPF_VERSION, "").trim();
  return rest === "" ? `v=spf1 ${mechanisms} -all` : `v=spf1 ${mechanisms} ${rest}`;
}

export async function checkSpf(ctx: CheckContext, domain: string): Promise<CheckResult> {
  const r = await ctx.resolver.txt(domain);
  const records = withVersion(r.records, SPF_VERSION);
  const base = { kind: "spf" as const, domain, name: domain, found: records };
  const ours = ourMechanisms(ctx);
  if (r.status === "tempfail") {
    return result({ ...base, status: "error", detail: lookupError(domain, "TXT", r.error) });
  }
  if (records.length === 0) {
    return result({
      ...base,
      status: "missing",
      detail: `${domain} has no SPF record`,
      publish: [txtRecord(domain, `v=spf1 ${ours} -all`)],
    });
  }
  if (records.length > 1) {
    return result({
      ...base,
      status: "wrong",
      detail: `${domain} has ${records.length} SPF records: receivers treat that as an error (RFC 7208 section 4.5); keep one`,
      publish: [txtRecord(domain, authorise(records[0], ours))],
    });
  }
  if (ctx.addresses.length === 0) {
    return result({
      ...base,
      status: "error",
      detail: "cannot tell whether it authorises this host: no address (give --address)",
    });
  }
  const { spf } = await import("mailauth/lib/spf");
  const resolver = mailauthResolver(ctx.resolver);
  const host = bare(ctx.hostname);
  const failures: string[] = [];
  let temporary = false;
  for (const ip of ctx.addresses) {
    const res = await spf({ sender: `postmaster@${domain}`, ip, helo: host, mta: host, resolver });
    const code = res.status.result;
    if (code === "pass") continue;
    if (code === "temperror") temporary = true;
    // A permerror's comment says what is broken (syntax, too many lookups).
    const why = code === "permerror" ? res.status.comment?.replace(/^[^:]*:\s*/, "") : undefined;
    failures.push(`${code} for ${ip}${why ? ` (${why})` : ""}`);
  }
  if (failures.length === 0) {
    return result({
      ...base,
      status: "ok",
      detail: `authorises ${ctx.addresses.join(", ")}`,
    });
  }
  if (temporary) {
    return result({
      ...base,
      status: "error",
      detail: `cannot evaluate it: ${failures.join(", ")} (a DNS lookup it needs failed)`,
    });
  }
  return result({
    ...base,
    status: "wrong",
    detail: `does not authorise this host: ${failures.join(", ")}`,
    publish: [txtRecord(domain, authorise(records[0], ours))],
  });
}
