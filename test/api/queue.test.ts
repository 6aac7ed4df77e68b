/**
 * The queue endpoints against a real queue: summary, listing with filters and cursor
 * pagination across pages, bulk moves on a few thousand messages, flush, and the 400s that
 * name the bad field.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { type Fixture, json, putMany, startFixture, stopAll } from "./helpers.ts";

afterAll(stopAll);

interface ListBody {
  messages: {
    id: string;
    state: string;
    sender: string;
    size: number;
    arrival_time: string;
    next_attempt: string | null;
    attempts: number;
    reason: string | null;
    recipients: {
      address: string;
      status: string;
      dsn: string | null;
      diagnostic: string | null;
    }[];
  }[];
  next_cursor: string | null;
}

async function listAll(
  f: Fixture,
  query: string,
  limit: number,
): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  // Bounded: at most 1000 pages.
  for (; pages < 1000; ) {
    const q: string = `${query}${query ? "&" : ""}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const res = await f.call(`/api/v1/queue?${q}`);
    expect(res.status).toBe(200);
    const body = await json<ListBody>(res);
    pages++;
    expect(body.messages.length).toBeLessThanOrEqual(limit);
    ids.push(...body.messages.map((m) => m.id));
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  return { ids, pages };
}

describe("queue endpoints", () => {
  test("summary and list show the queue in arrival order with snake_case fields", async () => {
    const f = await startFixture();
    const ids = await putMany(f.queue, 3, (i) => ({
      sender: i === 1 ? "" : `s${i}@example.org`,
      recipients: [{ address: `r${i}@example.net` }, { address: "x@other.test" }],
    }));
    const sum = await json(await f.call("/api/v1/queue/summary"));
    const size = f.queue.get(ids[0])!.size;
    expect(sum.states.incoming).toEqual({ count: 3, bytes: 3 * size });
    expect(sum.states.hold).toEqual({ count: 0, bytes: 0 });
    expect(Object.keys(sum.states)).toEqual([
      "incoming",
      "active",
      "deferred",
      "hold",
      "bounce",
      "corrupt",
    ]);
    expect(sum.total).toEqual({ count: 3, bytes: 3 * size });

    const list = await json<ListBody>(await f.call("/api/v1/queue"));
    expect(list.next_cursor).toBeNull();
    expect(list.messages.map((m) => m.id)).toEqual(ids);
    const rec = f.queue.get(ids[1])!;
    expect(list.messages[1]).toEqual({
      id: ids[1],
      state: "incoming",
      sender: "",
      size,
      arrival_time: new Date(rec.arrivalTime).toISOString(),
      next_attempt: new Date(rec.nextAttempt!).toISOString(),
      attempts: 0,
      reason: null,
      recipients: [
        { address: "r1@example.net", status: "pending", dsn: null, diagnostic: null },
        { address: "x@other.test", status: "pending", dsn: null, diagnostic: null },
      ],
    });
    await f.stop();
  });

  test("cursor pagination walks every message exactly once, also while new mail arrives", async () => {
    const f = await startFixture();
    const ids = await putMany(f.queue, 1234);
    const { ids: seen, pages } = await listAll(f, "", 100);
    expect(pages).toBe(13);
    expect(seen).toEqual(ids);

    // Pages stay consistent when messages arrive between two pages (keyset, not offset).
    const first = await json<ListBody>(await f.call("/api/v1/queue?limit=1000"));
    const more = await putMany(f.queue, 10);
    const second = await json<ListBody>(
      await f.call(`/api/v1/queue?limit=1000&cursor=${encodeURIComponent(first.next_cursor!)}`),
    );
    expect([...first.messages, ...second.messages].map((m) => m.id)).toEqual([...ids, ...more]);
    expect(second.next_cursor).toBeNull();
    await f.stop();
  });

  test("filters: state, sender, recipient, domain, older_than", async () => {
    const f = await startFixture();
    const old = await putMany(f.queue, 4, (i) => ({
      sender: i % 2 === 0 ? "Alice@Example.org" : "bob@example.com",
      recipients: [{ address: i < 2 ? "carol@dest.example" : "dave@Other.Example" }],
    }));
    await Bun.sleep(1100);
    const recent = await putMany(f.queue, 2, () => ({
      sender: "carl@example.net",
      recipients: [{ address: "erin@dest.example" }],
    }));
    f.queue.hold({ ids: [old[0], recent[0]] });

    const ids = async (q: string) => (await listAll(f, q, 1000)).ids;
    expect(await ids("state=hold")).toEqual([old[0], recent[0]]);
    expect(await ids("state=incoming,hold")).toEqual([...old, ...recent]);
    expect(await ids("sender=alice@EXAMPLE")).toEqual([old[0], old[2]]);
    expect(await ids("recipient=DAVE")).toEqual([old[2], old[3]]);
    expect(await ids("domain=other.example")).toEqual([old[2], old[3]]);
    expect(await ids("domain=dest.example&state=incoming")).toEqual([old[1], recent[1]]);
    expect(await ids("older_than=1")).toEqual(old);
    expect(await ids("older_than=1s")).toEqual(old);
    expect(await ids("older_than=1h")).toEqual([]);
    expect(await ids("older_than=2999-01-01T00:00:00Z")).toEqual([...old, ...recent]);
    expect(await ids("older_than=2000-01-01")).toEqual([]);
    await f.stop();
  });

  test("bad query parameters are 400s that name the field", async () => {
    const f = await startFixture();
    const cases: [string, string][] = [
      ["limit=0", "query parameter limit: "],
      ["limit=1001", "query parameter limit: "],
      ["limit=ten", "query parameter limit: "],
      [
        "state=sleeping",
        "query parameter state: states: incoming, active, deferred, hold, bounce, corrupt",
      ],
      ["older_than=yesterday", "query parameter older_than: "],
      ["cursor=garbage", "invalid list cursor"],
    ];
    for (const [q, message] of cases) {
      const res = await f.call(`/api/v1/queue?${q}`);
      expect(res.status).toBe(400);
      const body = await json(res);
      expect(body.error.code).toBe("invalid_request");
      expect(body.error.message).toStartWith(message);
    }
    await f.stop();
  });

  test("bulk hold, release, requeue and delete on 3000 messages", async () => {
    const f = await startFixture();
    const ids = await putMany(f.queue, 3000, (i) => ({
      recipients: [{ address: i % 3 === 0 ? "a@one.example" : "b@two.example" }],
    }));
    const post = async (path: string, body?: unknown) => {
      const res = await f.call(path, {
        method: "POST",
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
      });
      expect(res.status).toBe(200);
      return (await json(res)).affected as number;
    };
    // Query-parameter filter.
    expect(await post("/api/v1/queue/hold?domain=one.example")).toBe(1000);
    expect(f.queue.summary().hold.count).toBe(1000);
    // Holding again finds nothing left to hold.
    expect(await post("/api/v1/queue/hold?domain=one.example")).toBe(0);
    // JSON body filter.
    expect(await post("/api/v1/queue/release", { state: "hold" })).toBe(1000);
    expect(f.queue.summary().deferred.count).toBe(1000);
    expect(f.calls.wake).toBeGreaterThan(0);
    expect(await post("/api/v1/queue/requeue", { state: ["deferred"] })).toBe(1000);
    expect(f.queue.summary().incoming.count).toBe(3000);
    // ids, in the body or as a comma list.
    expect(await post("/api/v1/queue/hold", { ids: ids.slice(0, 5) })).toBe(5);
    expect(await post(`/api/v1/queue/release?ids=${ids.slice(0, 3).join(",")}`)).toBe(3);
    // Body and query together: both apply. Of two.example, ids 1 and 2 are deferred now and 4
    // is on hold.
    expect(await post("/api/v1/queue/delete?domain=two.example", { state: "incoming" })).toBe(1997);
    const s = f.queue.summary();
    expect([s.incoming.count, s.deferred.count, s.hold.count]).toEqual([998, 3, 2]);
    // Each moved message has its event.
    expect(f.queue.history(ids[0]).map((e) => e.kind)).toEqual([
      "received",
      "held",
      "released",
      "requeued",
      "held",
      "released",
    ]);
    await f.stop();
  });

  test("bulk delete refuses an empty filter unless all=true", async () => {
    const f = await startFixture();
    await putMany(f.queue, 20);
    for (const init of [{}, { body: "{}", headers: { "content-type": "application/json" } }]) {
      const res = await f.call("/api/v1/queue/delete", { method: "POST", ...init });
      expect(res.status).toBe(400);
      expect((await json(res)).error.message).toBe(
        "an empty filter would delete every message: say all=true to mean it",
      );
    }
    expect(f.queue.summary().incoming.count).toBe(20);
    const res = await f.call("/api/v1/queue/delete", {
      method: "POST",
      body: JSON.stringify({ all: true }),
      headers: { "content-type": "application/json" },
    });
    expect(await json(res)).toEqual({ affected: 20 });
    await putMany(f.queue, 3);
    expect(await json(await f.call("/api/v1/queue/delete?all=true", { method: "POST" }))).toEqual({
      affected: 3,
    });
    await f.stop();
  });

  test("bad bulk bodies: malformed JSON, wrong types, unknown state, too large, wrong type", async () => {
    const f = await startFixture({ mainCf: "api_body_limit = 1000" });
    const post = (body: string, type = "application/json") =>
      f.call("/api/v1/queue/hold", { method: "POST", body, headers: { "content-type": type } });
    let res = await post("{");
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe("invalid_request");
    res = await post(JSON.stringify({ state: "nowhere" }));
    expect(res.status).toBe(400);
    expect((await json(res)).error.message).toStartWith("body field state: ");
    res = await post(JSON.stringify({ ids: ["not-an-id"] }));
    expect(res.status).toBe(400);
    expect((await json(res)).error.message).toBe("body field ids.0: not a queue ID");
    res = await post(JSON.stringify({ sender: "x".repeat(2000) }));
    expect(res.status).toBe(413);
    expect(await json(res)).toEqual({
      error: { code: "too_large", message: "request body exceeds the limit of 1000 bytes" },
    });
    // Chunked (no Content-Length) is counted too.
    const big = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(`{"sender":"${"y".repeat(3000)}"}`));
        c.close();
      },
    });
    res = await f.call("/api/v1/queue/hold", {
      method: "POST",
      body: big,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
    res = await post("state=hold", "application/x-www-form-urlencoded");
    expect(res.status).toBe(415);
    expect((await json(res)).error.code).toBe("unsupported_media_type");
    await f.stop();
  });

  test("flush passes the site to the scheduler and reports the count", async () => {
    const f = await startFixture();
    const ids = await putMany(f.queue, 4, (i) => ({
      recipients: [{ address: i < 3 ? "a@slow.example" : "b@fast.example" }],
    }));
    // Make them deferred, as after failed attempts.
    for (const id of ids) {
      f.queue.claimDue(Date.now() + 1000, 10);
      f.queue.defer(id, Date.now() + 3_600_000, "4.4.1 connection refused");
    }
    expect(f.queue.summary().deferred.count).toBe(4);
    let res = await f.call("/api/v1/queue/flush?site=slow.example", { method: "POST" });
    expect(await json(res)).toEqual({ affected: 3 });
    res = await f.call("/api/v1/queue/flush", {
      method: "POST",
      body: JSON.stringify({ site: "fast.example" }),
      headers: { "content-type": "application/json" },
    });
    expect(await json(res)).toEqual({ affected: 1 });
    res = await f.call("/api/v1/queue/flush", { method: "POST" });
    expect(await json(res)).toEqual({ affected: 4 });
    expect(f.calls.flush).toEqual(["slow.example", "fast.example", undefined]);
    await f.stop();
  });
});
