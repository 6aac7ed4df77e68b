/**
 * A real DNS server on 127.0.0.1 for tests: UDP and TCP on the same random port, authoritative
 * answers from an in-memory zone that tests change while it runs.
 *
 *   const dns = await startDnsServer({ "example.test": { MX: [{ preference: 10,
 *     exchange: "mx1.example.test" }], TXT: ["v=spf1 -all"] }, "mx1.example.test": { A:
 *     ["127.0.0.1"] } });
 *   const resolver = createResolver({ servers: [dns.server] });
 *   ...
 *   await dns.stop();
 *
 * A name with no records and no names below it is NXDOMAIN; otherwise a question for a type it
 * lacks is NODATA (NOERROR, empty answer, SOA in the authority section, RFC 2308). CNAMEs are
 * followed inside the zone (unless followCnames is false). Per name, setMode() makes the server
 * truncate over UDP (TC bit, to test TCP fallback), answer SERVFAIL or REFUSED, or never answer
 * (to test timeouts). Answers larger than the client's UDP size (512, or its EDNS0 size) are
 * truncated as a real server's are.
 */

import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";
import type { Answer, DecodedPacket, Packet } from "dns-packet";
import * as packet from "dns-packet";

export interface RecordSet {
  A?: string[];
  AAAA?: string[];
  MX?: Array<{ preference: number; exchange: string }>;
  /** A string is one record (split into 255-byte character-strings); an array gives the strings. */
  TXT?: Array<string | string[]>;
  PTR?: string[];
  CNAME?: string;
  NS?: string[];
  /** `data` as bytes or as hex. */
  TLSA?: Array<{
    usage: number;
    selector: number;
    matchingType: number;
    data: Uint8Array | string;
  }>;
  SOA?: {
    mname: string;
    rname: string;
    serial?: number;
    refresh?: number;
    retry?: number;
    expire?: number;
    minimum?: number;
  };
  /** TTL of every record of this name (default 300 s). */
  TTL?: number;
}

export type ZoneRecords = Record<string, RecordSet>;
export type RecordType = Exclude<keyof RecordSet, "TTL">;
export type NameMode = "normal" | "truncate" | "servfail" | "refused" | "drop";

export interface DnsServerOptions {
  /** Names answered with TC set and no records over UDP. */
  truncate?: string[];
  servfail?: string[];
  /** Names never answered, over UDP or TCP. */
  drop?: string[];
  /**
   * Follow CNAMEs inside the zone (default true). false answers a CNAME alone, without an SOA,
   * as an authority for only the start of a chain does.
   */
  followCnames?: boolean;
  /** TTL and minimum of the SOA made up for negative answers when the zone has none (60). */
  negativeTtl?: number;
}

export interface QueryLogEntry {
  name: string;
  type: string;
  transport: "udp" | "tcp";
  /** The query carried the AD or DO bit (RFC 6840 section 5.7). */
  ad: boolean;
  /** The query carried an EDNS0 OPT record. */
  edns: boolean;
}

export interface TestDnsServer {
  port: number;
  address: "127.0.0.1";
  /** "127.0.0.1:PORT", for dns_servers / createResolver({ servers }). */
  server: string;
  /** Replaces the records of one type (or the TTL) of a name. */
  set<K extends keyof RecordSet>(name: string, type: K, records: RecordSet[K]): void;
  /** Removes one type of a name, or the whole name. */
  remove(name: string, type?: keyof RecordSet): void;
  setMode(name: string, mode: NameMode): void;
  /** Sets the AD bit in answers to queries that ask for it (AD or DO bit set). */
  setAuthenticated(ad: boolean): void;
  /** Every question received, oldest first (the last MAX_LOGGED_QUERIES). */
  queries: QueryLogEntry[];
  stop(): Promise<void>;
}

const DEFAULT_TTL = 300;
const MAX_NAMES = 100_000;
const MAX_LOGGED_QUERIES = 100_000;
const MAX_CNAME_HOPS = 8;
const MAX_TCP_CONNECTIONS = 64;
const TCP_IDLE_MS = 10_000;
const BIND_ATTEMPTS = 20;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

function norm(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith(".") ? n.slice(0, -1) : n;
}

