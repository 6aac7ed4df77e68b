import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { isQueueId, openQueue } from "../../src/queue/index.ts";
import { newQueueId, queueIdPid } from "../../src/queue/queue-id.ts";
import { BUN, put, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

test("ids are 12 uppercase hex digits carrying the pid", () => {
  for (let i = 0; i < 1000; i++) {
    const id = newQueueId();
    expect(id).toMatch(/^[0-9A-F]{12}$/);
    expect(isQueueId(id)).toBe(true);
    expect(queueIdPid(id)).toBe(process.pid % 2 ** 22);
  }
  expect(isQueueId("abcdefabcdef")).toBe(false);
  expect(isQueueId("ABCDEF")).toBe(false);
});

test("100,000 ids in a tight loop are unique", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100_000; i++) seen.add(newQueueId());
  expect(seen.size).toBe(100_000);
});

test("the tick moves forward even when the clock stands still or goes back", () => {
  const a = newQueueId(1_000_000);
  const b = newQueueId(1_000_000);
  const c = newQueueId(999_000);
  expect(new Set([a, b, c]).size).toBe(3);
});

test("ids from concurrent processes never collide", async () => {
  const script = join(import.meta.dir, "fixtures", "ids.ts");
  const procs = [0, 1, 2].map(() =>
    Bun.spawn([BUN, script, "20000"], { stdout: "pipe", stderr: "inherit" }),
  );
  const outputs = await Promise.all(procs.map((p) => new Response(p.stdout).text()));
  for (const p of procs) expect(await p.exited).toBe(0);
  const all = outputs.flatMap((o) => o.trim().split("\n"));
  for (let i = 0; i < 20000; i++) all.push(newQueueId());
  expect(all.length).toBe(80000);
  expect(new Set(all).size).toBe(80000);
});

test("an id is known before commit and kept by it", async () => {
  const q = openQueue({ directory: tempDir("ids") });
  try {
    const d = q.createDraft();
    expect(isQueueId(d.id)).toBe(true);
    expect(q.get(d.id)).toBeNull();
    d.write(new TextEncoder().encode("Subject: x\r\n\r\n"));
    await d.commit({ sender: "", recipients: [{ address: "a@b.c" }], origin: "test" });
    expect(q.get(d.id)?.id).toBe(d.id);
    const ids = new Set<string>([d.id]);
    for (let i = 0; i < 200; i++) ids.add(await put(q));
    expect(ids.size).toBe(201);
    // Lower-case input (e.g. typed at the CLI) finds the message.
    expect(q.get(d.id.toLowerCase())?.id).toBe(d.id);
  } finally {
    q.close();
  }
});
