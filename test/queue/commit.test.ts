import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { openQueue, QueueError, type QueueStore } from "../../src/queue/index.ts";
import { BUN, enc, message, put, rawDb, readAll, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

async function rejection(p: Promise<unknown>): Promise<QueueError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(QueueError);
    return e as QueueError;
  }
  throw new Error("expected a rejection");
}

function chunkRows(dir: string): { orphans: number; total: number } {
  const db = rawDb(dir);
  try {
    const total = (db.query("SELECT count(*) AS n FROM chunks").get() as { n: number }).n;
    const orphans = (
      db
        .query(
          "SELECT count(*) AS n FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = c.id)",
        )
        .get() as { n: number }
    ).n;
    return { orphans, total };
  } finally {
    db.close();
  }
}

test("commits of one event-loop turn share one transaction; all durable after reopening", async () => {
  const dir = tempDir("commit");
  let q: QueueStore = openQueue({ directory: dir });
  const drafts = Array.from({ length: 200 }, (_, i) => {
    const d = q.createDraft();
    d.write(enc.encode(`Subject: ${i}\r\n\r\nbody ${i}\r\n`));
    return d;
  });
  const before = q.metrics();
  await Promise.all(drafts.map((d, i) => d.commit(message({ sender: `s${i}@example.com` }))));
  const after = q.metrics();
  expect(after.commitBatches - before.commitBatches).toBe(1);
  expect(after.committedMessages - before.committedMessages).toBe(200);
  // Commits from separate turns are separate transactions.
  await put(q);
  await put(q);
  expect(q.metrics().commitBatches - after.commitBatches).toBe(2);
  q.close();
  q = openQueue({ directory: dir });
  try {
    drafts.forEach((d, i) => {
      expect(q.get(d.id)!.sender).toBe(`s${i}@example.com`);
      expect(readAll(q, d.id)).toBe(`Subject: ${i}\r\n\r\nbody ${i}\r\n`);
    });
    expect(q.summary().incoming.count).toBe(202);
    expect(q.integrityCheck()).toEqual(["ok"]);
  } finally {
    q.close();
  }
});

