/**
 * The resolver as mailauth wants it (SPF, DKIM, DMARC, ARC, MTA-STS): the shapes of node's
 * `dns.promises.resolve`, and errors with node's codes so that mailauth tells a missing record
 * (ENOTFOUND, ENODATA: none/neutral) from a temporary failure (anything else: temperror).
 */

import type { Resolver } from "./resolver.ts";
import type { DnsResult, DnsType } from "./types.ts";

/**
 * `any` because mailauth declares `Promise<string[][] | string[]>` while its MX lookups use
 * node's `{ exchange, priority }[]`; this shape is what it really reads.
 */
export type MailauthResolver = (name: string, rrtype: string) => Promise<any>;

export class DnsLookupError extends Error {
  readonly code: "ENOTFOUND" | "ENODATA" | "ETIMEOUT" | "ESERVFAIL" | "EREFUSED";
  readonly hostname: string;

  constructor(code: DnsLookupError["code"], syscall: string, hostname: string, detail?: string) {
    super(`${syscall} ${code} ${hostname}${detail ? ` (${detail})` : ""}`);
    this.name = "DnsLookupError";
    this.code = code;
    this.hostname = hostname;
  }
}

const SYSCALL: Partial<Record<DnsType, string>> = {
  A: "queryA",
  AAAA: "queryAaaa",
  MX: "queryMx",
  TXT: "queryTxt",
  PTR: "queryPtr",
  CNAME: "queryCname",
  NS: "queryNs",
  TLSA: "queryTlsa",
};

export function toMailauthResolver(resolver: Resolver): MailauthResolver {
  return async (name: string, rrtype: string) => {
    const type = rrtype.toUpperCase();
    switch (type) {
      case "A":
      case "AAAA":
      case "PTR":
      case "CNAME":
      case "NS":
        return check(await resolver.query(name, type), type, name);
      case "TXT":
        // node gives each record as its list of character-strings; mailauth joins them.
        return check(await resolver.query(name, "TXT"), type, name);
      case "MX":
        return check(await resolver.query(name, "MX"), type, name)
          .map((mx) => ({ exchange: mx.exchange, priority: mx.preference }))
          .sort((x, y) => x.priority - y.priority);
      case "TLSA":
        return check(await resolver.query(name, "TLSA"), type, name);
      default:
        throw new TypeError(`unsupported DNS record type ${rrtype}`);
    }
  };
}

function check<T>(r: DnsResult<T>, type: DnsType, name: string): T[] {
  const syscall = SYSCALL[type] ?? "query";
  switch (r.status) {
    case "ok":
      return r.records;
    case "nxdomain":
      throw new DnsLookupError("ENOTFOUND", syscall, name);
    case "nodata":
      throw new DnsLookupError("ENODATA", syscall, name);
    default: {
      const code =
        r.rcode === undefined ? "ETIMEOUT" : r.rcode === "REFUSED" ? "EREFUSED" : "ESERVFAIL";
      throw new DnsLookupError(code, syscall, name, r.error);
    }
  }
}
