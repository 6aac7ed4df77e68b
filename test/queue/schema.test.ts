import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openQueue, QueueError } from "../../src/queue/index.ts";
import { SCHEMA_VERSION } from "../../src/queue/schema.ts";
import { BUN, put, rawDb, readAll, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

function pragma(dir: string, name: string): unknown {
  const db = rawDb(dir);
  try {
    return Object.values(db.query(`PRAGMA ${name}`).get() as object)[0];
  } finally {
    db.close();
  }
}

test("an empty (even missing) directory gets a migrated WAL database", () => {
  const dir = join(tempDir("schema"), "not", "yet");
  const q = openQueue({ directory: dir });
  expect(q.path).toBe(join(dir, "queue.db"));
  expect(existsSync(q.path)).toBe(true);
  q.close();
  expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(1);
  expect(pragma(dir, "user_version")).toBe(SCHEMA_VERSION);
  expect(pragma(dir, "journal_mode")).toBe("wal");
  expect(pragma(dir, "page_size")).toBe(16384);
});

test("reopening is idempotent and keeps the data", async () => {
  const dir = tempDir("schema");
  let q = openQueue({ directory: dir });
  const id = await put(q);
  q.close();
  for (let i = 0; i < 3; i++) {
    q = openQueue({ directory: dir, pageSize: 4096 }); // ignored: the database exists
    expect(q.get(id)?.sender).toBe("alice@example.com");
    expect(q.integrityCheck()).toEqual(["ok"]);
    q.close();
  }
  expect(pragma(dir, "user_version")).toBe(SCHEMA_VERSION);
  expect(pragma(dir, "page_size")).toBe(16384);
});

test("a database from a newer program is refused", () => {
  const dir = tempDir("schema");
  openQueue({ directory: dir }).close();
  const db = rawDb(dir);
  db.run(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  let err: unknown;
  try {
    openQueue({ directory: dir });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(QueueError);
  expect((err as QueueError).code).toBe("QUEUE_ERROR");
  expect((err as QueueError).message).toContain("newer");
});

test("two processes creating the same fresh queue at once both succeed", async () => {
  const dir = tempDir("schema");
  const script = join(import.meta.dir, "fixtures", "open.ts");
  const procs = [0, 1, 2].map(() =>
    Bun.spawn([BUN, script, dir], { stdout: "pipe", stderr: "pipe" }),
  );
  const outs = await Promise.all(procs.map((p) => new Response(p.stdout).text()));
  const errs = await Promise.all(procs.map((p) => new Response(p.stderr).text()));
  const codes = await Promise.all(procs.map((p) => p.exited));
  expect(errs).toEqual(["", "", ""]);
  expect(codes).toEqual([0, 0, 0]);
  const q = openQueue({ directory: dir });
  try {
    for (const out of outs) expect(q.get(out.trim())?.state).toBe("incoming");
    expect(q.summary().incoming.count).toBe(3);
    expect(q.integrityCheck()).toEqual(["ok"]);
  } finally {
    q.close();
  }
  expect(pragma(dir, "user_version")).toBe(SCHEMA_VERSION);
});

test("integrity check reports a missing body chunk, and body() refuses it", async () => {
  const dir = tempDir("schema");
  const q = openQueue({ directory: dir, chunkSize: 1024 });
  try {
    const good = await put(q);
    const id = await put(q, {}, "X".repeat(5000));
    expect(q.integrityCheck()).toEqual(["ok"]);
    const db = rawDb(dir);
    db.run("DELETE FROM chunks WHERE id = ? AND seq = 2", [id]);
    db.run("DELETE FROM recipients WHERE id = ?", [good]);
    db.close();
    const report = q.integrityCheck();
    expect(report).toEqual([
      `${id}: body has 4 chunks / 3976 bytes, expected 5 / 5000`,
      `${good}: message without recipients`,
    ]);
    let err: unknown;
    try {
      readAll(q, id);
    } catch (e) {
      err = e;
    }
    expect((err as QueueError).code).toBe("CORRUPT");
    expect((err as QueueError).message).toContain("chunk 2 missing");
  } finally {
    q.close();
  }
});

test("body() of an unknown message throws NOT_FOUND at once", () => {
  const q = openQueue({ directory: tempDir("schema") });
  try {
    expect(() => q.body("0123456789AB")).toThrow(QueueError);
    try {
      q.body("0123456789AB");
    } catch (e) {
      expect((e as QueueError).code).toBe("NOT_FOUND");
    }
  } finally {
    q.close();
  }
});
