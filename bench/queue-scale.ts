/**
 * `npm run bench -- --queue-scale`: posteix with 1,000,000 deferred messages in its queue
 * (none due). Measures: accept throughput against the same run on an empty queue, CPU used in
 * 10 s of idling, `mailq`'s first line and its whole output, the REST API's first page, and the
 * start-up time with that queue. The queue is built once with plain SQL into the schema
 * posteix made (kept in /tmp/posteix-bench/qs-data for later runs).
 */
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn, spawnSync } from "bun";
import { openQueue } from "../src/queue/index.ts";
import { startTimed, stop } from "./extras.ts";

export interface QueueScaleOptions {
  bin: string;
  work: string;
  port: number;
  sink: number;
  quick: boolean;
  root: string;
  log: (msg: string) => void;
}

const API_PORT = 8026;

function buildQueue(dir: string, n: number, log: (m: string) => void): void {
  const marker = join(dir, `built-${n}`);
  if (existsSync(marker)) return;
  log(`queue-scale: building a queue of ${n} deferred messages in ${dir}`);
  spawnSync(["rm", "-rf", dir]);
  mkdirSync(dir, { recursive: true });
  openQueue({ directory: dir }).close();
  const db = new Database(join(dir, "queue.db"));
  db.run("PRAGMA synchronous = OFF"); // a fixture, written once
  const now = Date.now();
  const body = new TextEncoder().encode(
    "From: <a@example.com>\r\nTo: <b@example.net>\r\nSubject: queue scale\r\n\r\nhello\r\n",
  );
  const msg = db.prepare(
    `INSERT INTO messages (id, state, sender, size, chunks, arrival, next_attempt, attempts,
      reason, smtputf8, origin) VALUES (?, 'deferred', 'a@example.com', ?, 1, ?, ?, 1, ?, 0, 'smtpd')`,
  );
  const rcpt = db.prepare(
    `INSERT INTO recipients (id, idx, address, domain, status, dsn, diagnostic, relay, updated_at)
     VALUES (?, 0, 'b@unreachable.example', 'unreachable.example', 'deferred', '4.4.1', ?, 'none', ?)`,
  );
  const chunk = db.prepare("INSERT INTO chunks (id, seq, written, data) VALUES (?, 0, ?, ?)");
  const reason = "connect to mx.unreachable.example[192.0.2.1]:25: Connection refused";
  const t0 = performance.now();
  for (let start = 0; start < n; start += 50_000) {
    db.run("BEGIN");
    for (let i = start; i < Math.min(n, start + 50_000); i++) {
      const id = `F${i.toString(16).toUpperCase().padStart(11, "0")}`;
      const arrival = now - 86_400_000 + i;
      msg.run(id, body.length, arrival, now + 30 * 86_400_000 + i, reason);
      rcpt.run(id, reason, arrival);
      chunk.run(id, arrival, body);
    }
    db.run("COMMIT");
  }
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  writeFileSync(marker, "");
  log(`queue-scale: built in ${Math.round((performance.now() - t0) / 1000)} s`);
}

function conf(dir: string, queue: string, o: QueueScaleOptions): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "main.cf"),
    `queue_directory = ${queue}
myhostname = bench.example.com
relayhost = [127.0.0.1]:${o.sink}
api_listen = 127.0.0.1:${API_PORT}
smtpd_peername_lookup = no
maillog_file = ${o.work}/maillog-qs
`,
  );
  writeFileSync(
    join(dir, "master.cf"),
    `127.0.0.1:${o.port} inet n - n - - smtpd
smtp unix - - n - - smtp
relay unix - - n - - smtp
local unix - n n - - local
error unix - - n - - error
`,
  );
  return dir;
}

