import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { openQueue } from "../../src/queue/index.ts";
import { runWriter, type WriterReport } from "./fixtures/writer-core.ts";
import { BUN, readAll, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

const COUNT = 600;

test("two processes write the same queue at once; no SQLITE_BUSY escapes", async () => {
  const dir = tempDir("writers");
  openQueue({ directory: dir }).close();
  const child = Bun.spawn(
    [BUN, join(import.meta.dir, "fixtures", "writer.ts"), dir, "child", String(COUNT)],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const reader = child.stdout.getReader();
  let out = "";
  const deadline = Date.now() + 10_000;
  while (!out.includes("ready\n") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  expect(out).toContain("ready\n");

  const q = openQueue({ directory: dir });
  try {
    const mine: WriterReport = await runWriter(q, "parent", COUNT);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    expect(await child.exited).toBe(0);
    expect(await new Response(child.stderr).text()).toBe("");
    const theirs = JSON.parse(out.trim().split("\n").at(-1)!) as WriterReport & { fatal?: string };
    expect(theirs.fatal).toBeUndefined();
    expect(mine.errors).toEqual([]);
    expect(theirs.errors).toEqual([]);
    expect(mine.committed.length).toBe(COUNT);
    expect(theirs.committed.length).toBe(COUNT);
    expect(new Set([...mine.committed, ...theirs.committed]).size).toBe(2 * COUNT);

    // Both processes' work is all there, bodies whole.
    const counts = q.summary();
    expect(counts.incoming.count + counts.deferred.count).toBe(2 * COUNT);
    const bodyLen = (tag: string) => `Subject: from ${tag}\r\n\r\nhello\r\n`.length;
    const bigTotal = (COUNT / 10) * 600 * 1024;
    expect(counts.incoming.bytes + counts.deferred.bytes).toBe(
      COUNT * (bodyLen("child") + bodyLen("parent")) + 2 * bigTotal,
    );
    expect(readAll(q, theirs.committed[9]).length).toBe(bodyLen("child") + 600 * 1024);
    expect(readAll(q, mine.committed[9]).length).toBe(bodyLen("parent") + 600 * 1024);
    // The two really ran at the same time: their arrival spans overlap.
    const span = (ids: string[]) => [q.get(ids[0])!.arrivalTime, q.get(ids.at(-1)!)!.arrivalTime];
    const [c0, c1] = span(theirs.committed);
    const [p0, p1] = span(mine.committed);
    expect(c0 < p1 && p0 < c1).toBe(true);
    expect(q.list({ sender: "child@" }, { limit: 10_000 }).messages.length).toBe(COUNT);
    expect(q.integrityCheck()).toEqual(["ok"]);
  } finally {
    q.close();
    child.kill();
  }
}, 60_000);
