import { afterAll, afterEach, beforeEach, expect, test } from "bun:test";
import { openQueue, QueueError, type QueueState, type QueueStore } from "../../src/queue/index.ts";
import { put, putMany, removeTempDirs, tempDir } from "./helpers.ts";

let q: QueueStore;
beforeEach(() => {
  q = openQueue({ directory: tempDir("states") });
});
afterEach(() => q.close());
afterAll(removeTempDirs);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof QueueError) return e.code;
    throw e;
  }
  return undefined;
}

function kinds(id: string): string[] {
  return q.history(id).map((e) => e.kind);
}

function counts(): Record<QueueState, number> {
  const s = q.summary();
  return {
    incoming: s.incoming.count,
    active: s.active.count,
    deferred: s.deferred.count,
    hold: s.hold.count,
    bounce: s.bounce.count,
    corrupt: s.corrupt.count,
  };
}

test("a committed message keeps its whole envelope", async () => {
  const id = await put(q, {
    sender: "",
    recipients: [
      {
        address: "Bob@Example.NET",
        original: "bob-alias@example.net",
        orcpt: "rfc822;bob-alias@example.net",
        notify: ["SUCCESS", "DELAY"],
      },
      { address: "carol@example.org", notify: ["NEVER"] },
    ],
    envid: "ENV-1",
    ret: "HDRS",
    bodyType: "8BITMIME",
    smtputf8: true,
    client: { name: "mx.example", addr: "192.0.2.1", helo: "mx", protocol: "ESMTPS" },
    messageId: "<m1@example.com>",
    origin: "smtpd",
  });
  const m = q.get(id)!;
  expect(m.state).toBe("incoming");
  expect(m.sender).toBe("");
  expect(m.envid).toBe("ENV-1");
  expect(m.ret).toBe("HDRS");
  expect(m.bodyType).toBe("8BITMIME");
  expect(m.smtputf8).toBe(true);
  expect(m.client).toEqual({
    name: "mx.example",
    addr: "192.0.2.1",
    helo: "mx",
    protocol: "ESMTPS",
  });
  expect(m.messageId).toBe("<m1@example.com>");
  expect(m.origin).toBe("smtpd");
  expect(m.attempts).toBe(0);
  expect(m.warnedAt).toBeNull();
  expect(m.nextAttempt).toBe(m.arrivalTime);
  expect(Math.abs(m.arrivalTime - Date.now())).toBeLessThan(5000);
  expect(m.recipients).toEqual([
    {
      index: 0,
      address: "Bob@Example.NET",
      original: "bob-alias@example.net",
      orcpt: "rfc822;bob-alias@example.net",
      notify: ["SUCCESS", "DELAY"],
      status: "pending",
      dsn: null,
      diagnostic: null,
      relay: null,
      updatedAt: null,
    },
    {
      index: 1,
      address: "carol@example.org",
      original: null,
      orcpt: null,
      notify: ["NEVER"],
      status: "pending",
      dsn: null,
      diagnostic: null,
      relay: null,
      updatedAt: null,
    },
  ]);
  const [ev] = q.history(id);
  expect(ev.kind).toBe("received");
  expect(ev.detail).toEqual({
    from: "",
    size: m.size,
    nrcpt: 2,
    origin: "smtpd",
    state: "incoming",
    client: "mx.example[192.0.2.1]",
    messageId: "<m1@example.com>",
  });
  expect(q.summary().incoming).toEqual({ count: 1, bytes: m.size });
});

test("a message may start on hold with a reason", async () => {
  const id = await put(q, { state: "hold", reason: "header_checks HOLD" });
  const m = q.get(id)!;
  expect(m.state).toBe("hold");
  expect(m.reason).toBe("header_checks HOLD");
  expect(m.nextAttempt).toBeNull();
  expect(q.claimDue(Date.now() + 1e9, 10)).toEqual([]);
});

test("claimDue takes incoming and due deferred messages, oldest first, exactly once", async () => {
  const [a, b, c] = await putMany(q, 3, () => ({}), 1);
  const now = Date.now();
  let got = q.claimDue(now, 10);
  expect(got.map((m) => m.id)).toEqual([a, b, c]);
  expect(got.every((m) => m.state === "active")).toBe(true);
  expect(q.claimDue(now, 10)).toEqual([]);
  expect(counts().active).toBe(3);

  q.defer(a, now + 60_000, "try later");
  q.defer(b, now - 1, "due already");
  expect(q.nextDueTime()).toBe(now - 1);
  got = q.claimDue(now, 10);
  expect(got.map((m) => m.id)).toEqual([b]);
  expect(q.nextDueTime()).toBe(now + 60_000);
  got = q.claimDue(now + 60_000, 10);
  expect(got.map((m) => m.id)).toEqual([a]);
  expect(got[0].attempts).toBe(1);
  expect(got[0].reason).toBe("try later");
  expect(q.nextDueTime()).toBeNull();
  expect(q.claimDue(now, 0)).toEqual([]);
});