function ticks(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

function acceptRun(o: QueueScaleOptions, confDir: string, messages: number): number | null {
  const r = spawnSync(
    ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
      .concat([process.execPath, join(import.meta.dir, "mta-run.ts"), "--mta", "posteix"])
      .concat(["--posteix-bin", o.bin, "--posteix-conf", confDir, "--keep-queue"])
      .concat(["--target", `127.0.0.1:${o.port}`, "--sink-port", String(o.sink)])
      .concat(["--messages", String(messages), "--warmup", "500", "--load", "smtp-source"]),
    { stdout: "pipe", stderr: "pipe" },
  );
  try {
    const j = JSON.parse(r.stdout.toString().trim().split("\n").at(-1) ?? "");
    return j.ok ? Number(j.accept_msgs_per_s) : null;
  } catch {
    o.log(`queue-scale: accept run failed: ${r.stderr.toString().slice(-300)}`);
    return null;
  }
}

export async function queueScale(o: QueueScaleOptions): Promise<{ lines: string[]; raw: unknown }> {
  const n = o.quick ? 20_000 : 1_000_000;
  const full = join(o.work, "qs-data");
  const empty = join(o.work, "qs-empty");
  buildQueue(full, n, o.log);
  const confFull = conf(join(o.work, "qs-etc"), full, o);
  const confEmpty = conf(join(o.work, "qs-etc-empty"), empty, o);
  const raw: Record<string, unknown> = { messages: n };

  // Start-up, idle CPU, mailq and the API on the full queue.
  o.log("queue-scale: start-up, idle CPU, mailq, API");
  const { ms: startMs, proc } = await startTimed([o.bin, "-c", confFull, "run", "--quiet"], o.port);
  raw.startupMs = startMs;
  await Bun.sleep(2000);
  const c0 = ticks(proc.pid);
  await Bun.sleep(10_000);
  const idleCpuMs = (ticks(proc.pid) - c0) * 10;
  raw.idleCpuMsPer10s = idleCpuMs;

  const token = readFileSync(join(full, "api-tokens"), "utf8")
    .split("\n")
    .find((l) => l.trim() && !l.startsWith("#"))
    ?.trim();
  const api: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${API_PORT}/api/v1/queue?limit=100`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as { messages?: unknown[] };
    api.push(Math.round((performance.now() - t0) * 10) / 10);
    if (!res.ok || !body.messages || body.messages.length !== 100) api.push(Number.NaN);
  }
  raw.apiFirstPageMs = api;

  const t0 = performance.now();
  const mq = spawn([o.bin, "-c", confFull, "mailq"], { stdout: "pipe", stderr: "ignore" });
  const reader = mq.stdout.getReader();
  let firstLineMs: number | null = null;
  let bytes = 0;
  let newlines = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (firstLineMs === null && value.includes(10)) firstLineMs = performance.now() - t0;
    bytes += value.length;
    for (const b of value) if (b === 10) newlines++;
  }
  await mq.exited;
  const mailqTotalMs = performance.now() - t0;
  raw.mailq = { firstLineMs, totalMs: mailqTotalMs, bytes, lines: newlines };
  await stop(proc);

  // Accept throughput: full queue against empty queue, alternating.
  const msgs = o.quick ? 300 : 5000;
  const fullRates: number[] = [];
  const emptyRates: number[] = [];
  for (let i = 0; i < (o.quick ? 1 : 2); i++) {
    o.log(`queue-scale: accept run ${i + 1} (empty, then ${n} deferred)`);
    spawnSync(["rm", "-rf", empty]);
    const e = acceptRun(o, confEmpty, msgs);
    const f = acceptRun(o, confFull, msgs);
    if (e !== null) emptyRates.push(e);
    if (f !== null) fullRates.push(f);
  }
  const med = (xs: number[]) =>
    xs.length ? xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] : null;
  raw.accept = { full: fullRates, empty: emptyRates };
  const ef = med(emptyRates);
  const ff = med(fullRates);
  const lines = [
    `queue scale (${n} deferred messages, none due):`,
    `  accept (1 rcpt, 1 msg/session, smtp-source): ${ff ?? "-"} msg/s vs ${ef ?? "-"} msg/s on an empty queue = ${ff && ef ? `${Math.round((100 * ff) / ef)}%` : "-"}`,
    `  CPU while idle: ${idleCpuMs} ms in 10 s`,
    `  mailq: first line after ${firstLineMs === null ? "-" : Math.round(firstLineMs)} ms, all ${newlines} lines (${Math.round(bytes / 1048576)} MB) in ${Math.round(mailqTotalMs / 100) / 10} s`,
    `  REST API first page (GET /api/v1/queue?limit=100): ${api.join(", ")} ms`,
    `  start-up to a listening socket with that queue: ${startMs ?? "-"} ms`,
  ];
  return { lines, raw };
}
