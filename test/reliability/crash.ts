/**
 * The crash test: posteix relays a stream of messages from several concurrent clients to an
 * smtp-server peer (its own process, test/reliability/crash-peer.ts) and into virtual
 * Maildirs, while this harness SIGKILLs it at chosen moments and starts it again:
 *
 *   data      a client is in the middle of sending DATA content
 *   after250  a client has just read 250 to its end of data
 *   delivery  qmgr has just activated a message (smtp/virtual deliveries under way)
 *   bounce    a recipient has just bounced (the peer rejects `reject*` with 550): DSN under way
 *   startup   right after the start (recovery of the previous crash)
 *   random    any time
 *
 * At the end (a last start, the queue drained, a graceful stop) it checks what DESIGN.md
 * promises: every message that got 250 was delivered to each of its recipients at least once
 * and its bounce notice exists; a message that never got 250 was delivered only if its 250 could
 * have been lost in flight (the client had sent the end of data when the connection died);
 * duplicates are counted; Maildir new/ holds only whole files; the queue database passes
 * PRAGMA integrity_check.
 *
 * Run by scripts/crash-test.ts (`npm run test:crash`, the compiled binary) and, in a small form,
 * by test/reliability/crash.test.ts (bun src/main.ts).
 */
import { Database } from "bun:sqlite";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { SmtpClient } from "../helpers/smtp-client.ts";

export type KillMode = "data" | "after250" | "delivery" | "bounce" | "startup" | "random";
const MODES: KillMode[] = ["data", "after250", "delivery", "bounce", "startup", "random"];

export interface CrashOptions {
  /** How to start posteix: e.g. ["dist/posteix"] or [bun, "src/main.ts"]. */
  command: string[];
  kills: number;
  /** Messages to get accepted (250) in all. */
  messages: number;
  clients: number;
  /** Print progress to stderr. */
  verbose?: boolean;
  /** Keep the work directory (for a post-mortem). */
  keep?: boolean;
}

export interface CrashReport {
  kills: number;
  killsByMode: Record<string, number>;
  attempts: number;
  accepted: number;
  inFlight: number;
  rejected: number;
  notSent: number;
  delivered: number;
  lost: string[];
  unexpected: string[];
  duplicates: number;
  bouncesExpected: number;
  bouncesMissing: string[];
  incompleteFiles: string[];
  tmpLeftovers: number;
  integrity: string;
  check: string;
  problems: string[];
  seconds: number;
  workDir: string;
}

type Status = "not-sent" | "in-flight" | "accepted" | "rejected";

interface Attempt {
  id: string;
  /** Every recipient, and what each expects: peer (250), reject (550, a DSN), box (Maildir). */
  rcpts: { address: string; kind: "peer" | "reject" | "box" }[];
  status: Status;
  reply?: string;
}

const BOXES = ["box1", "box2", "box3"];

function rand(n: number): number {
  return Math.floor(Math.random() * n);
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Lines of a byte stream, as they come. */
async function eachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    for (let i = buf.indexOf("\n"); i !== -1; i = buf.indexOf("\n")) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
  if (buf) onLine(buf);
}

function body(a: Attempt): string {
  const lines = [
    `Message-ID: <${a.id}@crash.test>`,
    `X-Crash-Id: ${a.id}`,
    "From: <bounces@vmail.test>",
    `To: ${a.rcpts.map((r) => `<${r.address}>`).join(", ")}`,
    `Subject: crash test ${a.id}`,
    "",
  ];
  // Mostly small; now and then past the 256 KiB body chunk, so kills land between chunks.
  const n = rand(20) === 0 ? 4000 : 10 + rand(60);
  for (let i = 0; i < n; i++) {
    // A leading dot now and then: dot-stuffing both ways.
    lines.push(
      i % 17 === 5 ? `.line ${i} of ${a.id} ${"x".repeat(50)}` : `line ${i} ${"y".repeat(60)}`,
    );
  }
  lines.push(`END-OF-${a.id}`);
  return `${lines.join("\r\n")}\r\n`;
}

/**
 * crash-peer.ts in its own process, appending what it receives to `logFile`; stop it by
 * closing its standard input (`proc.stdin.end()`).
 */
