/**
 * Pure functions between DNS wire packets and results: building a query (RFC 1035 section 4,
 * EDNS0 per RFC 6891, AD per RFC 6840 section 5.7), checking that an answer belongs to it, and
 * reading an answer into one of the four outcomes (negative TTLs per RFC 2308 section 5).
 */

import type { Answer, DecodedPacket } from "dns-packet";
import * as packet from "dns-packet";
import type { DnsResult, DnsType, RecordData } from "./types.ts";

/** EDNS0 UDP payload size: fits any path MTU without fragments (DNS flag day 2020). */
export const EDNS_UDP_SIZE = 1232;

/** The longest CNAME chain followed before the answer counts as broken. */
export const MAX_CNAME_CHAIN = 8;

const QUERY_FLAGS = packet.RECURSION_DESIRED | packet.AUTHENTIC_DATA;

/** Checks RFC 1035 section 2.3.4 limits; dns-packet would write a corrupt packet otherwise. */
export function isValidQueryName(name: string): boolean {
  if (name === "" || Buffer.byteLength(name) > 253) return false;
  for (const label of name.split(".")) {
    const n = Buffer.byteLength(label);
    if (n === 0 || n > 63) return false;
  }
  return true;
}

/** Lowercase, no trailing dot: the form names are compared and cached in. */
export function normalizeName(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith(".") ? n.slice(0, -1) : n;
}

export function buildQuery(id: number, name: string, type: DnsType, edns: boolean): Buffer {
  return packet.encode({
    type: "query",
    id,
    flags: QUERY_FLAGS,
    questions: [{ type, name, class: "IN" }],
    additionals: edns
      ? [{ type: "OPT", name: ".", udpPayloadSize: EDNS_UDP_SIZE, flags: 0 } as Answer]
      : [],
  });
}

/**
 * Decodes an answer and checks that it answers our query (id, QR bit, question), which with a
 * random id and source port is the defence against spoofed answers (RFC 5452 section 9.1).
 * Returns null for anything else.
 */
export function decodeAnswer(
  wire: Buffer,
  id: number,
  name: string,
  type: DnsType,
): DecodedPacket | null {
  if (wire.length < 12 || wire.readUInt16BE(0) !== id) return null;
  let p: DecodedPacket;
  try {
    p = packet.decode(wire);
  } catch {
    return null;
  }
  if (!p.flag_qr) return null;
  const q = p.questions?.[0];
  if (p.questions?.length !== 1 || q === undefined) return null;
  if (q.type !== type || (q.class ?? "IN") !== "IN") return null;
  if (normalizeName(q.name) !== name) return null;
  return p;
}

/** The rcode of a decoded packet ("NOERROR", "NXDOMAIN", "SERVFAIL", ...). */
export function rcodeOf(p: DecodedPacket): string {
  return (p as DecodedPacket & { rcode?: string }).rcode ?? "NOERROR";
}

export type Interpretation<T> =
  | { kind: "final"; result: DnsResult<T>; ttl: number }
  /** The server gave a CNAME chain without the records at its end: ask for `target`. */
  | { kind: "chase"; target: string; ttl: number; ad: boolean };

export interface TtlPolicy {
  maxTtl: number;
  defaultNegativeTtl: number;
}

/** Reads a NOERROR or NXDOMAIN answer for `name`/`type` (name normalized). */
export function interpretAnswer<T extends DnsType>(
  p: DecodedPacket,
  name: string,
  type: T,
  policy: TtlPolicy,
): Interpretation<RecordData[T]> {
  const answers = p.answers ?? [];
  const ad = p.flag_ad === true;
  let current = name;
  let ttl = policy.maxTtl;
  const records: RecordData[T][] = [];
  // Follow the chain from the question name (RFC 1034 section 3.6.2); bounded against loops.
  for (let hop = 0; hop <= MAX_CNAME_CHAIN; hop++) {
    let cname: string | undefined;
    for (const rr of answers) {
      if (normalizeName(rr.name) !== current) continue;
      if (rr.type === type) {
        records.push(convertRecord(type, rr));
        ttl = Math.min(ttl, (rr as { ttl?: number }).ttl ?? 0);
      } else if (rr.type === "CNAME" && cname === undefined) {
        cname = normalizeName(rr.data);
        ttl = Math.min(ttl, rr.ttl ?? 0);
      }
    }
    if (records.length > 0 || cname === undefined || type === "CNAME") break;
    if (hop === MAX_CNAME_CHAIN) {
      return {
        kind: "final",
        result: { status: "tempfail", records: [], ad, error: `CNAME chain too long for ${name}` },
        ttl: 0,
      };
    }
    current = cname;
  }
  if (records.length > 0) {
    return { kind: "final", result: { status: "ok", records, ad }, ttl };
  }
  const soa = (p.authorities ?? []).find((rr) => rr.type === "SOA");
  const negativeTtl =
    soa?.type === "SOA"
      ? Math.min(soa.ttl ?? 0, soa.data.minimum ?? 0)
      : Math.min(policy.defaultNegativeTtl, policy.maxTtl);
  if (rcodeOf(p) === "NXDOMAIN") {
    return {
      kind: "final",
      result: { status: "nxdomain", records: [], ad },
      ttl: Math.min(ttl, negativeTtl),
    };
  }
  // A chain with neither the records nor an SOA saying "no data here" came from a server that
  // did not chase it (an authoritative server for only part of the chain): ask for the end.
  if (current !== name && soa === undefined) {
    return { kind: "chase", target: current, ttl, ad };
  }
  return {
    kind: "final",
    result: { status: "nodata", records: [], ad },
    ttl: Math.min(ttl, negativeTtl),
  };
}

function convertRecord<T extends DnsType>(type: T, rr: Answer): RecordData[T] {
  const data = (rr as { data: unknown }).data;
  switch (type) {
    case "A":
    case "AAAA":
    case "PTR":
    case "CNAME":
    case "NS":
      return data as RecordData[T];
    case "MX": {
      const mx = data as { preference?: number; exchange: string };
      return { exchange: mx.exchange, preference: mx.preference ?? 0 } as RecordData[T];
    }
    case "TXT": {
      const chunks = Array.isArray(data) ? data : [data];
      return chunks.map((c) =>
        typeof c === "string" ? c : Buffer.from(c).toString("utf8"),
      ) as RecordData[T];
    }
    case "TLSA": {
      const t = data as {
        usage: number;
        selector: number;
        matchingType: number;
        certificate: Buffer;
      };
      return {
        usage: t.usage,
        selector: t.selector,
        matchingType: t.matchingType,
        data: new Uint8Array(t.certificate),
      } as RecordData[T];
    }
    case "SOA": {
      const s = data as packet.SoaData;
      return {
        mname: s.mname,
        rname: s.rname,
        serial: s.serial ?? 0,
        refresh: s.refresh ?? 0,
        retry: s.retry ?? 0,
        expire: s.expire ?? 0,
        minimum: s.minimum ?? 0,
      } as RecordData[T];
    }
    case "SRV": {
      const s = data as packet.SrvData;
      return {
        priority: s.priority ?? 0,
        weight: s.weight ?? 0,
        port: s.port,
        target: s.target,
      } as RecordData[T];
    }
  }
  return data as RecordData[T];
}