test("claimDue shares the limit between new mail and retries", async () => {
  const old = await putMany(q, 6);
  expect(q.claimDue(Date.now(), 6).length).toBe(6);
  for (const id of old) q.defer(id, 0, "retry");
  const fresh = await putMany(q, 6);
  const got = q.claimDue(Date.now(), 4).map((m) => m.id);
  expect(got).toEqual([old[0], old[1], fresh[0], fresh[1]]);
  // Both sides still have messages: half and half again.
  expect(q.claimDue(Date.now(), 4).map((m) => m.id)).toEqual([old[2], old[3], fresh[2], fresh[3]]);
  expect(q.claimDue(Date.now(), 10).length).toBe(4);
});

test("recordResults updates each recipient and logs one event per recipient", async () => {
  const id = await put(q, {
    recipients: [{ address: "a@x.example" }, { address: "b@y.example" }],
  });
  q.claimDue(Date.now(), 1);
  q.recordResults(id, [
    {
      index: 0,
      status: "sent",
      dsn: "2.0.0",
      diagnostic: "250 ok",
      relay: "mx.x.example[192.0.2.5]:25",
    },
    { index: 1, status: "deferred", dsn: "4.4.1", diagnostic: "connection refused" },
  ]);
  const m = q.get(id)!;
  expect(m.recipients.map((r) => [r.status, r.dsn, r.diagnostic, r.relay])).toEqual([
    ["sent", "2.0.0", "250 ok", "mx.x.example[192.0.2.5]:25"],
    ["deferred", "4.4.1", "connection refused", null],
  ]);
  expect(m.recipients[0].updatedAt).toBeGreaterThan(0);
  const evs = q.history(id).slice(1);
  expect(evs.map((e) => [e.kind, e.detail])).toEqual([
    [
      "sent",
      {
        index: 0,
        to: "a@x.example",
        dsn: "2.0.0",
        diagnostic: "250 ok",
        relay: "mx.x.example[192.0.2.5]:25",
      },
    ],
    ["deferred", { index: 1, to: "b@y.example", dsn: "4.4.1", diagnostic: "connection refused" }],
  ]);
  q.recordResults(id, [{ index: 1, status: "expired", dsn: "4.4.7", diagnostic: "too long" }]);
  expect(q.get(id)!.recipients[1].status).toBe("expired");
  expect(
    code(() => q.recordResults(id, [{ index: 5, status: "sent", dsn: "2.0.0", diagnostic: "" }])),
  ).toBe("INVALID");
  expect(code(() => q.recordResults("0123456789AB", []))).toBe("NOT_FOUND");
  // The failed call changed nothing.
  expect(q.history(id).length).toBe(4);
});

test("defer: active -> deferred with attempts + 1; hold stays hold; others refused", async () => {
  const id = await put(q);
  expect(code(() => q.defer(id, Date.now(), "x"))).toBe("BAD_STATE");
  q.claimDue(Date.now(), 1);
  const when = Date.now() + 300_000;
  q.defer(id, when, "4.4.1 connection timed out");
  let m = q.get(id)!;
  expect([m.state, m.attempts, m.nextAttempt, m.reason]).toEqual([
    "deferred",
    1,
    when,
    "4.4.1 connection timed out",
  ]);
  expect(q.history(id).at(-1)!.detail).toEqual({
    reason: "4.4.1 connection timed out",
    nextAttempt: when,
    attempts: 1,
    state: "deferred",
  });
  // The operator holds it while qmgr delivers: the defer counts but the hold stays.
  q.requeue({ ids: [id] });
  q.claimDue(Date.now(), 1);
  expect(q.hold({ ids: [id] })).toBe(1);
  q.defer(id, when, "again");
  m = q.get(id)!;
  expect([m.state, m.attempts]).toEqual(["hold", 2]);
  expect(code(() => q.defer("0123456789AB", 0, "x"))).toBe("NOT_FOUND");
});

test("setState moves to any state and records the move", async () => {
  const id = await put(q);
  q.claimDue(Date.now(), 1);
  q.setState(id, "bounce", "5.1.1 user unknown");
  let m = q.get(id)!;
  expect([m.state, m.reason]).toEqual(["bounce", "5.1.1 user unknown"]);
  q.setState(id, "corrupt");
  m = q.get(id)!;
  expect([m.state, m.reason]).toEqual(["corrupt", "5.1.1 user unknown"]);
  const before = Date.now();
  q.setState(id, "deferred", "back");
  expect(q.get(id)!.nextAttempt).toBeGreaterThanOrEqual(before);
  expect(kinds(id)).toEqual(["received", "bounce", "corrupt", "deferred"]);
  expect(q.history(id)[1].detail).toEqual({ from: "active", reason: "5.1.1 user unknown" });
  expect(code(() => q.setState(id, "nowhere" as QueueState))).toBe("INVALID");
  expect(code(() => q.setState("0123456789AB", "hold"))).toBe("NOT_FOUND");
  expect(counts()).toEqual({ incoming: 0, active: 0, deferred: 1, hold: 0, bounce: 0, corrupt: 0 });
});

