/**
 * The benchmark's one-off figures: idle RSS, start-up time of the compiled binary to a
 * listening socket, and the peak RSS while 20 clients send 25 MB messages at once.
 */

import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawn, spawnSync } from "bun";

export interface ExtrasOptions {
  bin: string;
  confPlain: string;
  confBig: string;
  work: string;
  port: number;
  sink: number;
  quick: boolean;
  log: (msg: string) => void;
}

export function memOf(pid: number): { rssMb: number; pssMb: number } {
  const sm = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(sm)?.[1] ?? 0);
  return { rssMb: Math.round(kb("Rss") / 102.4) / 10, pssMb: Math.round(kb("Pss") / 102.4) / 10 };
}

export function connectOnce(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.end();
          resolve(true);
        },
        data() {},
        connectError() {
          resolve(false);
        },
      },
    }).catch(() => resolve(false));
  });
}

/** Milliseconds from spawn to a socket that accepts, or null after 30 s. */
export async function startTimed(
  argv: string[],
  port: number,
): Promise<{ ms: number | null; proc: ReturnType<typeof spawn> }> {
  const t0 = performance.now();
  const proc = spawn(argv, { stdout: "ignore", stderr: "ignore" });
  while (performance.now() - t0 < 30_000) {
    if (await connectOnce(port)) return { ms: Math.round(performance.now() - t0), proc };
    await Bun.sleep(2);
  }
  return { ms: null, proc };
}

export async function stop(proc: ReturnType<typeof spawn>): Promise<void> {
  proc.kill("SIGTERM");
  await Promise.race([proc.exited, Bun.sleep(15_000)]);
  proc.kill("SIGKILL");
}

export async function extras(o: ExtrasOptions & {}): Promise<{ lines: string[]; raw: unknown }> {
  const lines: string[] = [];
  const raw: Record<string, unknown> = {};
  const data = join(o.work, "data");

  // Start-up: a first start on an empty directory, then warm restarts.
  o.log("extras: start-up time");
  const starts: number[] = [];
  let first: number | null = null;
  for (let i = 0; i < (o.quick ? 2 : 6); i++) {
    if (i === 0) rmSync(data, { recursive: true, force: true });
    const { ms, proc } = await startTimed([o.bin, "-c", o.confPlain, "run", "--quiet"], o.port);
    if (i === 0) first = ms;
    else if (ms !== null) starts.push(ms);
    if (i === (o.quick ? 1 : 5)) {
      // Idle memory: the last start, left alone for a while.
      await Bun.sleep(o.quick ? 1000 : 5000);
      raw.idle = memOf(proc.pid);
    }
    await stop(proc);
  }
  starts.sort((a, b) => a - b);
  const median = starts.length ? starts[Math.floor(starts.length / 2)] : null;
  raw.startup = { firstMs: first, warmMs: starts };
  const idle = raw.idle as { rssMb: number; pssMb: number } | undefined;
  lines.push(
    `start-up of dist/posteix to a listening socket: ${median ?? "-"} ms (median of ${starts.length} restarts; first start on an empty directory ${first ?? "-"} ms)`,
    `idle memory after start: RSS ${idle?.rssMb ?? "-"} MB, PSS ${idle?.pssMb ?? "-"} MB`,
  );

  // 20 concurrent 25 MB messages.
  o.log("extras: 20 concurrent 25 MB messages");
  const size = o.quick ? 5 * 1024 * 1024 : 25 * 1024 * 1024;
  const r = spawnSync(
    ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
      .concat([process.execPath, join(import.meta.dir, "mta-run.ts"), "--mta", "posteix"])
      .concat(["--posteix-bin", o.bin, "--posteix-conf", o.confBig])
      .concat(["--target", `127.0.0.1:${o.port}`, "--sink-port", String(o.sink)])
      .concat(["--messages", "20", "--sessions", "20", "--size", String(size), "--warmup", "0"]),
    { stdout: "pipe", stderr: "pipe" },
  );
  let big: Record<string, unknown> = {};
  try {
    big = JSON.parse(r.stdout.toString().trim().split("\n").at(-1) ?? "{}");
  } catch {
    big = { ok: false, error: r.stderr.toString().slice(-300) };
  }
  raw.big = big;
  lines.push(
    `20 concurrent ${size / 1048576} MB messages: peak RSS ${big.peak_rss_mb ?? "-"} MB, PSS ${big.peak_pss_mb ?? "-"} MB (${big.ok ? "all accepted and relayed" : `FAILED: ${JSON.stringify(big).slice(0, 200)}`}; accept ${big.accept_msgs_per_s ?? "-"} msg/s)`,
  );
  return { lines, raw };
}