export async function startPeerProcess(
  logFile: string,
  env: Record<string, string> = {},
): Promise<{ proc: Subprocess<"pipe", "pipe", "inherit">; port: number }> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "crash-peer.ts")], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, PEER_LOG: logFile, ...env },
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("peer did not start")), 15_000);
    void eachLine(proc.stdout, (l) => {
      clearTimeout(timer);
      try {
        resolve((JSON.parse(l) as { port: number }).port);
      } catch {
        reject(new Error(`peer said: ${l}`));
      }
    });
  });
  return { proc, port };
}

/** The records crash-peer.ts wrote. */
export interface PeerRecord {
  id: string | null;
  messageId: string | null;
  from: string | null;
  rcpt: string[];
  size: number;
  complete: boolean;
  bareLfDot: boolean;
  time: number;
}

export function peerRecords(logFile: string): PeerRecord[] {
  return readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as PeerRecord);
}

export async function runCrashTest(opts: CrashOptions): Promise<CrashReport> {
  const started = performance.now();
  const work = mkdtempSync(join(tmpdir(), "posteix-crash-"));
  // Started as root, posteix runs as $mail_owner: it must be able to reach its directories.
  chmodSync(work, 0o755);
  const etc = join(work, "etc");
  mkdirSync(etc, { mode: 0o755 });
  const peerLog = join(work, "peer.jsonl");
  writeFileSync(peerLog, "");
  const say = (s: string) => {
    if (opts.verbose) process.stderr.write(`crash: ${s}\n`);
  };

  // --- the peer, in its own process
  const { proc: peer, port: peerPort } = await startPeerProcess(peerLog, { PEER_DELAY_MS: "20" });

  const port = await freePort();
  writeFileSync(
    join(etc, "main.cf"),
    [
      `queue_directory = ${work}/data`,
      "myhostname = mx.crash.test",
      "mydomain = crash.test",
      "mydestination =",
      "mynetworks = 127.0.0.0/8",
      `relayhost = [127.0.0.1]:${peerPort}`,
      "api_listen =",
      "smtpd_peername_lookup = no",
      "minimal_backoff_time = 1s",
      "maximal_backoff_time = 2s",
      "queue_run_delay = 1s",
      "virtual_mailbox_domains = vmail.test",
      `virtual_mailbox_base = ${work}/vmail`,
      `virtual_mailbox_maps = texthash:${etc}/vmailbox`,
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(etc, "vmailbox"),
    `${[...BOXES, "bounces"].map((b) => `${b}@vmail.test ${b}/`).join("\n")}\n`,
  );
  writeFileSync(
    join(etc, "master.cf"),
    [
      `127.0.0.1:${port} inet n - n - - smtpd`,
      "smtp unix - - n - - smtp",
      "relay unix - - n - - smtp",
      "virtual unix - n n - - virtual",
      "local unix - n n - - local",
      "error unix - - n - - error",
      "retry unix - - n - - error",
      "discard unix - - n - - discard",
      "",
    ].join("\n"),
  );

  // --- the daemon, started and killed again and again
  const attempts: Attempt[] = [];
  let seq = 0;
  let accepted = 0;
  let stopClients = false;
  const problems: string[] = [];
  const recentLog: string[] = [];
  const logProblems: string[] = [];
  /** The kill trigger armed now; called with what just happened. */
  let trigger: ((what: KillMode) => void) | null = null;
  let daemon: Subprocess<"ignore", "ignore", "pipe"> | null = null;
  let ready: (() => void) | null = null;

  const start = (): Promise<void> => {
    const p = Bun.spawn([...opts.command, "-c", etc, "run", "--quiet"], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, POSTEIX_CONFIG_DIR: "" },
    });
    daemon = p;
    const up = new Promise<void>((resolve) => {
      ready = resolve;
    });
    void eachLine(p.stderr, (line) => {
      recentLog.push(line);
      if (recentLog.length > 200) recentLog.shift();
      if (/daemon started/.test(line)) ready?.();
      if (
        /\bfatal\b|\bpanic\b|unexpected error|Segmentation|cannot record|cannot finish/i.test(line)
      )
        logProblems.push(line);
      if (trigger) {
        if (/\(queue active\)/.test(line)) trigger("delivery");
        else if (/status=bounced/.test(line)) trigger("bounce");
      }
    });
    return up;
  };

  const kill = async (): Promise<void> => {
    const p = daemon;
    if (!p) return;
    p.kill("SIGKILL");
    await p.exited;
    daemon = null;
  };

  // --- clients
  const clientLoop = async (n: number): Promise<void> => {
    while (!stopClients) {
      let c: SmtpClient;
      try {
        c = await SmtpClient.connect(port);
      } catch {
        await Bun.sleep(20 + rand(30));
        continue;
      }
      try {
        const greet = await c.line(10_000);
        if (!greet.startsWith("220")) throw new Error(greet);
        if (!(await c.cmd(`EHLO client${n}.crash.test`, 10_000)).at(-1)?.startsWith("250"))
          throw new Error("EHLO");
        const perSession = 1 + rand(15);
        for (let k = 0; k < perSession && !stopClients; k++) {
          const a: Attempt = { id: `m${++seq}`, rcpts: [], status: "not-sent" };
          a.rcpts.push({ address: `good${1 + rand(2)}@remote.test`, kind: "peer" });
          if (rand(3) === 0) a.rcpts.push({ address: `${BOXES[rand(3)]}@vmail.test`, kind: "box" });
          if (rand(6) === 0)
            a.rcpts.push({ address: `reject-${a.id}@remote.test`, kind: "reject" });
          if (rand(8) === 0) a.rcpts.shift(); // now and then no peer recipient at all
          if (a.rcpts.length === 0) a.rcpts.push({ address: "box1@vmail.test", kind: "box" });
          attempts.push(a);
          if (!(await c.cmd("MAIL FROM:<bounces@vmail.test>", 10_000))[0].startsWith("250"))
            throw new Error("MAIL");
          for (const r of a.rcpts) {
            const rr = (await c.cmd(`RCPT TO:<${r.address}>`, 10_000))[0];
            if (!rr.startsWith("250")) throw new Error(`RCPT ${rr}`);
          }
          if (!(await c.cmd("DATA", 10_000))[0].startsWith("354")) throw new Error("DATA");
          const text = body(a);
          if (rand(3) === 0) {
            // In two writes with a pause: a "data" kill lands in the middle.
            const cut = rand(text.length);
            await c.send(text.slice(0, cut));
            if (c.closed) throw new Error("closed during DATA");
            trigger?.("data");
            await Bun.sleep(5 + rand(20));
            await c.send(text.slice(cut));
          } else await c.send(text);
          if (c.closed) throw new Error("closed during DATA");
          // From here on the server may have committed the message: its 250 can be lost.
          a.status = "in-flight";
          await c.send(".\r\n");
          const reply = (await c.reply(30_000)).join("\n");
          a.reply = reply;
          if (reply.startsWith("250")) {
            a.status = "accepted";
            accepted++;
            trigger?.("after250");
          } else a.status = "rejected";
        }
        await c.cmd("QUIT", 5_000).catch(() => {});
        c.close();
      } catch {
        c.destroy();
        await Bun.sleep(10 + rand(20));
      }
    }
  };

  const killsByMode: Record<string, number> = {};
  let clients: Promise<void>[] = [];
  try {
    await withTimeout(start(), 30_000, "posteix did not start");
    clients = Array.from({ length: opts.clients }, (_, i) => clientLoop(i + 1));

    for (let k = 0; k < opts.kills; k++) {
      const mode = MODES[k % MODES.length];
      let fired: KillMode | "timeout" = "timeout";
      if (mode === "startup") {
        // Kill the daemon started just before, during its recovery.
        await Bun.sleep(rand(300));
        fired = "startup";
      } else if (mode === "random") {
        await Bun.sleep(rand(1500));
        fired = "random";
      } else {
        // Let some traffic through first, then wait for the moment.
        await Bun.sleep(100 + rand(400));
        fired = await new Promise<KillMode | "timeout">((resolve) => {
          const timer = setTimeout(() => {
            trigger = null;
            resolve("timeout");
          }, 5_000);
          trigger = (what) => {
            if (what !== mode) return;
            trigger = null;
            clearTimeout(timer);
            resolve(what);
          };
        });
        // A delivery or bounce is killed a few milliseconds into it.
        if (fired === "delivery" || fired === "bounce") await Bun.sleep(rand(15));
      }
      await kill();
      killsByMode[fired] = (killsByMode[fired] ?? 0) + 1;
      say(`kill ${k + 1}/${opts.kills} (${fired}); accepted so far ${accepted}`);
      const up = start();
      if (MODES[(k + 1) % MODES.length] !== "startup" || k + 1 === opts.kills)
        await withTimeout(up, 30_000, "posteix did not start again");
    }
    // The last start stays up: clients go on until enough mail was accepted.
    const deadline = Date.now() + 300_000;
    while (accepted < opts.messages && Date.now() < deadline) await Bun.sleep(50);
    if (accepted < opts.messages) problems.push(`only ${accepted} messages accepted in time`);
    stopClients = true;
    await withTimeout(Promise.all(clients), 60_000, "clients did not stop");

    // Wait for the queue to drain (deferred retries come within $maximal_backoff_time).
    const drainUntil = Date.now() + 180_000;
    let queued = -1;
    while (Date.now() < drainUntil) {
      queued = queueCount(opts.command, etc);
      if (queued === 0) break;
      await Bun.sleep(250);
    }
    if (queued !== 0) problems.push(`queue not empty after draining: ${queued} message(s)`);
    // Graceful stop.
    const d = daemon as Subprocess | null;
    if (d) {
      d.kill("SIGTERM");
      const code = await withTimeout(d.exited, 60_000, "posteix did not stop on SIGTERM");
      if (code !== 0) problems.push(`posteix exited ${code} after SIGTERM`);
      daemon = null;
    }
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
    stopClients = true;
  } finally {
    await kill();
    peer.stdin.end();
    await withTimeout(peer.exited, 10_000, "peer did not stop").catch(() => peer.kill());
  }

  // --- the verdict
  const integrity = integrityOf(join(work, "data", "queue.db"));
  const check = Bun.spawnSync([...opts.command, "-c", etc, "check"], {
    env: { ...process.env, POSTEIX_CONFIG_DIR: "" },
  });
  const checkText = `${check.stdout.toString()}${check.stderr.toString()}`.trim();
  if (check.exitCode !== 0) problems.push(`posteix check failed: ${checkText}`);

  const byId = new Map(attempts.map((a) => [a.id, a]));
  /** Deliveries per "id rcpt". */
  const got = new Map<string, number>();
  const bump = (k: string) => got.set(k, (got.get(k) ?? 0) + 1);
  const bounced = new Map<string, number>();
  const incompleteFiles: string[] = [];
  const unexpected = new Set<string>();
  let delivered = 0;

  for (const line of readFileSync(peerLog, "utf8").split("\n")) {
    if (!line) continue;
    const r = JSON.parse(line) as { id: string | null; rcpt: string[]; complete: boolean };
    if (r.id === null) {
      problems.push(`peer received a message without X-Crash-Id: ${line.slice(0, 200)}`);
      continue;
    }
    if (!r.complete) incompleteFiles.push(`peer: ${r.id}`);
    for (const rc of r.rcpt) bump(`${r.id} ${rc.toLowerCase()}`);
    delivered++;
  }
  let tmpLeftovers = 0;
  for (const box of [...BOXES, "bounces"]) {
    const dir = join(work, "vmail", box);
    if (!existsSync(dir)) continue;
    tmpLeftovers += existsSync(join(dir, "tmp")) ? readdirSync(join(dir, "tmp")).length : 0;
    for (const name of readdirSync(join(dir, "new"))) {
      const path = join(dir, "new", name);
      const data = readFileSync(path).toString("latin1");
      const size = Number(/,S=(\d+)/.exec(name)?.[1] ?? -1);
      if (size !== statSync(path).size) incompleteFiles.push(`${box}/new/${name}: size`);
      const headEnd = data.indexOf("\n\n");
      const head = data.slice(0, headEnd === -1 ? data.length : headEnd);
      const own = /^X-Crash-Id: (\S+)/m.exec(head)?.[1];
      if (own !== undefined) {
        if (!data.includes(`END-OF-${own}`)) incompleteFiles.push(`${box}/new/${name}`);
        bump(`${own} ${box}@vmail.test`);
        delivered++;
        continue;
      }
      // A delivery status notification: the returned headers name the original.
      const orig = /X-Crash-Id: (\S+)/.exec(data)?.[1];
      if (box === "bounces" && orig !== undefined) bounced.set(orig, (bounced.get(orig) ?? 0) + 1);
      else problems.push(`${box}/new/${name}: neither a test message nor a bounce of one`);
    }
  }

  const lost: string[] = [];
  const bouncesMissing: string[] = [];
  let duplicates = 0;
  let bouncesExpected = 0;
  for (const [key, n] of got) {
    const id = key.split(" ")[0];
    const a = byId.get(id);
    if (!a || (a.status !== "accepted" && a.status !== "in-flight"))
      unexpected.add(`${key} (${a?.status ?? "unknown"})`);
    if (n > 1) duplicates += n - 1;
  }
  for (const [id, n] of bounced) {
    const a = byId.get(id);
    if (!a || (a.status !== "accepted" && a.status !== "in-flight"))
      unexpected.add(`bounce of ${id}`);
    if (n > 1) duplicates += n - 1;
  }
  for (const a of attempts) {
    if (a.status !== "accepted") continue;
    for (const r of a.rcpts) {
      if (r.kind === "reject") continue;
      if (!got.has(`${a.id} ${r.address.toLowerCase()}`)) lost.push(`${a.id} -> ${r.address}`);
    }
    if (a.rcpts.some((r) => r.kind === "reject")) {
      bouncesExpected++;
      if (!bounced.has(a.id)) bouncesMissing.push(a.id);
    }
  }
  if (integrity !== "ok") problems.push(`integrity_check: ${integrity}`);
  for (const l of logProblems.slice(0, 20)) problems.push(`log: ${l}`);

  const count = (s: Status) => attempts.filter((a) => a.status === s).length;
  const report: CrashReport = {
    kills: Object.values(killsByMode).reduce((x, y) => x + y, 0),
    killsByMode,
    attempts: attempts.length,
    accepted: count("accepted"),
    inFlight: count("in-flight"),
    rejected: count("rejected"),
    notSent: count("not-sent"),
    delivered,
    lost,
    unexpected: [...unexpected],
    duplicates,
    bouncesExpected,
    bouncesMissing,
    incompleteFiles,
    tmpLeftovers,
    integrity,
    check: checkText,
    problems,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    workDir: work,
  };
  if (problems.length > 0 || lost.length > 0) {
    say(`last log lines:\n${recentLog.slice(-40).join("\n")}`);
  }
  const failed =
    lost.length > 0 ||
    report.unexpected.length > 0 ||
    bouncesMissing.length > 0 ||
    incompleteFiles.length > 0 ||
    problems.length > 0;
  if (!opts.keep && !failed) rmSync(work, { recursive: true, force: true });
  return report;
}

