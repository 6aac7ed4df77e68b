/**
 * The deliverability check's contract: what one check reports, what the whole report holds,
 * and what every check gets to work with. The API (GET /api/v1/dns-check), the CLI
 * (`posteix check --dns`) and the dashboard's domains page all read this shape.
 */
import type { Resolver } from "../dns/index.ts";

/** ok: as it should be; missing: no record; wrong: a record that does not do the job;
 * error: the lookup failed (SERVFAIL, timeout), so nothing can be said. */
export type CheckStatus = "ok" | "missing" | "wrong" | "error";

/** In the order they are printed. */
export const CHECK_KINDS = [
  "address",
  "ptr",
  "mx",
  "spf",
  "dkim",
  "dmarc",
  "mta-sts",
  "tls-rpt",
] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

export interface CheckResult {
  kind: CheckKind;
  /** The domain this is about; null for $myhostname's own records (address, PTR). */
  domain: string | null;
  /** The DNS name looked up, without the final dot ("_dmarc.example.com"). */
  name: string;
  status: CheckStatus;
  /** What DNS holds there, as published ("10 mail.example.com.", "v=spf1 mx -all"). */
  found: string[];
  /** One sentence: why it is OK, or what is missing or wrong. */
  detail: string;
  /** Zone-file lines to publish to make it OK; empty when OK or when the fix is not in DNS. */
  publish: string[];
}

/** Why posteix handles a domain: it accepts mail for it, or sends mail as it. */
export type DomainRole = "receive" | "send";

export interface DomainEntry {
  name: string;
  roles: DomainRole[];
  /** Where it came from: main.cf parameter names, or "command line". */
  sources: string[];
}

export interface DnsCheckReport {
  /** $myhostname. */
  hostname: string;
  /** The addresses mail leaves from: the ones given, else those $myhostname resolves to. */
  addresses: string[];
  domains: DomainEntry[];
  checks: CheckResult[];
  /** True when every check is OK. */
  ok: boolean;
  /** Things the check could not cover (domain lists held in tables, ...). */
  notes: string[];
  /** ISO 8601 time of the check. */
  checked_at: string;
}

/** What every check works with. */
export interface CheckContext {
  hostname: string;
  resolver: Resolver;
  /** Addresses mail leaves from (see DnsCheckReport.addresses). */
  addresses: string[];
  /** The A and AAAA records of $myhostname as found (may differ from `addresses`). */
  hostAddresses: string[];
  /** $dkim_key_directory. */
  dkimKeyDirectory: string;
  /** Fetch MTA-STS policy files over HTTPS when a domain announces one. */
  fetchPolicy: boolean;
  now: Date;
}
