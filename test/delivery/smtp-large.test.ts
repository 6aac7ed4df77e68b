/**
 * A 50 MB message over SMTP with bounded memory: the body is produced chunk by chunk, streamed
 * with backpressure and never held whole. The receiving smtp-server runs in its own process
 * (peer-process.ts) and so does the client (large-client.ts), whose RSS growth is measured; the
 * peer hashes what it receives.
 */

import { expect, test } from "bun:test";
import { join } from "node:path";

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
    const client = Bun.spawn(
      [process.execPath, join(import.meta.dir, "large-client.ts"), String(port)],
      {
        stdout: "pipe",
        stderr: "inherit",
      },
    );
    const out = await new Response(client.stdout).text();
    expect(await client.exited).toBe(0);
    const r = JSON.parse(out.trim().split("\n").pop()!) as {
      status: string;
      growthMb: number;
      ms: number;
      size: number;
      sha256: string;
    };
    expect(r.status).toBe("sent");
    const got = (await events.next()).value as { size: number; sha256: string };
    expect(got).toEqual({ size: r.size, sha256: r.sha256 });
    console.log(
      `50 MB delivered in ${r.ms.toFixed(0)} ms; client RSS growth ${r.growthMb.toFixed(1)} MB`,
    );
    // Holding the body would add at least 50 MB; streaming stays well below.
    expect(r.growthMb).toBeLessThan(35);
  } finally {
    proc.stdin.end();
    await proc.exited;
  }
}, 120_000);
