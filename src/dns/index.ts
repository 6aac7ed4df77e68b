/**
 * dns - posteix's stub resolver
 *
 * Sends questions to recursive servers over UDP and, when an answer comes back truncated, again
 * over TCP (RFC 1035, RFC 7766); advertises a 1232-byte UDP size with EDNS0 (RFC 6891) and sets
 * the AD bit so that a validating server reports DNSSEC-validated answers (RFC 6840 section 5.7),
 * which DANE (TLSA, RFC 7672) needs. Results keep NXDOMAIN, NODATA, temporary failure and success
 * apart; MX results flag the null MX of RFC 7505.
 *
 * One process-wide cache keeps answers for their TTL and negative answers for the SOA minimum
 * (RFC 2308); identical concurrent questions are asked once; a cap bounds the queries in flight.
 * Query ids come from the CSPRNG and each query has its own source port (RFC 5452).
 *
 * main.cf: dns_servers (servers as "ip", "ip:port" or "[ipv6]:port"; empty: the nameserver lines
 * of /etc/resolv.conf).
 *
 * Used by: smtp delivery (MX, A, AAAA, TLSA), smtpd restrictions (PTR, A), and mailauth (SPF,
 * DKIM, DMARC) through mailauthResolver().
 */

import { type MailauthResolver, toMailauthResolver } from "./mailauth.ts";
import { Resolver } from "./resolver.ts";
import type { ResolverOptions } from "./types.ts";

export { DnsLookupError, type MailauthResolver } from "./mailauth.ts";
export {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_TRIES,
  Resolver,
} from "./resolver.ts";
export { reverseName } from "./reverse.ts";
export { formatServer, parseResolvConf, parseServer } from "./servers.ts";
export type {
  DnsResult,
  DnsServer,
  DnsStatus,
  DnsType,
  MxRecord,
  MxResult,
  RecordData,
  ResolverOptions,
  SoaRecord,
  SrvRecord,
  TlsaRecord,
} from "./types.ts";

export function createResolver(options: ResolverOptions = {}): Resolver {
  return new Resolver(options);
}

let shared: Resolver | undefined;

/**
 * The process-wide resolver (one cache in one place). Made from resolv.conf on first use unless
 * the master installed one built from main.cf with setDefaultResolver().
 */
export function defaultResolver(): Resolver {
  shared ??= new Resolver();
  return shared;
}

export function setDefaultResolver(resolver: Resolver): void {
  shared = resolver;
}

/**
 * `resolver` as mailauth's `resolver` option wants it: node's `dns.promises.resolve` shapes and
 * error codes (ENOTFOUND, ENODATA, ETIMEOUT, ESERVFAIL, EREFUSED).
 */
export function mailauthResolver(resolver: Resolver = defaultResolver()): MailauthResolver {
  return toMailauthResolver(resolver);
}
