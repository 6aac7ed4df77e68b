/**
 * dnscheck -- will other mail systems accept our mail, and find their way to us? Looks up, for
 * every domain posteix receives or sends mail for, the DNS records that decide it, and says of
 * each OK, MISSING, WRONG (or ERROR when the lookup failed), with the exact zone-file record to
 * publish:
 *
 *   this host   A/AAAA of $myhostname; PTR of each address mail leaves from, naming $myhostname
 *               and forward-confirmed (RFC 8601 section 3)
 *   receiving   MX (RFC 5321 section 5.1, null MX RFC 7505), MTA-STS (RFC 8461), TLS-RPT
 *               (RFC 8460)
 *   sending     SPF (RFC 7208, evaluated with mailauth for each address), DKIM (RFC 6376: the
 *               selector record against our key file), DMARC (RFC 7489)
 *
 * Domains: the given ones, else $mydestination (without localhost forms),
 * $virtual_mailbox_domains, $virtual_alias_domains, $relay_domains (receiving only) and
 * $myorigin (sending only). Receiving domains get MX, MTA-STS and TLS-RPT checks, sending
 * domains SPF, DKIM and DMARC; MTA-STS and TLS-RPT are not asked of $myhostname itself unless it
 * is named. Addresses: the given ones, else those $myhostname resolves to.
 *
 * Every lookup goes through our resolver (dns_servers, dns_timeout), a fresh one per check so
 * that a record just published is seen now rather than when a cached answer expires. The only
 * request outside DNS is the MTA-STS policy fetch (HTTPS to mta-sts.DOMAIN), which can be
 * switched off.
 *
 * main.cf: myhostname, mydestination, virtual_mailbox_domains, virtual_alias_domains,
 * relay_domains, myorigin, dkim_key_directory, dns_servers, dns_timeout.
 *
 * Used by `posteix check --dns` (master/commands/check-dns.ts), GET /api/v1/dns-check and the
 * dashboard's domains page.
 */
import { isIP } from "node:net";
import type { Config } from "../config/types.ts";
import { createResolver, type Resolver } from "../dns/index.ts";
import { checkDkim } from "./dkim.ts";
import { checkDmarc } from "./dmarc.ts";
import { configuredDomains, givenDomains } from "./domains.ts";
import { checkAddress, checkPtr, lookupAddresses } from "./host.ts";
import { checkMtaSts } from "./mta-sts.ts";
import { checkMx } from "./mx.ts";
import { checkSpf } from "./spf.ts";
import { checkTlsRpt } from "./tls-rpt.ts";
import {
  CHECK_KINDS,
  type CheckContext,
  type CheckResult,
  type DnsCheckReport,
  type DomainEntry,
} from "./types.ts";
import { bare } from "./zone.ts";

export { configuredDomains, domainName, givenDomains } from "./domains.ts";
export { formatReport, STATUS_LABEL } from "./format.ts";
export { parseStsPolicy, stsMxMatches } from "./mta-sts.ts";
export type {
  CheckKind,
  CheckResult,
  CheckStatus,
  DnsCheckReport,
  DomainEntry,
  DomainRole,
} from "./types.ts";
export { CHECK_KINDS } from "./types.ts";

/** Bad input from the operator (a domain or address that is not one). */
export class DnsCheckInputError extends Error {
  override readonly name = "DnsCheckInputError";
}

export interface DnsCheckOptions {
  /** Domains to check; empty or absent: those of main.cf. */
  domains?: readonly string[];
  /** Addresses mail leaves from; empty or absent: those $myhostname resolves to. */
  addresses?: readonly string[];
  /** Fetch MTA-STS policy files over HTTPS (default true). */
  fetchPolicy?: boolean;
  /** Default: a fresh resolver on $dns_servers. */
  resolver?: Resolver;
  /** Where given domains came from, for DomainEntry.sources (default "command line"). */
  source?: string;
  now?: Date;
}

export async function checkDeliverability(
  cfg: Config,
  opts: DnsCheckOptions = {},
): Promise<DnsCheckReport> {
  const now = opts.now ?? new Date();
  const hostname = bare(cfg.str("myhostname"));
  const given = (opts.domains ?? []).length > 0;
  let domains: DomainEntry[];
  let notes: string[] = [];
  if (given) {
    const g = givenDomains(opts.domains ?? [], opts.source);
    if (g.bad.length > 0) throw new DnsCheckInputError(`not a domain name: ${g.bad.join(", ")}`);
    domains = g.domains;
  } else {
    ({ domains, notes } = configuredDomains(cfg));
  }
  const badAddress = (opts.addresses ?? []).filter((a) => isIP(a) === 0);
  if (badAddress.length > 0) {
    throw new DnsCheckInputError(`not an IP address: ${badAddress.join(", ")}`);
  }
  const resolver =
    opts.resolver ??
    createResolver({ servers: cfg.list("dns_servers"), timeoutMs: cfg.time("dns_timeout") * 1000 });

  const host = await lookupAddresses(resolver, hostname);
  const addresses = [...new Set(opts.addresses ?? [])];
  const ctx: CheckContext = {
    hostname,
    resolver,
    addresses: addresses.length > 0 ? addresses : host.addresses,
    hostAddresses: host.addresses,
    dkimKeyDirectory: cfg.path("dkim_key_directory"),
    fetchPolicy: opts.fetchPolicy ?? true,
    now,
  };
  if (ctx.addresses.length === 0) {
    notes.push(`no address to check PTR records for: ${hostname} has none; give one`);
  }

  const perHost: Promise<CheckResult | CheckResult[]>[] = [
    Promise.resolve(checkAddress(ctx, host)),
    ...ctx.addresses.map((ip) => checkPtr(ctx, ip, host)),
  ];
  const perDomain = domains.map((d) => {
    const receives = d.roles.includes("receive");
    const sends = d.roles.includes("send");
    // MTA-STS and TLS-RPT protect mail to a mail domain, rarely wanted for the host's own name.
    const mailDomain = receives && (given || d.name !== hostname);
    return Promise.all([
      receives ? checkMx(ctx, d.name) : [],
      sends ? checkSpf(ctx, d.name) : [],
      sends ? checkDkim(ctx, d.name) : [],
      sends ? checkDmarc(ctx, d.name) : [],
      mailDomain ? checkMtaSts(ctx, d.name) : [],
      mailDomain ? checkTlsRpt(ctx, d.name) : [],
    ]);
  });
  const hostChecks = (await Promise.all(perHost)).flat();
  const domainChecks = (await Promise.all(perDomain)).flat(2);
  const order = (c: CheckResult) => CHECK_KINDS.indexOf(c.kind);
  const checks = [
    ...hostChecks,
    ...domainChecks.sort((x, y) => {
      const dx = domains.findIndex((d) => d.name === x.domain);
      const dy = domains.findIndex((d) => d.name === y.domain);
      return dx - dy || order(x) - order(y);
    }),
  ];
  return {
    hostname,
    addresses: ctx.addresses,
    domains,
    checks,
    ok: checks.every((c) => c.status === "ok"),
    notes,
    checked_at: now.toISOString(),
  };
}