test("every id whose commit resolved survives a SIGKILL of the writer", async () => {
  const dir = tempDir("commit");
  const proc = Bun.spawn([BUN, join(import.meta.dir, "fixtures", "commit-and-die.ts"), dir], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = Date.now() + 20_000;
  while (text.split("\n").length < 400 && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  proc.kill("SIGKILL");
  await proc.exited;
  // Lines read before the kill were printed after their commits resolved.
  const ids = text.split("\n").filter((l) => /^[0-9A-F]{12}$/.test(l));
  expect(ids.length).toBeGreaterThanOrEqual(380);
  const q = openQueue({ directory: dir });
  try {
    for (const id of ids) expect(q.get(id)?.state).toBe("incoming");
    expect(q.integrityCheck()).toEqual(["ok"]);
    expect(q.recoverOnStartup().requeued).toBe(0);
  } finally {
    q.close();
  }
});

test("a failing message in a batch fails alone and leaves nothing behind", async () => {
  const dir = tempDir("commit");
  const q = openQueue({ directory: dir, chunkSize: 1024 });
  try {
    const drafts = Array.from({ length: 5 }, () => q.createDraft());
    for (const d of drafts) d.write(new Uint8Array(3000).fill(0x41)); // 2 chunks spilled each
    // Another writer's chunk under draft 2's id: its commit must refuse, the others go on.
    const db = rawDb(dir);
    db.run("INSERT INTO chunks (id, seq, written, data) VALUES (?, 7, 0, x'00')", [drafts[2].id]);
    db.close();
    const results = await Promise.allSettled(drafts.map((d) => d.commit(message())));
    expect(results.map((r) => r.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    const err = (results[2] as PromiseRejectedResult).reason as QueueError;
    expect(err.code).toBe("QUEUE_ERROR");
    expect(q.metrics()).toMatchObject({ commitBatches: 1, committedMessages: 4, failedCommits: 1 });
    expect(q.get(drafts[2].id)).toBeNull();
    // Only the foreign row is left under that id; the draft's own two chunks are gone.
    expect(chunkRows(dir)).toEqual({ orphans: 1, total: 4 * 3 + 1 });
    for (const i of [0, 1, 3, 4]) expect(readAll(q, drafts[i].id)).toBe("A".repeat(3000));
    expect(q.integrityCheck()).toEqual(["ok"]);
  } finally {
    q.close();
  }
});

test("drafts: abort drops spilled chunks; misuse is refused", async () => {
  const dir = tempDir("commit");
  const q = openQueue({ directory: dir, chunkSize: 1024 });
  try {
    const d = q.createDraft();
    d.write(new Uint8Array(5000));
    expect(d.size).toBe(5000);
    expect(chunkRows(dir).total).toBe(4);
    d.abort();
    d.abort();
    expect(chunkRows(dir).total).toBe(0);
    expect(() => d.write(new Uint8Array(1))).toThrow(QueueError);
    expect((await rejection(d.commit(message()))).code).toBe("BAD_STATE");

    const e = q.createDraft();
    e.write(new Uint8Array(2000));
    expect((await rejection(e.commit(message({ recipients: [] })))).code).toBe("INVALID");
    expect(chunkRows(dir).total).toBe(0);

    const f = q.createDraft();
    await f.commit(message()); // an empty body is allowed
    expect(q.get(f.id)!.size).toBe(0);
    expect([...q.body(f.id)]).toEqual([]);
    expect(q.headerBytes(f.id).length).toBe(0);
    expect((await rejection(f.commit(message()))).code).toBe("BAD_STATE");
    f.abort(); // no effect after commit
    expect(q.get(f.id)).not.toBeNull();
  } finally {
    q.close();
  }
});

test("bodies of every size come back byte for byte, headers included", async () => {
  const q = openQueue({ directory: tempDir("commit"), chunkSize: 1024 });
  try {
    for (const size of [1, 1023, 1024, 1025, 4096, 10_000]) {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 7 + size) & 0xff;
      const d = q.createDraft();
      // Odd write sizes, across chunk boundaries, and one big write.
      for (let pos = 0; pos < size; ) {
        const n = Math.min(size - pos, pos === 0 ? 3000 : 333);
        d.write(bytes.subarray(pos, pos + n));
        pos += n;
      }
      await d.commit(message());
      const parts = [...q.body(d.id)];
      expect(parts.every((p) => p.length <= 1024)).toBe(true);
      expect(Buffer.concat(parts).equals(Buffer.from(bytes))).toBe(true);
    }
    const head = "Received: from x\r\n\tby y\r\nSubject: s\r\n";
    const id = await put(q, {}, `${head}\r\n${"b".repeat(5000)}`);
    expect(new TextDecoder().decode(q.headerBytes(id))).toBe(head);
    expect(new TextDecoder().decode(q.headerBytes(id, 10))).toBe(head.slice(0, 10));
    const big = `X-Long: ${"h".repeat(3000)}\r\n`;
    const id2 = await put(q, {}, `${big}\r\nbody`);
    expect(new TextDecoder().decode(q.headerBytes(id2))).toBe(big);
  } finally {
    q.close();
  }
});

test("a full queue (max_page_count) rejects with QUEUE_FULL and leaves nothing partial", async () => {
  const dir = tempDir("commit");
  // Seed the schema first, then reopen with a cap a little above the empty size.
  openQueue({ directory: dir }).close();
  const q = openQueue({ directory: dir, chunkSize: 16 * 1024, maxBytes: 3 * 1024 * 1024 });
  try {
    const ok: string[] = [];
    let full: QueueError | null = null;
    const piece = new Uint8Array(50 * 1024).fill(0x42);
    for (let i = 0; i < 200 && !full; i++) {
      // Batches of 4 in one turn: some may land, the rest must fail cleanly.
      const drafts = Array.from({ length: 4 }, () => q.createDraft());
      for (const d of drafts) d.write(piece);
      const res = await Promise.allSettled(drafts.map((d) => d.commit(message())));
      res.forEach((r, k) => {
        if (r.status === "fulfilled") ok.push(drafts[k].id);
        else full ??= r.reason as QueueError;
      });
    }
    expect(full).not.toBeNull();
    expect(full!.code).toBe("QUEUE_FULL");
    expect(ok.length).toBeGreaterThan(10);
    expect(q.summary().incoming.count).toBe(ok.length);
    expect(chunkRows(dir).orphans).toBe(0);
    expect(q.integrityCheck()).toEqual(["ok"]);
    for (const id of ok.slice(-3)) expect(readAll(q, id).length).toBe(piece.length);

    // A big message whose spill fails: write() does not throw, commit() rejects.
    const big = q.createDraft();
    for (let i = 0; i < 100; i++) big.write(piece);
    expect(big.size).toBe(100 * piece.length);
    expect((await rejection(big.commit(message()))).code).toBe("QUEUE_FULL");
    expect(chunkRows(dir).orphans).toBe(0);

    // Deleting makes room again (deletes work on a full database).
    expect(q.delete({ ids: ok.slice(0, 10) })).toBe(10);
    await put(q, {}, piece);
    expect(q.integrityCheck()).toEqual(["ok"]);
  } finally {
    q.close();
  }
});

test("QUEUE_FULL inside a batch fails only that message, even when SQLite drops the whole transaction", async () => {
  const dir = tempDir("commit");
  openQueue({ directory: dir }).close();
  // Chunks bigger than the messages: every body is written inside the group transaction.
  const q = openQueue({ directory: dir, chunkSize: 8 << 20, maxBytes: 3 << 20 });
  try {
    const sizes = [100, 4 << 20, 100, 2 << 20, 100, 200 << 10, 100];
    const drafts = sizes.map((n) => {
      const d = q.createDraft();
      d.write(new Uint8Array(n).fill(0x41));
      return d;
    });
    const res = await Promise.allSettled(drafts.map((d) => d.commit(message())));
    expect(
      res.map((r) => (r.status === "fulfilled" ? "ok" : (r.reason as QueueError).code)),
    ).toEqual(["ok", "QUEUE_FULL", "ok", "ok", "ok", "ok", "ok"]);
    expect(q.get(drafts[1].id)).toBeNull();
    expect(q.history(drafts[1].id)).toEqual([]);
    expect(q.summary().incoming.count).toBe(6);
    for (const i of [0, 2, 3, 4, 5, 6]) expect(readAll(q, drafts[i].id).length).toBe(sizes[i]);
    expect(q.integrityCheck()).toEqual(["ok"]);
    expect(chunkRows(dir)).toEqual({ orphans: 0, total: 6 });

    // Fill it to the brim: the operator can still delete, which frees the space.
    let filled = false;
    for (let i = 0; i < 1000 && !filled; i++) {
      const d = q.createDraft();
      d.write(new Uint8Array(20_000));
      await d.commit(message()).catch((e: QueueError) => {
        expect(e.code).toBe("QUEUE_FULL");
        filled = true;
      });
    }
    expect(filled).toBe(true);
    const n = q.summary().incoming.count;
    expect(q.delete({})).toBe(n);
    await put(q, {}, new Uint8Array(1 << 20));
    expect(q.integrityCheck()).toEqual(["ok"]);
  } finally {
    q.close();
  }
});

test("SQLITE_BUSY past the busy timeout is QUEUE_ERROR, and nothing is stored", async () => {
  const dir = tempDir("commit");
  const q = openQueue({ directory: dir, busyTimeoutMs: 100 });
  const blocker = rawDb(dir);
  try {
    const d = q.createDraft();
    d.write(enc.encode("Subject: x\r\n\r\n"));
    blocker.run("BEGIN IMMEDIATE");
    const t = Date.now();
    const err = await rejection(d.commit(message()));
    expect(err.code).toBe("QUEUE_ERROR");
    expect(Date.now() - t).toBeGreaterThanOrEqual(90);
    blocker.run("ROLLBACK");
    expect(q.get(d.id)).toBeNull();
    expect(q.summary().incoming.count).toBe(0);
    expect(() => q.hold({})).not.toThrow();
    blocker.run("BEGIN IMMEDIATE");
    let code = "";
    try {
      q.hold({});
    } catch (e) {
      code = (e as QueueError).code;
    }
    blocker.run("ROLLBACK");
    expect(code).toBe("QUEUE_ERROR");
  } finally {
    blocker.close();
    q.close();
  }
});

test("startup recovery removes orphan bodies but spares live writers", async () => {
  const dir = tempDir("commit");
  let q = openQueue({ directory: dir, chunkSize: 1024 });
  const crashed = q.createDraft();
  crashed.write(new Uint8Array(4096)); // 4 chunks spilled, never committed
  const kept = await put(q, {}, "x".repeat(3000));
  q.close(); // like a crash: the draft's chunks stay behind

  q = openQueue({ directory: dir, chunkSize: 1024 });
  try {
    const live = q.createDraft();
    live.write(new Uint8Array(2048)); // this process is writing it right now
    // Bodies stamped with other pids: a live process (our parent) recently, a live process
    // long ago, and a pid that cannot exist.
    const idFor = (pid: number, tick: number) =>
      (tick * 2 ** 22 + pid).toString(16).toUpperCase().padStart(12, "0");
    const liveRecent = idFor(process.ppid, 1);
    const liveOld = idFor(process.ppid, 2);
    const dead = idFor(4_194_303, 3);
    const db = rawDb(dir);
    const ins = db.prepare("INSERT INTO chunks (id, seq, written, data) VALUES (?, 0, ?, x'01')");
    ins.run(liveRecent, Date.now());
    ins.run(liveOld, Date.now() - 2 * 3600_000);
    ins.run(dead, Date.now());
    db.close();

    expect(q.recoverOnStartup()).toEqual({ requeued: 0, orphansRemoved: 3 });
    const left = rawDb(dir);
    const ids = (
      left.query("SELECT DISTINCT id FROM chunks ORDER BY id").all() as { id: string }[]
    ).map((r) => r.id);
    left.close();
    expect(ids.sort()).toEqual([kept, live.id, liveRecent].sort());
    live.write(new Uint8Array(100));
    await live.commit(message());
    expect(readAll(q, live.id).length).toBe(2148);
    expect(readAll(q, kept)).toBe("x".repeat(3000));
    expect(q.integrityCheck()).toEqual(["ok"]);
  } finally {
    q.close();
  }
});
