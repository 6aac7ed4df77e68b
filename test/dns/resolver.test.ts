import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createResolver, type Resolver } from "../../src/dns/index.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";

const TLSA_HASH = "a9cdf4ce9ff4e1b8d1e1d0e9d6b0c0f8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2";

let dns: TestDnsServer;
let resolver: Resolver;

beforeAll(async () => {
  dns = await startDnsServer({
    "example.test": {
      MX: [
        { preference: 20, exchange: "mx2.example.test" },
        { preference: 10, exchange: "mx1.example.test" },
      ],
      TXT: ["v=spf1 -all", ["part one, ", "part two"]],
      A: ["192.0.2.1", "192.0.2.2"],
      AAAA: ["2001:db8::1"],
    },
    "mx1.example.test": { A: ["127.0.0.1"] },
    "v6only.example.test": { AAAA: ["2001:db8::25"] },
    "_25._tcp.mx1.example.test": {
      TLSA: [{ usage: 3, selector: 1, matchingType: 1, data: TLSA_HASH }],
    },
    "1.2.0.192.in-addr.arpa": { PTR: ["host1.example.test"] },
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": {
      PTR: ["host6.example.test"],
    },
    "nullmx.test": { MX: [{ preference: 0, exchange: "." }] },
    "empty.test": { A: ["192.0.2.9"] },
    "deep.parent.test": { A: ["192.0.2.10"] },
    "alias.test": { CNAME: "alias2.test" },
    "alias2.test": { CNAME: "real.test" },
    "real.test": {
      A: ["192.0.2.50"],
      MX: [{ preference: 5, exchange: "mx.real.test" }],
      TTL: 120,
    },
    "dangling.test": { CNAME: "missing.test" },
    "long.test": { TXT: ["x".repeat(600)] },
  });
  resolver = createResolver({ servers: [dns.server], timeoutMs: 300, tries: 2 });
});

afterAll(async () => {
  await dns.stop();
});

beforeEach(() => {
  resolver.clearCache();
});

function countQueries(name: string, type: string): number {
  return dns.queries.filter((q) => q.name === name && q.type === type).length;
}

describe("record types", () => {
  test("A and AAAA", async () => {
    expect(await resolver.a("example.test")).toEqual({
      status: "ok",
      records: ["192.0.2.1", "192.0.2.2"],
      ad: false,
    });
    expect(await resolver.aaaa("Example.Test.")).toEqual({
      status: "ok",
      records: ["2001:db8::1"],
      ad: false,
    });
  });

  test("MX sorted by preference", async () => {
    const r = await resolver.mx("example.test");
    expect(r).toEqual({
      status: "ok",
      records: [
        { exchange: "mx1.example.test", preference: 10 },
        { exchange: "mx2.example.test", preference: 20 },
      ],
      ad: false,
      nullMx: false,
    });
  });

  test("MX with equal preferences comes back in both orders", async () => {
    dns.set("shuffle.test", "MX", [
      { preference: 10, exchange: "a.shuffle.test" },
      { preference: 10, exchange: "b.shuffle.test" },
      { preference: 5, exchange: "first.shuffle.test" },
    ]);
    const seen = new Set<string>();
    // Cached answer, shuffled per call: 200 calls miss one of two orders with chance 2^-199.
    for (let i = 0; i < 200 && seen.size < 2; i++) {
      const r = await resolver.mx("shuffle.test");
      expect(r.records[0].exchange).toBe("first.shuffle.test");
      seen.add(r.records.map((mx) => mx.exchange).join(","));
    }
    expect([...seen].sort()).toEqual([
      "first.shuffle.test,a.shuffle.test,b.shuffle.test",
      "first.shuffle.test,b.shuffle.test,a.shuffle.test",
    ]);
    expect(countQueries("shuffle.test", "MX")).toBe(1);
  });

  test("TXT strings joined per record", async () => {
    const r = await resolver.txt("example.test");
    expect(r.status).toBe("ok");
    expect(r.records.sort()).toEqual(["part one, part two", "v=spf1 -all"]);
    const raw = await resolver.query("example.test", "TXT");
    expect(raw.records.map((chunks) => chunks.length).sort()).toEqual([1, 2]);
  });

  test("long TXT arrives in 255-byte strings and is joined back", async () => {
    const raw = await resolver.query("long.test", "TXT");
    expect(raw.records).toEqual([["x".repeat(255), "x".repeat(255), "x".repeat(90)]]);
    expect((await resolver.txt("long.test")).records).toEqual(["x".repeat(600)]);
  });

  test("TLSA", async () => {
    const r = await resolver.tlsa("_25._tcp.mx1.example.test");
    expect(r.status).toBe("ok");
    expect(r.records).toHaveLength(1);
    expect(r.records[0].usage).toBe(3);
    expect(r.records[0].selector).toBe(1);
    expect(r.records[0].matchingType).toBe(1);
    expect(Buffer.from(r.records[0].data).toString("hex")).toBe(TLSA_HASH);
  });

  test("PTR of IPv4, IPv6 and IPv4-mapped addresses", async () => {
    expect(await resolver.ptr("192.0.2.1")).toEqual({
      status: "ok",
      records: ["host1.example.test"],
      ad: false,
    });
    expect((await resolver.ptr("2001:db8::1")).records).toEqual(["host6.example.test"]);
    expect((await resolver.ptr("::ffff:192.0.2.1")).records).toEqual(["host1.example.test"]);
    // The mapped address asks the same name: answered from the cache.
    expect(countQueries("1.2.0.192.in-addr.arpa", "PTR")).toBe(1);
    await expect(resolver.ptr("not-an-ip")).rejects.toThrow(RangeError);
  });

  test("SOA and CNAME through query()", async () => {
    const soa = await resolver.query("alias.test", "CNAME");
    expect(soa).toEqual({ status: "ok", records: ["alias2.test"], ad: false });
    dns.set("zone.test", "SOA", { mname: "ns.zone.test", rname: "admin.zone.test", minimum: 30 });
    const r = await resolver.query("zone.test", "SOA");
    expect(r.status).toBe("ok");
    expect(r.records[0]).toEqual({
      mname: "ns.zone.test",
      rname: "admin.zone.test",
      serial: 1,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 30,
    });
  });
});

