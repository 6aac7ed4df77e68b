/**
 * Memory per session stays bounded by the chunk size whatever the message size (DESIGN.md):
 * a message of $message_size_limit passes through DATA and through BDAT into a cleanup session
 * that only counts bytes, while the heap is sampled.
 */
import { expect, test } from "bun:test";
import { SmtpClient } from "../helpers/smtp-client.ts";
import { startTestSmtpd } from "../helpers/smtp-harness.ts";

const LIMIT = 50 * 1024 * 1024;

/** Send `total` bytes of 78-character lines in 1 MiB pieces, never holding more. */
async function stream(c: SmtpClient, total: number): Promise<void> {
  const line = `${"m".repeat(76)}\r\n`;
  const piece = Buffer.from(line.repeat(Math.floor((1024 * 1024) / line.length)), "latin1");
  let sent = 0;
  while (sent + piece.length <= total) {
    await c.send(piece);
    sent += piece.length;
  }
  if (total > sent) await c.send(piece.subarray(0, total - sent));
}

function sampler() {
  Bun.gc(true);
  const base = process.memoryUsage();
  let peakHeap = base.heapUsed;
  let peakRss = base.rss;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return { heap: peakHeap - base.heapUsed, rss: peakRss - base.rss };
    },
  };
}

test("a message of message_size_limit size through DATA and BDAT: memory stays bounded", async () => {
  const h = await startTestSmtpd({
    mainCf: `message_size_limit = ${LIMIT}\nmydestination = example.test`,
    cleanup: { keepContent: false },
  });
  try {
    const c = await SmtpClient.connect(h.port);
    await c.line();
    await c.cmd("EHLO client.example.org");

    const s1 = sampler();
    await c.cmd("MAIL FROM:<a@example.org>");
    await c.cmd("RCPT TO:<b@example.test>");
    expect(await c.cmd("DATA")).toEqual(["354 End data with <CR><LF>.<CR><LF>"]);
    const content = Math.floor((LIMIT - 1024) / 78) * 78;
    await stream(c, content);
    const r = await c.cmd(".", 60_000);
    const viaData = s1.stop();
    expect(r[0]).toMatch(/^250 2\.0\.0 Ok: queued as /);
    const m1 = h.messages[0];
    expect(m1.size).toBe(content);
    // Content reaches cleanup as slices of what the socket delivered: no copies, no growth.
    expect(m1.largestWrite).toBeLessThanOrEqual(1024 * 1024);

    const s2 = sampler();
    await c.cmd("MAIL FROM:<a@example.org>");
    await c.cmd("RCPT TO:<b@example.test>");
    await c.send(`BDAT ${content} LAST\r\n`);
    await stream(c, content);
    const r2 = await c.reply(60_000);
    const viaBdat = s2.stop();
    expect(r2[0]).toMatch(new RegExp(`^250 2\\.0\\.0 Ok: ${content} bytes queued as `));
    expect(h.messages[1].size).toBe(content);

    if (process.env.POSTEIX_VERBOSE) console.log({ viaData, viaBdat });
    // 50 MB went through each time; the heap grew by a small fraction of that.
    expect(viaData.heap).toBeLessThan(24 * 1024 * 1024);
    expect(viaBdat.heap).toBeLessThan(24 * 1024 * 1024);
    await c.cmd("QUIT");
  } finally {
    await h.stop();
  }
}, 120_000);