/** Messages in the queue, as `posteix mailq` counts them. */
function queueCount(command: string[], etc: string): number {
  const p = Bun.spawnSync([...command, "-c", etc, "mailq"], {
    env: { ...process.env, POSTEIX_CONFIG_DIR: "" },
  });
  const out = p.stdout.toString();
  if (/Mail queue is empty/.test(out)) return 0;
  const m = /in (\d+) Requests?\./.exec(out);
  return m ? Number(m[1]) : -1;
}

function integrityOf(path: string): string {
  try {
    const db = new Database(path, { readonly: true });
    try {
      return (db.query("PRAGMA integrity_check").all() as { integrity_check: string }[])
        .map((r) => r.integrity_check)
        .join("; ");
    } finally {
      db.close();
    }
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new Error(what)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The report as the lines the test and the script print. */
export function formatReport(r: CrashReport): string {
  const lines = [
    `kills survived:     ${r.kills} (${Object.entries(r.killsByMode)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")})`,
    `messages:           ${r.attempts} attempts, ${r.accepted} accepted (250), ${r.inFlight} in flight when killed, ${r.notSent} cut before end of data, ${r.rejected} refused`,
    `deliveries:         ${r.delivered} (peer + Maildir), bounces expected ${r.bouncesExpected}`,
    `messages lost:      ${r.lost.length}${r.lost.length ? ` (${r.lost.slice(0, 10).join(", ")})` : ""}`,
    `bounces missing:    ${r.bouncesMissing.length}${r.bouncesMissing.length ? ` (${r.bouncesMissing.slice(0, 10).join(", ")})` : ""}`,
    `delivered w/o 250:  ${r.unexpected.length}${r.unexpected.length ? ` (${r.unexpected.slice(0, 10).join(", ")})` : ""}`,
    `duplicates:         ${r.duplicates}`,
    `partial files:      ${r.incompleteFiles.length} in new/ or at the peer; ${r.tmpLeftovers} left in Maildir tmp/`,
    `integrity_check:    ${r.integrity}`,
    `time:               ${r.seconds} s`,
  ];
  for (const p of r.problems.slice(0, 30)) lines.push(`problem: ${p}`);
  if (r.problems.length > 0 || r.lost.length > 0) lines.push(`work directory kept: ${r.workDir}`);
  return lines.join("\n");
}

export function crashFailed(r: CrashReport): boolean {
  return (
    r.lost.length > 0 ||
    r.unexpected.length > 0 ||
    r.bouncesMissing.length > 0 ||
    r.incompleteFiles.length > 0 ||
    r.problems.length > 0 ||
    r.integrity !== "ok"
  );
}
