import { afterAll, expect, test } from "bun:test";
import { GroupCommitter } from "../../src/queue/group-commit.ts";
import { openQueue } from "../../src/queue/index.ts";
import { message, put, rawDb, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

const states = (dir: string): Record<string, number> => {
  const db = rawDb(dir);
  try {
    const rows = db.query("SELECT state, count(*) AS n FROM messages GROUP BY state").all() as {
      state: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  } finally {
    db.close();
  }
};

test("scheduler writes of one turn commit together at its end; this store sees them at once", async () => {
  const dir = tempDir("turn");
  const q = openQueue({ directory: dir });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await put(q, { sender: `s${i}@example.com` }));
    expect(states(dir)).toEqual({ incoming: 5 });

    const claimed = q.claimDue(Date.now(), 10);
    expect(claimed.map((m) => m.id).sort()).toEqual([...ids].sort());
    for (const m of claimed.slice(0, 3)) {
      q.recordResults(m.id, [{ index: 0, status: "sent", dsn: "2.0.0", diagnostic: "250 ok" }]);
      q.remove(m.id, "delivered");
    }
    q.defer(claimed[3].id, Date.now() + 60_000, "later");
    // This connection sees its writes at once...
    expect(q.summary().active.count).toBe(1);
    expect(q.get(claimed[0].id)).toBeNull();
    expect(q.get(claimed[3].id)?.state).toBe("deferred");
    // ...another connection when the turn has ended, all of them in one transaction.
    expect(states(dir)).toEqual({ incoming: 5 });
    await nextTurn();
    await nextTurn();
    expect(states(dir)).toEqual({ active: 1, deferred: 1 });
    const history = q.history(claimed[0].id).map((e) => e.kind);
    expect(history).toEqual(["received", "sent", "removed"]);
  } finally {
    q.close();
  }
});

test("another store of the same process sees and can write past pending scheduler writes", async () => {
  const dir = tempDir("turn2");
  const q = openQueue({ directory: dir });
  try {
    const id = await put(q);
    q.claimDue(Date.now(), 1);
    q.setState(id, "hold", "operator");
    // A queue tool run in-process: neither waits for the write lock nor misses the move.
    const tool = openQueue({ directory: dir, busyTimeoutMs: 200 });
    try {
      expect(tool.get(id)?.state).toBe("hold");
      expect(tool.release({ ids: [id] })).toBe(1);
    } finally {
      tool.close();
    }
    expect(q.get(id)?.state).toBe("deferred");
  } finally {
    q.close();
  }
});

test("a commit resolves only after the durable step; failed items do not wait for it", async () => {
  let release!: () => void;
  const durable = new Promise<void>((r) => {
    release = r;
  });
  const c = new GroupCommitter<number>(
    (items) => items.map((n) => (n < 0 ? new Error(`bad ${n}`) : null)),
    () => durable,
  );
  const done: string[] = [];
  const a = c.submit(1).then(() => done.push("1"));
  const b = c.submit(-1).catch((e: Error) => done.push(e.message));
  await b;
  await nextTurn();
  expect(done).toEqual(["bad -1"]);
  release();
  await a;
  expect(done).toEqual(["bad -1", "1"]);
});

test("close() commits and syncs a batch still waiting for its turn", async () => {
  const dir = tempDir("turn3");
  const q = openQueue({ directory: dir });
  const d = q.createDraft();
  d.write(new TextEncoder().encode("Subject: x\r\n\r\nbody\r\n"));
  const p = d.commit(message());
  q.close();
  await expect(p).resolves.toBeUndefined();
  const again = openQueue({ directory: dir });
  try {
    expect(again.get(d.id)?.state).toBe("incoming");
  } finally {
    again.close();
  }
});