export async function startDnsServer(
  zone: ZoneRecords = {},
  options: DnsServerOptions = {},
): Promise<TestDnsServer> {
  const names = new Map<string, RecordSet>();
  const modes = new Map<string, NameMode>();
  const queries: QueryLogEntry[] = [];
  let authenticated = false;
  const negativeTtl = options.negativeTtl ?? 60;

  for (const [name, rs] of Object.entries(zone)) names.set(norm(name), { ...rs });
  for (const n of options.truncate ?? []) modes.set(norm(n), "truncate");
  for (const n of options.servfail ?? []) modes.set(norm(n), "servfail");
  for (const n of options.drop ?? []) modes.set(norm(n), "drop");

  const exists = (name: string): boolean => {
    if (names.has(name)) return true;
    const suffix = `.${name}`;
    for (const n of names.keys()) if (n.endsWith(suffix)) return true;
    return false;
  };

  const soaFor = (name: string): Answer => {
    const labels = name.split(".");
    for (let i = 0; i < labels.length; i++) {
      const owner = labels.slice(i).join(".");
      const soa = names.get(owner)?.SOA;
      if (soa !== undefined) {
        return {
          type: "SOA",
          name: owner,
          ttl: names.get(owner)?.TTL ?? DEFAULT_TTL,
          data: {
            mname: soa.mname,
            rname: soa.rname,
            serial: soa.serial ?? 1,
            refresh: soa.refresh ?? 3600,
            retry: soa.retry ?? 600,
            expire: soa.expire ?? 86400,
            minimum: soa.minimum ?? negativeTtl,
          },
        };
      }
    }
    const owner = labels.slice(-2).join(".");
    return {
      type: "SOA",
      name: owner,
      ttl: negativeTtl,
      data: {
        mname: `ns.${owner}`,
        rname: `hostmaster.${owner}`,
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: negativeTtl,
      },
    };
  };

  const answer = (query: Buffer, transport: "udp" | "tcp"): Buffer | null => {
    let q: DecodedPacket;
    try {
      q = packet.decode(query);
    } catch {
      return null;
    }
    if (q.flag_qr) return null;
    const question = q.questions?.[0];
    const opt = (q.additionals ?? []).find((rr) => rr.type === "OPT") as
      | { udpPayloadSize: number; flags: number }
      | undefined;
    const reply: Packet & { flags: number } = {
      type: "response",
      id: q.id,
      flags:
        packet.AUTHORITATIVE_ANSWER |
        packet.RECURSION_AVAILABLE |
        (q.flag_rd ? packet.RECURSION_DESIRED : 0),
      questions: question ? [question] : [],
      answers: [],
      authorities: [],
      additionals: opt
        ? [{ type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0 } as Answer]
        : [],
    };
    const encode = (): Buffer => packet.encode(reply);
    if (question === undefined || q.questions?.length !== 1) {
      reply.flags |= RCODE.FORMERR;
      return encode();
    }
    const qname = norm(question.name);
    const qtype = question.type;
    const wantsAd = q.flag_ad || (opt !== undefined && (opt.flags & packet.DNSSEC_OK) !== 0);
    if (queries.length >= MAX_LOGGED_QUERIES) queries.splice(0, MAX_LOGGED_QUERIES / 10);
    queries.push({ name: qname, type: qtype, transport, ad: wantsAd, edns: opt !== undefined });

    const mode = modes.get(qname) ?? "normal";
    if (mode === "drop") return null;
    if (mode === "servfail" || mode === "refused") {
      reply.flags |= mode === "servfail" ? RCODE.SERVFAIL : RCODE.REFUSED;
      return encode();
    }
    if (mode === "truncate" && transport === "udp") {
      reply.flags |= packet.TRUNCATED_RESPONSE;
      return encode();
    }

    let current = qname;
    let found = false;
    for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
      const rs = names.get(current);
      const ttl = rs?.TTL ?? DEFAULT_TTL;
      const rrs = rs === undefined ? [] : toAnswers(current, qtype, rs, ttl);
      if (rrs.length > 0) {
        reply.answers?.push(...rrs);
        found = true;
        break;
      }
      if (rs?.CNAME === undefined || qtype === "CNAME") break;
      reply.answers?.push({ type: "CNAME", name: current, ttl, data: rs.CNAME });
      current = norm(rs.CNAME);
      if (options.followCnames === false) {
        found = true;
        break;
      }
    }
    if (!found) {
      if (!exists(current)) reply.flags |= RCODE.NXDOMAIN;
      reply.authorities?.push(soaFor(current));
    }
    if (authenticated && wantsAd) reply.flags |= packet.AUTHENTIC_DATA;

    let wire: Buffer;
    try {
      wire = encode();
    } catch {
      return packet.encode({
        ...reply,
        flags: (reply.flags & ~0xf) | RCODE.SERVFAIL,
        answers: [],
        authorities: [],
      });
    }
    const udpLimit = opt ? Math.max(512, opt.udpPayloadSize) : 512;
    if (transport === "udp" && wire.length > udpLimit) {
      return packet.encode({
        ...reply,
        flags: reply.flags | packet.TRUNCATED_RESPONSE,
        answers: [],
        authorities: [],
      });
    }
    return wire;
  };

  const { udp, tcp, port } = await bindBoth();
  const connections = new Set<Socket>();
  tcp.maxConnections = MAX_TCP_CONNECTIONS;

  udp.on("message", (msg, rinfo) => {
    const out = answer(msg, "udp");
    if (out !== null) udp.send(out, rinfo.port, rinfo.address);
  });

  tcp.on("connection", (socket) => {
    connections.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    let buffered: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      // Bounded: a message is at most 2 + 65535 bytes, and each is consumed when complete.
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) break;
        const msg = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        const out = answer(Buffer.from(msg), "tcp");
        if (out !== null) {
          const prefix = Buffer.allocUnsafe(2);
          prefix.writeUInt16BE(out.length, 0);
          socket.write(Buffer.concat([prefix, out]));
        }
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => connections.delete(socket));
  });

  let stopped: Promise<void> | undefined;
  return {
    port,
    address: "127.0.0.1",
    server: `127.0.0.1:${port}`,
    queries,
    set(name, type, records) {
      const n = norm(name);
      let rs = names.get(n);
      if (rs === undefined) {
        if (names.size >= MAX_NAMES) throw new Error("test DNS zone full");
        rs = {};
        names.set(n, rs);
      }
      rs[type] = records;
    },
    remove(name, type) {
      const n = norm(name);
      if (type === undefined) {
        names.delete(n);
        return;
      }
      const rs = names.get(n);
      if (rs === undefined) return;
      delete rs[type];
      if (Object.keys(rs).every((k) => k === "TTL")) names.delete(n);
    },
    setMode(name, mode) {
      if (mode === "normal") modes.delete(norm(name));
      else modes.set(norm(name), mode);
    },
    setAuthenticated(ad) {
      authenticated = ad;
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        for (const s of connections) s.destroy();
        let open = 2;
        const done = (): void => {
          open--;
          if (open === 0) resolve();
        };
        udp.close(done);
        tcp.close(() => done());
      });
      return stopped;
    },
  };
}

