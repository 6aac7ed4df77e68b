/**
 * The stub resolver: one cache, one cap on queries in flight, identical concurrent questions
 * asked once, each question tried over the servers in order for a number of rounds.
 */

import { TtlCache } from "./cache.ts";
import { Limiter } from "./limiter.ts";
import {
  buildQuery,
  type Interpretation,
  interpretAnswer,
  isValidQueryName,
  MAX_CNAME_CHAIN,
  normalizeName,
  rcodeOf,
  type TtlPolicy,
} from "./packet.ts";
import { reverseName } from "./reverse.ts";
import { DEFAULT_RESOLV_CONF, formatServer, resolveServerList } from "./servers.ts";
import { type Exchange, type QueryWire, tcpExchange, udpExchange } from "./transport.ts";
import type {
  DnsResult,
  DnsServer,
  DnsType,
  MxRecord,
  MxResult,
  RecordData,
  ResolverOptions,
  TlsaRecord,
} from "./types.ts";

export const DEFAULT_TIMEOUT_MS = 2000;
export const DEFAULT_TRIES = 2;
export const DEFAULT_MAX_IN_FLIGHT = 200;
export const DEFAULT_MAX_QUEUED = 50_000;
export const DEFAULT_CACHE_SIZE = 10_000;
export const DEFAULT_MAX_TTL = 86_400;
export const DEFAULT_NEGATIVE_TTL = 60;

interface Resolved<T> {
  result: DnsResult<T>;
  /** Seconds the result may be cached (0: not at all). */
  ttl: number;
}

interface CacheEntry {
  result: DnsResult<unknown>;
  expires: number;
}

/** Random 16-bit query ids from a pool refilled by the CSPRNG (RFC 5452 section 4.3). */
class IdSource {
  #pool = new Uint16Array(512);
  #next = this.#pool.length;

  take(): number {
    if (this.#next >= this.#pool.length) {
      crypto.getRandomValues(this.#pool);
      this.#next = 0;
    }
    return this.#pool[this.#next++];
  }
}

export class Resolver {
  readonly servers: readonly DnsServer[];
  readonly timeoutMs: number;
  readonly tries: number;
  readonly #policy: TtlPolicy;
  readonly #cache: TtlCache<CacheEntry>;
  readonly #limiter: Limiter;
  readonly #inFlight = new Map<string, Promise<Resolved<unknown>>>();
  readonly #ids = new IdSource();

