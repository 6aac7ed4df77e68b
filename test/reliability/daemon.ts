/**
 * posteix as its own process (`bun src/main.ts -c DIR run`), for the tests that need a real
 * daemon: signals (SIGTERM, SIGKILL), its memory alone (/proc/PID/status), the switch to
 * $mail_owner when started as root. Its log (standard error) is collected line by line.
 *
 *   const d = await startDaemon({ mainCf: "smtpd_timeout = 3s\n" });
 *   const c = await SmtpClient.connect(d.port);
 *   ...
 *   await d.stop();
 */

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

const MAIN = join(import.meta.dir, "../../src/main.ts");

export const TRANSPORTS = [
  "smtp unix - - n - - smtp",
  "relay unix - - n - - smtp",
  "local unix - n n - - local",
  "virtual unix - n n - - virtual",
  "error unix - - n - - error",
  "retry unix - - n - - error",
  "discard unix - - n - - discard",
];

export interface DaemonOptions {
  /** main.cf lines after the test defaults. */
  mainCf?: string;
  /** The smtpd line's maxproc column (default "-": $default_process_limit). */
  maxproc?: string;
  /** Extra master.cf lines. */
  masterCf?: string;
  /** Files next to main.cf. */
  files?: Record<string, string>;
  /** Reuse this directory (its queue survives a restart); else a new temp directory. */
  dir?: string;
  /** Reuse this port (a restart on the same directory). */
  port?: number;
  /** The command to run (default: bun src/main.ts). */
  command?: string[];
}

export interface Daemon {
  dir: string;
  port: number;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  logs: string[];
  /** Resolves with the first log line matching re (rejects after timeoutMs). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resident memory of the daemon now, in bytes. */
  rss(): number;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** posteix CLI against this configuration (mailq, check, ...). */
  cli(args: string[]): { code: number; out: string; err: string };
  /** Remove the directory (after stop/kill). */
  remove(): void;
}

export async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
    return kb * 1024;
  } catch {
    return 0;
  }
}

export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "posteix-rel-"));
  // Started as root, posteix becomes $mail_owner: its directory must be reachable.
  chmodSync(dir, 0o755);
  const port = opts.port ?? (await freePort());
  writeFileSync(
    join(dir, "main.cf"),
    [
      `queue_directory = ${dir}/data`,
      "myhostname = mx.example.test",
      "mydomain = example.test",
      "api_listen =",
      "smtpd_peername_lookup = no",
      "minimal_backoff_time = 1s",
      "maximal_backoff_time = 2s",
      "queue_run_delay = 1s",
      opts.mainCf ?? "",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "master.cf"),
    [
      `127.0.0.1:${port} inet n - n - ${opts.maxproc ?? "-"} smtpd`,
      ...TRANSPORTS,
      opts.masterCf ?? "",
      "",
    ].join("\n"),
  );
  for (const [name, text] of Object.entries(opts.files ?? {})) {
    writeFileSync(join(dir, name), text, { mode: 0o644 });
  }
  const command = opts.command ?? [process.execPath, MAIN];
  const env = { ...process.env, POSTEIX_CONFIG_DIR: "" };
  const proc = Bun.spawn([...command, "-c", dir, "run", "--quiet"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env,
  });
  const logs: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const onLine = (line: string) => {
    logs.push(line);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].re.test(line)) {
        waiters[i].resolve(line);
        waiters.splice(i, 1);
      }
    }
  };
  void (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stderr) {
      buf += dec.decode(chunk, { stream: true });
      for (let i = buf.indexOf("\n"); i !== -1; i = buf.indexOf("\n")) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) onLine(buf);
  })();
  void (async () => {
    for await (const _ of proc.stdout) {
      // The banner is off (--quiet); drain anything else.
    }
  })();
  const waitForLog = (re: RegExp, timeoutMs = 15_000): Promise<string> => {
    const found = logs.find((l) => re.test(l));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { re, resolve };
      waiters.push(w);
      setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i === -1) return;
        waiters.splice(i, 1);
        reject(new Error(`no log line matching ${re}; last lines:\n${logs.slice(-20).join("\n")}`));
      }, timeoutMs);
    });
  };
  const started = await Promise.race([
    waitForLog(/daemon started/, 30_000).then(() => true),
    proc.exited.then(() => false),
  ]);
  if (!started) {
    await Bun.sleep(50);
    throw new Error(`posteix did not start:\n${logs.join("\n")}`);
  }
  const d: Daemon = {
    dir,
    port,
    proc,
    logs,
    waitForLog,
    rss: () => rssOf(proc.pid),
    async stop(timeoutMs = 30_000) {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const code = await Promise.race([proc.exited, Bun.sleep(timeoutMs).then(() => -1)]);
      if (code === -1) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
      return code;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGKILL");
      await proc.exited;
    },
    cli(args: string[]) {
      const p = Bun.spawnSync([...command, "-c", dir, ...args], { env });
      return {
        code: p.exitCode ?? -1,
        out: p.stdout.toString(),
        err: p.stderr.toString(),
      };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return d;
}
