import { afterAll, expect, test } from "bun:test";
import { openQueue, type QueueError, type QueueStore } from "../../src/queue/index.ts";
import { put, putMany, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

function withQueue(fn: (q: QueueStore) => Promise<void>): () => Promise<void> {
  return async () => {
    const q = openQueue({ directory: tempDir("list") });
    try {
      await fn(q);
    } finally {
      q.close();
    }
  };
}

test(
  "keyset pagination walks every message once, in arrival order, despite inserts",
  withQueue(async (q) => {
    const ids = await putMany(q, 250, () => ({}), 7);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = q.list({}, { limit: 37, cursor });
      expect(page.messages.length).toBeLessThanOrEqual(37);
      seen.push(...page.messages.map((m) => m.id));
      cursor = page.nextCursor;
      // New mail arriving while an operator pages through lands after what was listed.
      if (pages === 2) ids.push(await put(q));
      pages++;
    } while (cursor && pages < 100);
    expect(pages).toBe(7); // 251 / 37
    expect(seen).toEqual(ids);
    const arrivals = seen.map((id) => q.get(id)!.arrivalTime);
    expect(arrivals).toEqual([...arrivals].sort((a, b) => a - b));
    // An exact multiple of the limit ends with a null cursor, not an empty page.
    const last = q.list({}, { limit: 251 });
    expect(last.messages.length).toBe(251);
    expect(last.nextCursor).toBeNull();
  }),
);

test(
  "filters: state, sender, recipient, domain, olderThan, ids",
  withQueue(async (q) => {
    const ids = await putMany(
      q,
      6,
      (i) => ({
        sender: i % 2 ? "Odd@Example.COM" : "even@example.com",
        recipients: [
          { address: `user${i}@Dest${i % 3}.example`, original: `alias${i}@local.example` },
        ],
      }),
      1,
    );
    q.claimDue(Date.now(), 2); // ids[0], ids[1] active
    const pick = (f: Parameters<QueueStore["list"]>[0]) =>
      q.list(f, { limit: 100 }).messages.map((m) => m.id);
    expect(pick({ state: "active" })).toEqual(ids.slice(0, 2));
    expect(pick({ state: ["incoming", "hold"] })).toEqual(ids.slice(2));
    expect(pick({ state: [] })).toEqual([]);
    expect(pick({ sender: "odd@" })).toEqual([ids[1], ids[3], ids[5]]);
    expect(pick({ recipient: "USER4@" })).toEqual([ids[4]]);
    expect(pick({ recipient: "alias2@" })).toEqual([ids[2]]);
    expect(pick({ domain: "dest1.EXAMPLE" })).toEqual([ids[1], ids[4]]);
    expect(pick({ domain: "est1.example" })).toEqual([]);
    // olderThan is strict: messages that arrived in the same millisecond as ids[3] are not
    // older than it (one batch per commit here, but two commits can share a millisecond).
    const t3 = q.get(ids[3])!.arrivalTime;
    const older = ids.filter((id) => q.get(id)!.arrivalTime < t3);
    expect(pick({ olderThan: t3 })).toEqual(older);
    expect(pick({ olderThan: t3 + 1 })).toEqual(ids.filter((id) => q.get(id)!.arrivalTime <= t3));
    expect(pick({ ids: [ids[5].toLowerCase(), ids[0], "0123456789AB"] })).toEqual([ids[0], ids[5]]);
    expect(pick({ ids: [] })).toEqual([]);
    expect(pick({ state: "incoming", sender: "even", domain: "dest1.example" })).toEqual([ids[4]]);
    // Operator commands use the same filters.
    expect(q.hold({ sender: "odd", state: "incoming" })).toBe(2);
    expect(pick({ state: "hold" })).toEqual([ids[3], ids[5]]);
  }),
);

test(
  "bad arguments are INVALID",
  withQueue(async (q) => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as QueueError).code;
      }
      return "none";
    };
    expect(codeOf(() => q.list({}, { limit: 10, cursor: "garbage" }))).toBe("INVALID");
    expect(codeOf(() => q.list({}, { limit: 0 }))).toBe("INVALID");
    expect(codeOf(() => q.list({ state: "sent" as "hold" }, { limit: 1 }))).toBe("INVALID");
    expect(codeOf(() => q.hold({ state: "bogus" as "hold" }))).toBe("INVALID");
  }),
);

test(
  "iterate streams 20,000 messages in batches",
  withQueue(async (q) => {
    const ids = await putMany(q, 20_000, (i) => ({ sender: i % 4 ? "bulk@example.com" : "x@y.z" }));
    let n = 0;
    let i = 0;
    for (const m of q.iterate({})) {
      if (m.id !== ids[i]) throw new Error(`out of order at ${i}`);
      if (m.recipients.length !== 1) throw new Error(`recipients missing at ${i}`);
      n++;
      i++;
    }
    expect(n).toBe(20_000);
    let filtered = 0;
    for (const m of q.iterate({ sender: "x@y.z" })) {
      expect(m.sender).toBe("x@y.z");
      filtered++;
    }
    expect(filtered).toBe(5_000);
    // Stopping early is fine: nothing is left open.
    for (const _ of q.iterate({})) break;
    expect(q.summary().incoming.count).toBe(20_000);
    expect(q.delete({ sender: "x@y.z" })).toBe(5_000);
    expect(q.integrityCheck()).toEqual(["ok"]);
  }),
  60_000,
);
