/**
 * A 50 MB message over SMTP with bounded memory: the body is produced chunk by chunk, streamed
 * with backpressure and never held whole. The receiving smtp-server runs in its own process
 * (peer-process.ts) so that this process's RSS measures the client alone; the peer hashes what
 * it receives.
 */

import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createSmtpAgent } from "../../src/delivery/smtp/index.ts";
import { createResolver } from "../../src/dns/index.ts";
import { makeConfig, makeRequest, recordingCleanup, removeTempDirs } from "./support.ts";

afterAll(() => removeTempDirs());

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

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const part of stream) {
    buf += decoder.decode(part);
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      yield JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
}

test("50 MB over SMTP: exact bytes, bounded memory", async () => {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "peer-process.ts")], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  const events = lines(proc.stdout);
  try {
    const { port } = (await events.next()).value as { port: number };
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

    expect(r.recipients[0].status).toBe("sent");
    const got = (await events.next()).value as { size: number; sha256: string };
    expect(got).toEqual({ size, sha256: expected.digest("hex") });
    const growthMb = (peak - base) / (1024 * 1024);
    console.log(
      `50 MB delivered in ${ms.toFixed(0)} ms; client RSS growth ${growthMb.toFixed(1)} MB`,
    );
    // Holding the body would add at least 50 MB; streaming stays well below.
    expect(growthMb).toBeLessThan(35);
  } finally {
    proc.stdin.end();
    await proc.exited;
  }
}, 120_000);