describe("negative answers", () => {
  test("NXDOMAIN for a name that does not exist", async () => {
    expect(await resolver.a("nowhere.example.test")).toEqual({
      status: "nxdomain",
      records: [],
      ad: false,
    });
  });

  test("NODATA for a name without records of that type", async () => {
    expect(await resolver.mx("empty.test")).toEqual({
      status: "nodata",
      records: [],
      ad: false,
      nullMx: false,
    });
    expect((await resolver.aaaa("mx1.example.test")).status).toBe("nodata");
  });

  test("NODATA for an empty non-terminal (a name with only names below it)", async () => {
    expect((await resolver.a("parent.test")).status).toBe("nodata");
    expect((await resolver.a("other.parent.test")).status).toBe("nxdomain");
  });

  test("null MX (RFC 7505)", async () => {
    const r = await resolver.mx("nullmx.test");
    expect(r.status).toBe("ok");
    expect(r.nullMx).toBe(true);
    expect(r.records).toEqual([{ exchange: ".", preference: 0 }]);
  });

  test("invalid names are NXDOMAIN without a query", async () => {
    const before = dns.queries.length;
    expect((await resolver.a(`${"a".repeat(64)}.test`)).status).toBe("nxdomain");
    expect((await resolver.a("a..test")).status).toBe("nxdomain");
    expect((await resolver.a("")).status).toBe("nxdomain");
    expect(dns.queries.length).toBe(before);
  });
});

describe("CNAME chains", () => {
  test("A and MX follow the chain to the final records", async () => {
    expect(await resolver.a("alias.test")).toEqual({
      status: "ok",
      records: ["192.0.2.50"],
      ad: false,
    });
    expect((await resolver.mx("alias.test")).records).toEqual([
      { exchange: "mx.real.test", preference: 5 },
    ]);
  });

  test("NODATA and NXDOMAIN at the end of a chain", async () => {
    expect((await resolver.aaaa("alias.test")).status).toBe("nodata");
    expect((await resolver.a("dangling.test")).status).toBe("nxdomain");
  });

  test("a chain the server does not follow is asked for at its end", async () => {
    // Like an authority for only part of the chain: the CNAME alone, no SOA.
    const partial = await startDnsServer(
      { "out.test": { CNAME: "real.test" } },
      { followCnames: false },
    );
    try {
      const r = createResolver({ servers: [partial.server], timeoutMs: 300, tries: 1 });
      // The second question goes to the same server, which does not know real.test.
      expect((await r.a("out.test")).status).toBe("nxdomain");
      expect(partial.queries.map((q) => q.name)).toEqual(["out.test", "real.test"]);
    } finally {
      await partial.stop();
    }
  });

  test("a CNAME loop is a tempfail, not a hang", async () => {
    dns.set("loop1.test", "CNAME", "loop2.test");
    dns.set("loop2.test", "CNAME", "loop1.test");
    const r = await resolver.a("loop1.test");
    expect(r.status).toBe("tempfail");
    expect(r.error).toContain("CNAME chain too long");
  });
});