test("markWarned and remove", async () => {
  const id = await put(q);
  q.markWarned(id, 12345);
  expect(q.get(id)!.warnedAt).toBe(12345);
  q.remove(id, "delivered");
  expect(q.get(id)).toBeNull();
  expect(code(() => q.body(id))).toBe("NOT_FOUND");
  expect(kinds(id)).toEqual(["received", "delayed", "removed"]);
  expect(q.history(id).at(-1)!.detail).toEqual({ reason: "delivered" });
  expect(code(() => q.remove(id, "again"))).toBe("NOT_FOUND");
  expect(code(() => q.markWarned(id, 1))).toBe("NOT_FOUND");
  expect(q.summary().incoming).toEqual({ count: 0, bytes: 0 });
  expect(q.integrityCheck()).toEqual(["ok"]);
});

test("hold: every state but hold and corrupt; release: hold -> deferred due now", async () => {
  const ids = await putMany(q, 5, () => ({}), 1);
  q.claimDue(Date.now(), 5);
  q.defer(ids[1], Date.now() + 1e6, "later");
  q.setState(ids[2], "corrupt");
  q.setState(ids[3], "bounce");
  q.hold({ ids: [ids[4]] });
  // ids[0] active, [1] deferred, [2] corrupt, [3] bounce, [4] hold
  expect(q.hold({})).toBe(3);
  expect(counts()).toEqual({ incoming: 0, active: 0, deferred: 0, hold: 4, bounce: 0, corrupt: 1 });
  expect(q.history(ids[1]).at(-1)).toMatchObject({ kind: "held", detail: { from: "deferred" } });
  const t = Date.now();
  expect(q.release({ ids: [ids[1], ids[2]] })).toBe(1);
  const m = q.get(ids[1])!;
  expect(m.state).toBe("deferred");
  expect(m.nextAttempt).toBeGreaterThanOrEqual(t);
  expect(q.claimDue(Date.now(), 10).map((x) => x.id)).toEqual([ids[1]]);
  expect(q.release({})).toBe(3);
  expect(q.history(ids[4]).map((e) => e.kind)).toEqual(["received", "held", "released"]);
});

test("requeue: deferred/hold/incoming -> incoming now, recipients kept", async () => {
  const [a, b, c, d] = await putMany(
    q,
    4,
    () => ({ recipients: [{ address: "x@one.example" }, { address: "y@two.example" }] }),
    1,
  );
  q.claimDue(Date.now(), 4);
  q.recordResults(a, [{ index: 0, status: "sent", dsn: "2.0.0", diagnostic: "ok" }]);
  q.defer(a, Date.now() + 1e6, "later");
  q.defer(b, Date.now() + 1e6, "later");
  q.hold({ ids: [b] });
  q.setState(c, "incoming");
  // d stays active: not requeued
  expect(q.requeue({})).toBe(3);
  expect(q.get(d)!.state).toBe("active");
  const m = q.get(a)!;
  expect(m.state).toBe("incoming");
  expect(m.recipients.map((r) => r.status)).toEqual(["sent", "pending"]);
  expect(m.attempts).toBe(1);
  expect(
    q
      .claimDue(Date.now(), 10)
      .map((x) => x.id)
      .sort(),
  ).toEqual([a, b, c].sort());
});

test("delete removes messages, recipients and bodies, with one event each", async () => {
  const ids = await putMany(q, 4, (i) => ({ sender: `s${i}@example.com` }));
  expect(q.delete({ sender: "S1@EXAMPLE" })).toBe(1);
  expect(q.get(ids[1])).toBeNull();
  expect(q.history(ids[1]).at(-1)).toMatchObject({ kind: "deleted", detail: { from: "incoming" } });
  expect(q.delete({ ids: [ids[0], "0123456789AB"] })).toBe(1);
  expect(q.delete({})).toBe(2);
  expect(q.delete({})).toBe(0);
  expect(counts().incoming).toBe(0);
  expect(q.recoverOnStartup()).toEqual({ requeued: 0, orphansRemoved: 0 });
  expect(q.integrityCheck()).toEqual(["ok"]);
});