function toAnswers(name: string, type: string, rs: RecordSet, ttl: number): Answer[] {
  switch (type) {
    case "A":
    case "AAAA":
    case "PTR":
    case "NS":
      return (rs[type] ?? []).map((data) => ({ type, name, ttl, data }));
    case "CNAME":
      return rs.CNAME === undefined ? [] : [{ type: "CNAME", name, ttl, data: rs.CNAME }];
    case "MX":
      return (rs.MX ?? []).map((mx) => ({
        type: "MX",
        name,
        ttl,
        data: { preference: mx.preference, exchange: mx.exchange },
      }));
    case "TXT":
      return (rs.TXT ?? []).map((txt) => ({ type: "TXT", name, ttl, data: txtStrings(txt) }));
    case "TLSA":
      return (rs.TLSA ?? []).map((t) => ({
        type: "TLSA",
        name,
        ttl,
        data: {
          usage: t.usage,
          selector: t.selector,
          matchingType: t.matchingType,
          certificate:
            typeof t.data === "string" ? Buffer.from(t.data, "hex") : Buffer.from(t.data),
        },
      }));
    case "SOA":
      return rs.SOA === undefined
        ? []
        : [
            {
              type: "SOA",
              name,
              ttl,
              data: {
                mname: rs.SOA.mname,
                rname: rs.SOA.rname,
                serial: rs.SOA.serial ?? 1,
                refresh: rs.SOA.refresh ?? 3600,
                retry: rs.SOA.retry ?? 600,
                expire: rs.SOA.expire ?? 86400,
                minimum: rs.SOA.minimum ?? 60,
              },
            },
          ];
  }
  return [];
}

/** A TXT record as character-strings of at most 255 bytes (RFC 1035 section 3.3.14). */
function txtStrings(txt: string | string[]): Buffer[] {
  const out: Buffer[] = [];
  for (const s of Array.isArray(txt) ? txt : [txt]) {
    const bytes = Buffer.from(s, "utf8");
    if (bytes.length === 0) out.push(bytes);
    for (let i = 0; i < bytes.length; i += 255) out.push(bytes.subarray(i, i + 255));
  }
  return out;
}

/** UDP on a random free port, then TCP on the same number; another port if TCP's is taken. */
async function bindBoth(): Promise<{ udp: UdpSocket; tcp: Server; port: number }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    const udp = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(0, "127.0.0.1", () => {
        udp.off("error", reject);
        resolve();
      });
    });
    const port = udp.address().port;
    const tcp = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, "127.0.0.1", () => {
          tcp.off("error", reject);
          resolve();
        });
      });
      udp.on("error", () => {
        // a send to a vanished client: nothing to do in a test server
      });
      return { udp, tcp, port };
    } catch (err) {
      lastError = err;
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    }
  }
  throw new Error(`no free UDP+TCP port pair on 127.0.0.1: ${String(lastError)}`);
}