describe("transport", () => {
  test("truncated UDP answer is asked again over TCP", async () => {
    dns.set("big.test", "TXT", ["only over tcp"]);
    dns.setMode("big.test", "truncate");
    expect((await resolver.txt("big.test")).records).toEqual(["only over tcp"]);
    const seen = dns.queries.filter((q) => q.name === "big.test").map((q) => q.transport);
    expect(seen).toEqual(["udp", "tcp"]);
  });

  test("an answer bigger than 1232 bytes goes over TCP", async () => {
    const records = Array.from({ length: 8 }, (_, i) => `${i}${"y".repeat(299)}`);
    dns.set("huge.test", "TXT", records);
    const r = await resolver.txt("huge.test");
    expect(r.records.sort()).toEqual(records);
    const seen = dns.queries.filter((q) => q.name === "huge.test").map((q) => q.transport);
    expect(seen).toEqual(["udp", "tcp"]);
  });

  test("queries carry EDNS0 and the AD bit", async () => {
    await resolver.a("example.test");
    const q = dns.queries.findLast((e) => e.name === "example.test" && e.type === "A");
    expect(q?.edns).toBe(true);
    expect(q?.ad).toBe(true);
  });

  test("the AD bit of the answer is reported", async () => {
    dns.setAuthenticated(true);
    try {
      expect(await resolver.a("mx1.example.test")).toEqual({
        status: "ok",
        records: ["127.0.0.1"],
        ad: true,
      });
      expect((await resolver.mx("nullmx.test")).ad).toBe(true);
    } finally {
      dns.setAuthenticated(false);
    }
  });

  test("SERVFAIL is a tempfail after every try, quickly", async () => {
    dns.setMode("broken.test", "servfail");
    const started = performance.now();
    const r = await resolver.a("broken.test");
    expect(r.status).toBe("tempfail");
    expect(r.rcode).toBe("SERVFAIL");
    expect(r.error).toBe(`SERVFAIL from ${dns.server}`);
    expect(performance.now() - started).toBeLessThan(250);
    expect(countQueries("broken.test", "A")).toBe(2);
    // Not cached: the next lookup asks again.
    await resolver.a("broken.test");
    expect(countQueries("broken.test", "A")).toBe(4);
  });

  test("REFUSED is a tempfail", async () => {
    dns.setMode("refused.test", "refused");
    const r = await resolver.a("refused.test");
    expect(r.status).toBe("tempfail");
    expect(r.rcode).toBe("REFUSED");
  });

  test("no answer is a tempfail after tries x timeout", async () => {
    dns.setMode("silent.test", "drop");
    const started = performance.now();
    const r = await resolver.a("silent.test");
    const elapsed = performance.now() - started;
    expect(r.status).toBe("tempfail");
    expect(r.rcode).toBeUndefined();
    expect(r.error).toBe("timeout: no answer in 300 ms (2 tries)");
    expect(elapsed).toBeGreaterThanOrEqual(590);
    expect(elapsed).toBeLessThan(1500);
    expect(countQueries("silent.test", "A")).toBe(2);
  });

  test("a dead server is skipped for the next one", async () => {
    const dead = await startDnsServer();
    const deadServer = dead.server;
    await dead.stop();
    const r = createResolver({ servers: [deadServer, dns.server], timeoutMs: 300, tries: 1 });
    const started = performance.now();
    expect((await r.a("mx1.example.test")).records).toEqual(["127.0.0.1"]);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe("cache", () => {
  test("a second lookup is answered from the cache", async () => {
    dns.set("cached.test", "A", ["192.0.2.77"]);
    const first = await resolver.a("cached.test");
    const second = await resolver.a("CACHED.test.");
    expect(second).toEqual(first);
    expect(countQueries("cached.test", "A")).toBe(1);
    resolver.clearCache();
    await resolver.a("cached.test");
    expect(countQueries("cached.test", "A")).toBe(2);
  });

  test("an answer expires with its TTL", async () => {
    dns.set("short.test", "A", ["192.0.2.1"]);
    dns.set("short.test", "TTL", 1);
    expect((await resolver.a("short.test")).records).toEqual(["192.0.2.1"]);
    dns.set("short.test", "A", ["192.0.2.2"]);
    expect((await resolver.a("short.test")).records).toEqual(["192.0.2.1"]);
    await Bun.sleep(1100);
    expect((await resolver.a("short.test")).records).toEqual(["192.0.2.2"]);
    expect(countQueries("short.test", "A")).toBe(2);
  });

  test("TTL 0 answers are not cached", async () => {
    dns.set("zero.test", "A", ["192.0.2.1"]);
    dns.set("zero.test", "TTL", 0);
    await resolver.a("zero.test");
    await resolver.a("zero.test");
    expect(countQueries("zero.test", "A")).toBe(2);
  });

  test("negative answers are cached for the SOA minimum", async () => {
    dns.set("neg.test", "SOA", { mname: "ns.neg.test", rname: "admin.neg.test", minimum: 1 });
    dns.set("neg.test", "TTL", 3600);
    expect((await resolver.a("gone.neg.test")).status).toBe("nxdomain");
    expect((await resolver.mx("neg.test")).status).toBe("nodata");
    dns.set("gone.neg.test", "A", ["192.0.2.3"]);
    dns.set("neg.test", "MX", [{ preference: 1, exchange: "mx.neg.test" }]);
    expect((await resolver.a("gone.neg.test")).status).toBe("nxdomain");
    expect((await resolver.mx("neg.test")).status).toBe("nodata");
    expect(countQueries("gone.neg.test", "A")).toBe(1);
    expect(countQueries("neg.test", "MX")).toBe(1);
    await Bun.sleep(1100);
    expect((await resolver.a("gone.neg.test")).records).toEqual(["192.0.2.3"]);
    expect((await resolver.mx("neg.test")).status).toBe("ok");
  });

  test("negative TTL is the smaller of the SOA TTL and its minimum", async () => {
    dns.set("negttl.test", "SOA", {
      mname: "ns.negttl.test",
      rname: "a.negttl.test",
      minimum: 3600,
    });
    dns.set("negttl.test", "TTL", 1);
    expect((await resolver.a("x.negttl.test")).status).toBe("nxdomain");
    dns.set("x.negttl.test", "A", ["192.0.2.4"]);
    await Bun.sleep(1100);
    expect((await resolver.a("x.negttl.test")).status).toBe("ok");
  });

  test("the cache is bounded, least recently used out first", async () => {
    const small = createResolver({ servers: [dns.server], timeoutMs: 300, cacheSize: 2 });
    dns.set("lru1.test", "A", ["192.0.2.1"]);
    dns.set("lru2.test", "A", ["192.0.2.2"]);
    dns.set("lru3.test", "A", ["192.0.2.3"]);
    await small.a("lru1.test");
    await small.a("lru2.test");
    await small.a("lru1.test"); // lru2 is now the least recently used
    await small.a("lru3.test");
    expect(small.load.cached).toBe(2);
    await small.a("lru1.test");
    await small.a("lru2.test");
    expect(countQueries("lru1.test", "A")).toBe(1);
    expect(countQueries("lru2.test", "A")).toBe(2);
  });

  test("identical concurrent questions are asked once", async () => {
    dns.set("together.test", "A", ["192.0.2.8"]);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => resolver.a("together.test")),
    );
    for (const r of results) expect(r.records).toEqual(["192.0.2.8"]);
    expect(countQueries("together.test", "A")).toBe(1);
  });

  test("concurrent questions for a silent name wait for one query", async () => {
    dns.setMode("silent2.test", "drop");
    const r = createResolver({ servers: [dns.server], timeoutMs: 200, tries: 1 });
    const results = await Promise.all(Array.from({ length: 20 }, () => r.a("silent2.test")));
    for (const x of results) expect(x.status).toBe("tempfail");
    expect(countQueries("silent2.test", "A")).toBe(1);
  });
});
