/**
 * The client half of test/delivery/smtp-large.test.ts, run in a process of its own: a test
 * process that has run hundreds of other tests has a heap and allocator state that make RSS
 * growth meaningless (the measurement depended on test order). Prints one JSON line.
 */
import { createHash } from "node:crypto";
import { createSmtpAgent } from "../../src/delivery/smtp/index.ts";
import { createResolver } from "../../src/dns/index.ts";
import { makeConfig, makeRequest, recordingCleanup, removeTempDirs } from "./support.ts";

const TOTAL = 50 * 1024 * 1024;
const CHUNK = 256 * 1024;

/** One chunk of 76-byte lines, every 50th starting with a dot (dot-stuffed on the wire). */
function makeChunk(): Uint8Array {
  const line = `${"abcdefghijklmnopqrstuvwxyz0123456789".repeat(2)}AB\r\n`;
  const dotted = `.${line.slice(1)}`;
  let s = "";
  for (let i = 0; s.length < CHUNK; i++) s += i % 50 === 0 ? dotted : line;
  return new TextEncoder().encode(s.slice(0, CHUNK - (CHUNK % line.length)));
}

export async function clientRun(
  port: number,
): Promise<{ status: string; growthMb: number; ms: number; size: number; sha256: string }> {
  const agent = createSmtpAgent({
    resolver: createResolver({ servers: ["127.0.0.1:1"] }),
    newCleanup: recordingCleanup().newCleanup,
    hostname: "client.test",
  });
  const chunk = makeChunk();
  const header = new TextEncoder().encode("Subject: large\r\n\r\n");
  const count = Math.ceil((TOTAL - header.length) / chunk.length);
  const expected = createHash("sha256").update(header);
  for (let i = 0; i < count; i++) expected.update(chunk);
  const size = header.length + count * chunk.length;
  const cfg = makeConfig({
    smtp_tls_security_level: "none",
    smtp_connection_cache_on_demand: "no",
  });
  const req = makeRequest({
    cfg,
    nexthop: `[127.0.0.1]:${port}`,
    recipients: ["big@x.test"],
    message: { size },
  });
  req.body = async function* () {
    yield header;
    // A fresh copy each time, as the queue reads a new chunk from disk.
    for (let i = 0; i < count; i++) yield chunk.slice();
  };
  Bun.gc(true);
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const t0 = performance.now();
  const r = await agent.deliver(req);
  const ms = performance.now() - t0;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  await agent.close();
  return {
    status: r.recipients[0].status,
    growthMb: (peak - base) / (1024 * 1024),
    ms,
    size,
    sha256: expected.digest("hex"),
  };
}

const result = await clientRun(Number(process.argv[2]));
removeTempDirs();
process.stdout.write(`${JSON.stringify(result)}\n`);
