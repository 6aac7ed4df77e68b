/**
 * MX (RFC 5321 section 5.1): some MX of the domain must be this host, by name ($myhostname) or
 * by address. Without MX records, senders use the domain's own address ("implicit MX"), which
 * is accepted when that address is ours. A null MX (RFC 7505) says the domain takes no mail.
 */
import { lookupAddresses, sameAddress } from "./host.ts";
import type { CheckContext, CheckResult } from "./types.ts";
import { bare, fqdn, lookupError, result } from "./zone.ts";

export async function checkMx(ctx: CheckContext, domain: string): Promise<CheckResult> {
  const host = bare(ctx.hostname);
  const ours = [...ctx.addresses, ...ctx.hostAddresses];
  const isOurs = (addrs: string[]) => addrs.some((a) => ours.some((o) => sameAddress(a, o)));
  const publish = [`${fqdn(domain)} IN MX 10 ${fqdn(host)}`];
  const r = await ctx.resolver.mx(domain);
  const sorted = [...r.records].sort(
    (x, y) => x.preference - y.preference || x.exchange.localeCompare(y.exchange),
  );
  const found = sorted.map((mx) => `${mx.preference} ${fqdn(mx.exchange || ".")}`);
  const base = { kind: "mx" as const, domain, name: domain, found };
  if (r.status === "tempfail") {
    return result({ ...base, status: "error", detail: lookupError(domain, "MX", r.error) });
  }
  if (r.nullMx) {
    return result({
      ...base,
      status: "wrong",
      detail: `${domain} publishes a null MX (RFC 7505): it refuses all mail`,
      publish,
    });
  }
  if (r.status !== "ok" || r.records.length === 0) {
    if (r.status === "nodata") {
      const own = await lookupAddresses(ctx.resolver, domain);
      if (own.addresses.length > 0 && isOurs(own.addresses)) {
        return result({
          ...base,
          status: "ok",
          detail: `no MX record, so mail goes to ${domain}'s own address (implicit MX), which is this host`,
        });
      }
    }
    return result({
      ...base,
      status: "missing",
      detail:
        r.status === "nxdomain"
          ? `${domain} does not exist in DNS`
          : `${domain} has no MX record pointing at ${host}`,
      publish,
    });
  }
  for (const mx of sorted) {
    if (bare(mx.exchange) === host) {
      return result({ ...base, status: "ok", detail: `MX ${host} is this host` });
    }
  }
  for (const mx of sorted) {
    const addrs = await lookupAddresses(ctx.resolver, mx.exchange);
    if (isOurs(addrs.addresses)) {
      return result({
        ...base,
        status: "ok",
        detail: `MX ${bare(mx.exchange)} resolves to this host's address`,
      });
    }
  }
  return result({
    ...base,
    status: "wrong",
    detail: `no MX of ${domain} is ${host} or resolves to ${ours.length > 0 ? ours.join(", ") : "this host's address"}`,
    publish,
  });
}
