/**
 * Test helpers for the queue tools: a temporary configuration directory with its own queue,
 * messages made through the queue API at fixed arrival times, and a CliIO that captures.
 */
import { setSystemTime } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CliIO } from "../../src/cli/types.ts";
import { openQueue, type QueueStore } from "../../src/queue/index.ts";

export interface TestDir {
  dir: string; // configuration directory (main.cf)
  queueDir: string;
  queue: QueueStore;
  cleanup(): void;
}

export function makeTestDir(mainCf = ""): TestDir {
  const dir = mkdtempSync(join(tmpdir(), "posteix-cli-"));
  const queueDir = join(dir, "queue");
  writeFileSync(join(dir, "main.cf"), `queue_directory = ${queueDir}\n${mainCf}`);
  const queue = openQueue({ directory: queueDir });
  return {
    dir,
    queueDir,
    queue,
    cleanup() {
      queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface NewTestMessage {
  sender: string;
  recipients: (string | { address: string; original?: string; orcpt?: string })[];
  body: string | Uint8Array;
  /** Arrival time (ms since epoch); default now. */
  at?: number;
  client?: boolean;
}

/** Queue one message (state incoming) and return its queue ID. */
export async function addMessage(queue: QueueStore, m: NewTestMessage): Promise<string> {
  if (m.at !== undefined) setSystemTime(new Date(m.at));
  try {
    const draft = queue.createDraft();
    draft.write(typeof m.body === "string" ? new TextEncoder().encode(m.body) : m.body);
    await draft.commit({
      sender: m.sender,
      recipients: m.recipients.map((r) => (typeof r === "string" ? { address: r } : r)),
      origin: m.client ? "smtpd" : "sendmail",
      client: m.client
        ? { name: "mx.example.net", addr: "192.0.2.1", helo: "mx.example.net", protocol: "ESMTP" }
        : undefined,
    });
    return draft.id;
  } finally {
    if (m.at !== undefined) setSystemTime();
  }
}

/** Claim exactly this (only incoming) message: it becomes active. */
export function makeActive(queue: QueueStore, id: string): void {
  const got = queue.claimDue(Date.now() + 1000, 1);
  if (got.length !== 1 || got[0].id !== id) throw new Error(`claimed ${got.map((m) => m.id)}`);
}

/** Make the (only incoming) message deferred, its first recipients deferred with `reasons`. */
export function makeDeferred(queue: QueueStore, id: string, reasons: (string | null)[]): void {
  makeActive(queue, id);
  const results = reasons.flatMap((r, index) =>
    r === null ? [] : [{ index, status: "deferred" as const, dsn: "4.4.1", diagnostic: r }],
  );
  if (results.length > 0) queue.recordResults(id, results);
  queue.defer(id, Date.now() + 3_600_000, reasons.find((r) => r !== null) ?? "deferred");
}

export interface Captured {
  io: CliIO;
  out: () => string;
  err: () => string;
  bytes: () => Uint8Array;
  writes: string[];
}

export function captureIO(
  configDir: string | null,
  progName: string,
  opts: { stdin?: string; tty?: boolean; withBytes?: boolean } = {},
): Captured {
  const writes: string[] = [];
  const errs: string[] = [];
  const raw: Uint8Array[] = [];
  const enc = new TextEncoder();
  const io: CliIO = {
    stdout: (t) => {
      writes.push(t);
      raw.push(enc.encode(t));
    },
    stderr: (t) => {
      errs.push(t);
    },
    stdin: () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          if (opts.stdin) c.enqueue(enc.encode(opts.stdin));
          c.close();
        },
      }),
    configDir,
    progName,
    stdinIsTTY: opts.tty ?? false,
  };
  if (opts.withBytes !== false) {
    io.stdoutBytes = (b) => {
      writes.push(new TextDecoder().decode(b));
      raw.push(b.slice());
    };
  }
  return {
    io,
    writes,
    out: () => writes.join(""),
    err: () => errs.join(""),
    bytes: () => Buffer.concat(raw),
  };
}

const BUN = join(import.meta.dir, "../../node_modules/.bin/bun");
const MAIN = join(import.meta.dir, "../../src/main.ts");

/** Run `bun src/main.ts ARGS` as a real process; TZ=UTC unless env says otherwise. */
export async function runMain(
  args: string[],
  opts: { stdin?: string; env?: Record<string, string>; argv0?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([BUN, MAIN, ...args], {
    // argv0 "…/mailq" is what a link made by install-links gives the compiled binary.
    argv0: opts.argv0,
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, TZ: "UTC", POSTEIX_CONFIG_DIR: "", ...opts.env },
  });
  const timer = setTimeout(() => proc.kill(), 30_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export { BUN, MAIN };

/** asctime()-style time of a fixed UTC moment, for building golden strings readably. */
export const AT = (iso: string): number => Date.parse(iso);
