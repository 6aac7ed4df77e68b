import { afterAll, beforeAll, expect, test } from "bun:test";
import { createResolver } from "../../src/dns/index.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";

const COUNT = 2000;
let dns: TestDnsServer;

beforeAll(async () => {
  dns = await startDnsServer();
  for (let i = 0; i < COUNT; i++) dns.set(`h${i}.load.test`, "A", [`10.0.${i >> 8}.${i & 255}`]);
});

afterAll(async () => {
  await dns.stop();
});

test("2,000 parallel queries are all answered under the default cap", async () => {
  const resolver = createResolver({ servers: [dns.server] });
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: COUNT }, (_, i) => resolver.a(`h${i}.load.test`)),
  );
  const elapsed = performance.now() - started;
  for (let i = 0; i < COUNT; i++) {
    expect(results[i]).toEqual({
      status: "ok",
      records: [`10.0.${i >> 8}.${i & 255}`],
      ad: false,
    });
  }
  expect(resolver.load).toEqual({ inFlight: 0, queued: 0, cached: COUNT });
  // No query was lost and retried: the cap keeps socket buffers from overflowing.
  expect(dns.queries.length).toBe(COUNT);
  expect(elapsed).toBeLessThan(10_000);
});

test("queries beyond the cap wait in a FIFO", async () => {
  const resolver = createResolver({ servers: [dns.server], maxInFlight: 50 });
  const order: number[] = [];
  const pending = Array.from({ length: COUNT }, (_, i) =>
    resolver.a(`h${i}.load.test`).then((r) => {
      order.push(i);
      return r;
    }),
  );
  // Slots are taken synchronously when a lookup starts.
  expect(resolver.load.inFlight).toBe(50);
  expect(resolver.load.queued).toBe(COUNT - 50);
  const results = await Promise.all(pending);
  expect(results.every((r) => r.status === "ok")).toBe(true);
  expect(resolver.load).toEqual({ inFlight: 0, queued: 0, cached: COUNT });
  // FIFO: the last 50 to start cannot finish before the first 50 started.
  expect(order.indexOf(COUNT - 1)).toBeGreaterThanOrEqual(50);
});

test("too many waiting queries are a tempfail, not unbounded memory", async () => {
  const resolver = createResolver({ servers: [dns.server], maxInFlight: 1, maxQueued: 10 });
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => resolver.a(`h${i}.load.test`)),
  );
  const failed = results.filter((r) => r.status === "tempfail");
  expect(failed).toHaveLength(9);
  expect(failed[0].error).toBe("too many DNS queries waiting");
  expect(results.filter((r) => r.status === "ok")).toHaveLength(11);
});