  constructor(options: ResolverOptions = {}) {
    this.servers = resolveServerList(
      options.servers,
      options.resolvConfPath ?? DEFAULT_RESOLV_CONF,
    );
    this.timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS);
    this.tries = positive(options.tries, DEFAULT_TRIES);
    this.#policy = {
      maxTtl: positive(options.maxTtl, DEFAULT_MAX_TTL),
      defaultNegativeTtl: positive(options.defaultNegativeTtl, DEFAULT_NEGATIVE_TTL),
    };
    this.#cache = new TtlCache(positive(options.cacheSize, DEFAULT_CACHE_SIZE));
    this.#limiter = new Limiter(
      positive(options.maxInFlight, DEFAULT_MAX_IN_FLIGHT),
      options.maxQueued ?? DEFAULT_MAX_QUEUED,
    );
  }

  /** Queries on the wire now and waiting for a slot: for metrics and tests. */
  get load(): { inFlight: number; queued: number; cached: number } {
    return {
      inFlight: this.#limiter.active,
      queued: this.#limiter.queued,
      cached: this.#cache.size,
    };
  }

  clearCache(): void {
    this.#cache.clear();
  }

  /**
   * Asks for `type` records of `name`. The result may be shared with other callers and the
   * cache: do not modify it.
   */
  async query<T extends DnsType>(name: string, type: T): Promise<DnsResult<RecordData[T]>> {
    return (await this.#resolve(normalizeName(name), type, 0)).result;
  }

  async a(name: string): Promise<DnsResult<string>> {
    return this.query(name, "A");
  }

  async aaaa(name: string): Promise<DnsResult<string>> {
    return this.query(name, "AAAA");
  }

  /**
   * MX records by preference, equal preferences in random order (RFC 5321 section 5.1).
   * `nullMx` marks RFC 7505's single MX "." (the record stays in `records`).
   */
  async mx(domain: string): Promise<MxResult> {
    const r = await this.query(domain, "MX");
    const records: MxRecord[] = r.records.slice();
    // Shuffle, then a stable sort: equal preferences keep their random order.
    for (let i = records.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      const t = records[i];
      records[i] = records[j];
      records[j] = t;
    }
    records.sort((x, y) => x.preference - y.preference);
    const nullMx =
      records.length === 1 && (records[0].exchange === "." || records[0].exchange === "");
    return { ...r, records, nullMx };
  }

  /** TXT records, each record's character-strings joined (as SPF and DKIM read them). */
  async txt(name: string): Promise<DnsResult<string>> {
    const r = await this.query(name, "TXT");
    return { ...r, records: r.records.map((chunks) => chunks.join("")) };
  }

  /** Host names of an IP address; throws a RangeError when `ip` is not an IP address. */
  async ptr(ip: string): Promise<DnsResult<string>> {
    return this.query(reverseName(ip), "PTR");
  }

  /** TLSA records of a name such as "_25._tcp.mx.example.com" (RFC 6698, RFC 7672). */
  async tlsa(name: string): Promise<DnsResult<TlsaRecord>> {
    return this.query(name, "TLSA");
  }

  async #resolve<T extends DnsType>(
    name: string,
    type: T,
    depth: number,
  ): Promise<Resolved<RecordData[T]>> {
    if (!isValidQueryName(name)) {
      return {
        result: { status: "nxdomain", records: [], ad: false, error: "invalid name" },
        ttl: 0,
      };
    }
    const key = `${type} ${name}`;
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      const ttl = Math.max(0, Math.floor((hit.expires - Date.now()) / 1000));
      return { result: hit.result as DnsResult<RecordData[T]>, ttl };
    }
    // A chase (depth > 0) does not join a query in flight: on a CNAME loop spread over several
    // answers it would wait for itself.
    if (depth === 0) {
      const pending = this.#inFlight.get(key);
      if (pending !== undefined) return pending as Promise<Resolved<RecordData[T]>>;
    }
    const work = this.#lookup(name, type, depth).then((r) => {
      if (r.ttl > 0 && r.result.status !== "tempfail") {
        this.#cache.set(key, { result: r.result, expires: Date.now() + r.ttl * 1000 }, r.ttl);
      }
      return r;
    });
    if (depth === 0) {
      this.#inFlight.set(key, work);
      work.finally(() => this.#inFlight.delete(key));
    }
    return work;
  }

  async #lookup<T extends DnsType>(
    name: string,
    type: T,
    depth: number,
  ): Promise<Resolved<RecordData[T]>> {
    if (!(await this.#limiter.acquire())) {
      return { result: tempfail("too many DNS queries waiting"), ttl: 0 };
    }
    let step: Interpretation<RecordData[T]> | { kind: "fail"; result: DnsResult<never> };
    try {
      step = await this.#ask(name, type);
    } catch (err) {
      // Not expected (transports report errors as values); a lookup must never reject.
      step = { kind: "fail", result: tempfail(`resolver error: ${(err as Error).message}`) };
    } finally {
      this.#limiter.release();
    }
    if (step.kind === "fail") return { result: step.result, ttl: 0 };
    if (step.kind === "final") return { result: step.result, ttl: step.ttl };
    if (depth >= MAX_CNAME_CHAIN) {
      return { result: tempfail(`CNAME chain too long for ${name}`), ttl: 0 };
    }
    const next = await this.#resolve(step.target, type, depth + 1);
    return {
      result: { ...next.result, ad: step.ad && next.result.ad },
      ttl: Math.min(step.ttl, next.ttl),
    };
  }

  /** Every server in order, `tries` rounds; the first NOERROR or NXDOMAIN answer wins. */
  async #ask<T extends DnsType>(
    name: string,
    type: T,
  ): Promise<Interpretation<RecordData[T]> | { kind: "fail"; result: DnsResult<never> }> {
    let last: DnsResult<never> = tempfail("timeout");
    let timeouts = 0;
    for (let round = 0; round < this.tries; round++) {
      for (const server of this.servers) {
        const out = await this.#exchange(server, name, type);
        if (out.kind === "answer") {
          const rcode = rcodeOf(out.packet);
          if (rcode === "NOERROR" || rcode === "NXDOMAIN") {
            return interpretAnswer(out.packet, name, type, this.#policy);
          }
          last = { ...tempfail(`${rcode} from ${formatServer(server)}`), rcode };
        } else if (out.kind === "timeout") {
          timeouts++;
          last = tempfail(`timeout: no answer in ${this.timeoutMs} ms (${timeouts} tries)`);
        } else {
          last = tempfail(out.error);
        }
      }
    }
    return { kind: "fail", result: last };
  }

  /** One question to one server: UDP, then TCP if truncated, then without EDNS if refused. */
  async #exchange(server: DnsServer, name: string, type: DnsType): Promise<Exchange> {
    let out = await udpExchange(server, this.#wire(name, type, true), this.timeoutMs);
    if (out.kind !== "answer") return out;
    if (out.packet.flag_tc) {
      return tcpExchange(server, this.#wire(name, type, true), this.timeoutMs);
    }
    const rcode = rcodeOf(out.packet);
    const hasOpt = (out.packet.additionals ?? []).some((rr) => rr.type === "OPT");
    // A server that does not know EDNS answers FORMERR or NOTIMP without an OPT record
    // (RFC 6891 section 7): ask again the old way.
    if ((rcode === "FORMERR" || rcode === "NOTIMP") && !hasOpt) {
      out = await udpExchange(server, this.#wire(name, type, false), this.timeoutMs);
      if (out.kind === "answer" && out.packet.flag_tc) {
        return tcpExchange(server, this.#wire(name, type, false), this.timeoutMs);
      }
    }
    return out;
  }

  #wire(name: string, type: DnsType, edns: boolean): QueryWire {
    const id = this.#ids.take();
    return { id, name, type, wire: buildQuery(id, name, type, edns) };
  }
}

function tempfail(error: string): DnsResult<never> {
  return { status: "tempfail", records: [], ad: false, error };
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}
