/**
 * The resolver's contract: what other components see of a DNS lookup.
 *
 * Four outcomes are kept apart because mail routing depends on them: "nxdomain" (the name does
 * not exist: bounce), "nodata" (the name exists without records of that type: e.g. fall back from
 * MX to A, RFC 5321 section 5.1), "tempfail" (SERVFAIL, REFUSED, timeouts: defer, never pass) and
 * "ok".
 */

export type DnsStatus = "ok" | "nxdomain" | "nodata" | "tempfail";

/** Record types the resolver asks for. */
export type DnsType = "A" | "AAAA" | "MX" | "TXT" | "PTR" | "CNAME" | "TLSA" | "SOA" | "NS" | "SRV";

export interface DnsResult<T> {
  status: DnsStatus;
  /** Records of the asked type for the final name of any CNAME chain; empty unless "ok". */
  records: T[];
  /** The server set the AD bit (RFC 6840 section 5.7): it validated the answer with DNSSEC. */
  ad: boolean;
  /** Why a lookup failed, for logs ("timeout", "SERVFAIL from 10.0.0.1:53", ...). */
  error?: string;
  /** The DNS rcode of the answer that gave a tempfail ("SERVFAIL", "REFUSED"); unset on timeout. */
  rcode?: string;
}

export interface MxRecord {
  exchange: string;
  preference: number;
}

export interface MxResult extends DnsResult<MxRecord> {
  /** RFC 7505 null MX: the domain publishes a single MX "." and accepts no mail. */
  nullMx: boolean;
}

export interface TlsaRecord {
  /** Certificate usage (RFC 6698 section 2.1.1): 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE. */
  usage: number;
  selector: number;
  matchingType: number;
  /** Certificate association data. */
  data: Uint8Array;
}

export interface SoaRecord {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/** Data of one resource record as the resolver keeps it, by type. */
export interface RecordData {
  A: string;
  AAAA: string;
  MX: MxRecord;
  /** Each TXT record as its character-strings (RFC 1035 section 3.3.14), UTF-8 decoded. */
  TXT: string[];
  PTR: string;
  CNAME: string;
  TLSA: TlsaRecord;
  SOA: SoaRecord;
  NS: string;
  SRV: SrvRecord;
}

export interface ResolverOptions {
  /**
   * Servers as "ip", "ip:port" or "[ipv6]:port" (main.cf dns_servers). Empty or unset: the
   * nameserver lines of resolv.conf.
   */
  servers?: string[];
  /** Time to wait for one answer from one server (default 2,000 ms). */
  timeoutMs?: number;
  /** Rounds over the server list (default 2), as resolv.conf "attempts". */
  tries?: number;
  /** Queries on the wire at once (default 200); more wait in a FIFO. */
  maxInFlight?: number;
  /** Queries allowed to wait for a slot (default 50,000); beyond that a lookup is a tempfail. */
  maxQueued?: number;
  /** Cached answers kept (default 10,000), least recently used evicted first. */
  cacheSize?: number;
  /** Upper bound on any cache lifetime in seconds (default 86,400). */
  maxTtl?: number;
  /** Lifetime of a negative answer without an SOA record, in seconds (default 60). */
  defaultNegativeTtl?: number;
  /** Where to read nameservers when `servers` is empty (default /etc/resolv.conf). */
  resolvConfPath?: string;
}

/** One nameserver endpoint. */
export interface DnsServer {
  address: string;
  port: number;
  family: 4 | 6;
}