test("flush makes deferred messages due now, optionally for one pending domain", async () => {
  const [a, b, c] = await putMany(
    q,
    3,
    (i) => ({ recipients: [{ address: `u@d${i}.example` }, { address: "v@shared.example" }] }),
    1,
  );
  q.claimDue(Date.now(), 3);
  const later = Date.now() + 1e7;
  for (const id of [a, b, c]) q.defer(id, later, "later");
  // b's shared.example recipient is done: only a and c still have one pending there.
  q.recordResults(b, [{ index: 1, status: "sent", dsn: "2.0.0", diagnostic: "ok" }]);
  expect(q.flush("SHARED.example")).toBe(2);
  expect(q.get(b)!.nextAttempt).toBe(later);
  expect(q.get(a)!.nextAttempt).toBeLessThanOrEqual(Date.now());
  expect(q.flush("nowhere.example")).toBe(0);
  expect(q.flush()).toBe(3);
  expect(q.get(b)!.nextAttempt).toBeLessThanOrEqual(Date.now());
  expect(kinds(a).filter((k) => k === "flushed").length).toBe(2);
  expect(q.claimDue(Date.now(), 10).length).toBe(3);
});

test("recoverOnStartup puts active messages back to incoming", async () => {
  const ids = await putMany(q, 3);
  q.claimDue(Date.now(), 2);
  expect(counts().active).toBe(2);
  expect(q.recoverOnStartup()).toEqual({ requeued: 2, orphansRemoved: 0 });
  expect(counts()).toMatchObject({ incoming: 3, active: 0 });
  expect(q.history(ids[0]).at(-1)).toMatchObject({
    kind: "requeued",
    detail: { from: "active", reason: "startup recovery" },
  });
});

test("events: global increasing seq, eventsSince pages, addEvent, prune", async () => {
  const [a, b] = await putMany(q, 2, () => ({}), 1);
  q.addEvent(a, "note", { text: "hello" });
  const all = q.eventsSince(0, 100);
  expect(all.map((e) => [e.id, e.kind])).toEqual([
    [a, "received"],
    [b, "received"],
    [a, "note"],
  ]);
  expect(all.map((e) => e.seq)).toEqual([1, 2, 3]);
  expect(q.lastEventSeq()).toBe(3);
  expect(q.eventsSince(1, 1).map((e) => e.seq)).toEqual([2]);
  expect(q.eventsSince(3, 10)).toEqual([]);
  expect(q.prune({ eventsBefore: Date.now() + 1 })).toEqual({ events: 3, idempotency: 0 });
  // seq never goes back, even after pruning the newest events.
  expect(q.lastEventSeq()).toBe(3);
  q.addEvent(b, "note", {});
  expect(q.eventsSince(0, 10).map((e) => e.seq)).toEqual([4]);
});

test("summary counts and bytes per state follow every move", async () => {
  const ids = await putMany(q, 3);
  const size = q.get(ids[0])!.size;
  q.claimDue(Date.now(), 1);
  q.hold({ ids: [ids[1]] });
  expect(q.summary()).toEqual({
    incoming: { count: 1, bytes: size },
    active: { count: 1, bytes: size },
    deferred: { count: 0, bytes: 0 },
    hold: { count: 1, bytes: size },
    bounce: { count: 0, bytes: 0 },
    corrupt: { count: 0, bytes: 0 },
  });
  expect(q.integrityCheck()).toEqual(["ok"]);
});

test("idempotency keys", async () => {
  expect(q.idempotencyGet("k1")).toBeNull();
  q.idempotencyPut("k1", "0123456789ab");
  q.idempotencyPut("k1", "FFFFFFFFFFFF"); // first one wins
  expect(q.idempotencyGet("k1")).toBe("0123456789AB");
  expect(q.prune({ idempotencyBefore: Date.now() + 1 })).toEqual({ events: 0, idempotency: 1 });
  expect(q.idempotencyGet("k1")).toBeNull();
});

test("changeCounter moves on our own and on other processes' writes", async () => {
  const c0 = q.changeCounter();
  await put(q);
  const c1 = q.changeCounter();
  expect(c1).not.toBe(c0);
  expect(q.changeCounter()).toBe(c1);
  const other = openQueue({ directory: q.path.replace(/\/queue\.db$/, "") });
  await put(other);
  other.close();
  expect(q.changeCounter()).not.toBe(c1);
});

test("a closed store refuses calls with QUEUE_ERROR", () => {
  const d = q.createDraft();
  q.close();
  expect(code(() => q.get("0123456789AB"))).toBe("QUEUE_ERROR");
  expect(code(() => q.createDraft())).toBe("QUEUE_ERROR");
  d.write(new Uint8Array(10));
  return expect(
    d.commit({ sender: "", recipients: [{ address: "a@b" }], origin: "t" }),
  ).rejects.toThrow("queue closed");
});
