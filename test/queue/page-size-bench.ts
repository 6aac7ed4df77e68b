/**
 * Page-size measurement for queue.db (a script, not a test):
 *   ./node_modules/.bin/bun test/queue/page-size-bench.ts
 * For each page size, medians over five interleaved rounds of: 1 KB messages committed in
 * group batches of 20 (one fsync per batch) and one at a time, 32 KB messages in batches of
 * 20, and one 20 MB body written in 64 KiB pieces and committed.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openQueue } from "../../src/queue/index.ts";

const ROUNDS = 5;
const PAGE_SIZES = [4096, 16384, 65536];
const msg = {
  sender: "a@example.com",
  recipients: [{ address: "b@example.net" }],
  origin: "bench",
};

async function withQueue<T>(pageSize: number, fn: (q: ReturnType<typeof openQueue>) => Promise<T>) {
  const dir = mkdtempSync(join(tmpdir(), `posteix-bench-${pageSize}-`));
  const q = openQueue({ directory: dir, pageSize });
  try {
    return await fn(q);
  } finally {
    q.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Messages per second. */
function small(pageSize: number, size: number, count: number, batch: number): Promise<number> {
  return withQueue(pageSize, async (q) => {
    const body = new Uint8Array(size).fill(0x61);
    const t = performance.now();
    for (let i = 0; i < count; i += batch) {
      const commits: Promise<void>[] = [];
      for (let j = 0; j < batch; j++) {
        const d = q.createDraft();
        d.write(body);
        commits.push(d.commit(msg));
      }
      await Promise.all(commits);
    }
    return count / ((performance.now() - t) / 1000);
  });
}

/** Milliseconds to write and commit 20 MB. */
function big(pageSize: number): Promise<number> {
  return withQueue(pageSize, async (q) => {
    const piece = new Uint8Array(64 * 1024).fill(0x62);
    const t = performance.now();
    const d = q.createDraft();
    for (let n = 0; n < 20 * 1024 * 1024; n += piece.length) d.write(piece);
    await d.commit(msg);
    return performance.now() - t;
  });
}

const results = new Map<string, number[]>();
const add = (k: string, v: number) => results.set(k, [...(results.get(k) ?? []), v]);
for (let round = 0; round < ROUNDS; round++) {
  for (const ps of PAGE_SIZES) {
    add(`${ps} 1KB x20 msg/s`, await small(ps, 1024, 3000, 20));
    add(`${ps} 1KB x1 msg/s`, await small(ps, 1024, 500, 1));
    add(`${ps} 32KB x20 msg/s`, await small(ps, 32 * 1024, 3000, 20));
    add(`${ps} 20MB ms`, await big(ps));
  }
}
for (const [k, v] of results) {
  v.sort((a, b) => a - b);
  const f = (x: number) => String(Math.round(x)).padStart(6);
  console.log(`${k.padEnd(22)} median ${f(v[v.length >> 1])}  min ${f(v[0])}  max ${f(v.at(-1)!)}`);
}
