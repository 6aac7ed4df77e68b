import { describe, expect, test } from "bun:test";
import { TtlCache } from "../../src/dns/cache.ts";
import { Limiter } from "../../src/dns/limiter.ts";

describe("TtlCache", () => {
  test("entries live for their TTL", () => {
    let now = 1_000_000;
    const c = new TtlCache<string>(10, () => now);
    c.set("a", "A", 5);
    now += 4999;
    expect(c.get("a")).toBe("A");
    now += 1;
    expect(c.get("a")).toBeUndefined();
    expect(c.size).toBe(0);
  });

  test("TTL 0 or less is not cached", () => {
    const c = new TtlCache<string>(10);
    c.set("a", "A", 0);
    c.set("b", "B", -1);
    c.set("c", "C", Number.NaN);
    expect(c.size).toBe(0);
  });

  test("least recently used goes first when full", () => {
    const c = new TtlCache<number>(3);
    c.set("a", 1, 60);
    c.set("b", 2, 60);
    c.set("c", 3, 60);
    expect(c.get("a")).toBe(1);
    c.set("d", 4, 60);
    expect(c.get("b")).toBeUndefined();
    expect([c.get("a"), c.get("c"), c.get("d")]).toEqual([1, 3, 4]);
    c.set("c", 30, 60); // replacing counts as a use
    c.set("e", 5, 60);
    expect(c.get("a")).toBeUndefined();
    expect(c.get("c")).toBe(30);
    expect(c.size).toBe(3);
    c.clear();
    expect(c.size).toBe(0);
  });
});

describe("Limiter", () => {
  test("hands slots over in arrival order", async () => {
    const l = new Limiter(2, 100);
    const got: number[] = [];
    expect(await l.acquire()).toBe(true);
    expect(await l.acquire()).toBe(true);
    const waiting = [3, 4, 5].map((n) => l.acquire().then(() => got.push(n)));
    expect([l.active, l.queued]).toEqual([2, 3]);
    l.release();
    l.release();
    l.release();
    await Promise.all(waiting);
    expect(got).toEqual([3, 4, 5]);
    expect([l.active, l.queued]).toEqual([2, 0]);
    l.release();
    l.release();
    expect(l.active).toBe(0);
  });

  test("refuses past maxQueued", async () => {
    const l = new Limiter(1, 1);
    expect(await l.acquire()).toBe(true);
    const queued = l.acquire();
    expect(await l.acquire()).toBe(false);
    l.release();
    expect(await queued).toBe(true);
  });

  test("a long queue drains completely", async () => {
    const l = new Limiter(1, 10_000);
    await l.acquire();
    let done = 0;
    const all = Array.from({ length: 5000 }, () =>
      l.acquire().then(() => {
        done++;
        l.release();
      }),
    );
    l.release();
    await Promise.all(all);
    expect(done).toBe(5000);
    expect([l.active, l.queued]).toEqual([0, 0]);
  });
});
