/**
 * A notice about a 50 MB message never holds the message in memory: the composer reads only
 * what it returns (headers, or up to $bounce_size_limit), and even with no limit at all the
 * original streams through in the source's own chunks.
 */
import { expect, test } from "bun:test";
import { composeNotice } from "../../src/bounce/index.ts";
import { BASE_CFG, message, NOW, recipient, testConfig } from "./fixture.ts";

const SIZE = 50 * 1024 * 1024;
const CHUNK = 64 * 1024;
const HEADERS = "From: Alice <alice@example.net>\r\nSubject: big\r\n\r\n";

/** A 50 MB message from one reused buffer; counts the bytes the composer pulls. */
function bigOriginal(headers = HEADERS) {
  const line = `${"z".repeat(78)}\r\n`;
  const body = new TextEncoder().encode(
    line.repeat(Math.ceil(CHUNK / line.length)).slice(0, CHUNK),
  );
  const head = new TextEncoder().encode(headers);
  const stats = { pulled: 0, calls: 0 };
  const read = function* (): Generator<Uint8Array> {
    stats.calls++;
    stats.pulled += head.length;
    yield head;
    for (let sent = head.length; sent < SIZE; sent += CHUNK) {
      stats.pulled += CHUNK;
      yield body;
    }
  };
  return { read, stats };
}

function rss(): number {
  return process.memoryUsage().rss;
}

test("RET=FULL of a 50 MB message reads and returns the headers only", () => {
  const { read, stats } = bigOriginal();
  const notice = composeNotice({
    kind: "failure",
    message: message({ size: SIZE }),
    recipients: [recipient()],
    originalContent: read,
    cfg: testConfig(BASE_CFG),
    now: NOW,
  });
  let bytes = 0;
  for (const c of notice?.content ?? []) bytes += c.length;
  expect(bytes).toBeLessThan(5000);
  // Two passes (boundary check, output), each stopping in the first chunk.
  expect(stats.calls).toBe(2);
  expect(stats.pulled).toBeLessThanOrEqual(2 * (HEADERS.length + CHUNK));
});

test("headers-only of a message that is all headers stops at bounce_size_limit", () => {
  // 50 MB without an empty line: every line looks like a header.
  const lines = new TextEncoder().encode("X-Pad: 0123456789012345678901234567890\r\n".repeat(1600));
  let pulled = 0;
  const read = function* (): Generator<Uint8Array> {
    for (let sent = 0; sent < SIZE; sent += lines.length) {
      pulled += lines.length;
      yield lines;
    }
  };
  const notice = composeNotice({
    kind: "delay",
    message: message({ size: SIZE }),
    recipients: [recipient()],
    originalContent: read,
    cfg: testConfig(BASE_CFG),
    now: NOW,
  });
  let bytes = 0;
  for (const c of notice?.content ?? []) bytes += c.length;
  expect(bytes).toBeGreaterThan(50000);
  expect(bytes).toBeLessThan(50000 + 5000);
  expect(pulled).toBeLessThanOrEqual(2 * 2 * lines.length);
});

test("with no size limit a 50 MB original streams through in bounded memory", () => {
  const { read, stats } = bigOriginal();
  const notice = composeNotice({
    kind: "failure",
    message: message({ size: SIZE }),
    recipients: [recipient()],
    originalContent: read,
    cfg: testConfig({ ...BASE_CFG, bounce_size_limit: "0" }),
    now: NOW,
  });
  if (!notice) throw new Error("expected a notice");
  Bun.gc(true);
  const before = rss();
  let peak = before;
  let bytes = 0;
  let n = 0;
  const started = performance.now();
  for (const c of notice.content) {
    bytes += c.length;
    if (++n % 64 === 0) peak = Math.max(peak, rss());
  }
  peak = Math.max(peak, rss());
  const ms = performance.now() - started;
  const growth = peak - before;
  console.log(
    `50 MB original, no limit: ${(bytes / 1048576).toFixed(1)} MB out in ${ms.toFixed(0)} ms, ` +
      `RSS growth ${(growth / 1048576).toFixed(1)} MB`,
  );
  expect(bytes).toBeGreaterThan(SIZE);
  expect(bytes).toBeLessThan(SIZE + 10_000);
  expect(stats.calls).toBe(2);
  // Holding the message would cost at least 50 MB.
  expect(growth).toBeLessThan(20 * 1024 * 1024);
});
