import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { openQueue } from "../../src/queue/index.ts";
import { message, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

const TOTAL = 50 * 1024 * 1024;
const PIECE = 64 * 1024;
// Budgets far under the 50 MB body: SQLite's 4 MiB page cache, a chunk or two in flight and
// allocator slack measure about 16 MiB of RSS here; the JS heap grows by under 1 MiB.
const RSS_LIMIT = 24 * 1024 * 1024;
const HEAP_LIMIT = 8 * 1024 * 1024;

/** The i-th 64 KiB piece of the body, made fresh each time so the test holds no copy. */
function piece(i: number): Uint8Array {
  const p = new Uint8Array(PIECE);
  const v = new Uint32Array(p.buffer);
  for (let k = 0; k < v.length; k++) v[k] = (i * 2654435761 + k * 40503) >>> 0;
  if (i === 0) p.set(new TextEncoder().encode("Subject: big\r\nX-Test: 1\r\n\r\n"));
  return p;
}

test("a 50 MB body is streamed in and out chunk by chunk with bounded memory", async () => {
  const q = openQueue({ directory: tempDir("big") });
  try {
    Bun.gc(true);
    const base = process.memoryUsage();
    let peakRss = base.rss;
    let peakHeap = base.heapUsed;
    const sample = () => {
      const m = process.memoryUsage();
      if (m.rss > peakRss) peakRss = m.rss;
      if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
    };

    const hashIn = createHash("sha256");
    const d = q.createDraft();
    for (let i = 0; i * PIECE < TOTAL; i++) {
      const p = piece(i);
      hashIn.update(p);
      d.write(p);
      if (i % 32 === 0) {
        Bun.gc(true);
        sample();
      }
    }
    await d.commit(message());
    sample();
    const writePeakRss = peakRss - base.rss;

    const hashOut = createHash("sha256");
    let bytes = 0;
    let chunks = 0;
    let biggest = 0;
    for (const c of q.body(d.id)) {
      hashOut.update(c);
      bytes += c.length;
      biggest = Math.max(biggest, c.length);
      if (++chunks % 8 === 0) {
        Bun.gc(true);
        sample();
      }
    }
    sample();
    expect(bytes).toBe(TOTAL);
    expect(q.get(d.id)!.size).toBe(TOTAL);
    expect(chunks).toBe(TOTAL / (256 * 1024));
    expect(biggest).toBe(256 * 1024);
    expect(hashOut.digest("hex")).toBe(hashIn.digest("hex"));
    expect(new TextDecoder().decode(q.headerBytes(d.id))).toBe("Subject: big\r\nX-Test: 1\r\n");

    const rssGrowth = peakRss - base.rss;
    const heapGrowth = peakHeap - base.heapUsed;
    console.log(
      `50 MB body: peak RSS +${(writePeakRss / 2 ** 20).toFixed(1)} MiB writing, ` +
        `+${(rssGrowth / 2 ** 20).toFixed(1)} MiB overall; heap +${(heapGrowth / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(rssGrowth).toBeLessThan(RSS_LIMIT);
    expect(heapGrowth).toBeLessThan(HEAP_LIMIT);

    q.remove(d.id, "done");
    expect(q.integrityCheck()).toEqual(["ok"]);
  } finally {
    q.close();
  }
}, 60_000);
