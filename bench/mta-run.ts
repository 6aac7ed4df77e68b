/**
 * mta-run -- one measured benchmark run that relay-bench.sh cannot do: load from
 * bench/smtp-load.ts (STARTTLS, end-of-data to 250 latency, big messages), or no MTA at all.
 * Meant to run inside `unshare -n` (bench/run.ts starts it so: only loopback exists).
 *
 *   bun bench/mta-run.ts --mta posteix|postfix|none --target 127.0.0.1:2525 --sink-port 2526
 *     --messages N --sessions S --size B [--rcpts R] [--reuse] [--starttls] [--warmup N]
 *     [--load smtp-load|smtp-source] [--posteix-bin PATH --posteix-conf DIR]
 *     [--postfix-conf DIR]
 *
 * Like relay-bench.sh: smtp-sink on the sink port counts what arrives; the MTA starts fresh;
 * warm-up messages are sent and delivered first; then the measured load. Memory is the peak of
 * 0.5 s samples of summed RSS and PSS over the MTA's process tree; CPU is the tree's
 * utime+stime (children included) over the measured part. Prints one JSON line.
 */

import { readdirSync, readFileSync, rmSync } from "node:fs";
import { spawn, spawnSync } from "bun";
import { connectOnce } from "./extras.ts";
import { runLoad } from "./smtp-load.ts";

interface Opts {
  mta: "posteix" | "postfix" | "none";
  host: string;
  port: number;
  sinkPort: number;
  messages: number;
  sessions: number;
  size: number;
  rcpts: number;
  reuse: boolean;
  starttls: boolean;
  warmup: number;
  load: "smtp-load" | "smtp-source";
  posteixBin: string;
  posteixConf: string;
  postfixConf: string;
  timeoutS: number;
  /** Start posteix on the queue as it is (queue-scale runs); default: an empty queue. */
  keepQueue: boolean;
}

function parse(argv: string[]): Opts {
  const o: Opts = {
    mta: "posteix",
    host: "127.0.0.1",
    port: 2525,
    sinkPort: 2526,
    messages: 5000,
    sessions: 20,
    size: 1024,
    rcpts: 1,
    reuse: false,
    starttls: false,
    warmup: 1000,
    load: "smtp-load",
    posteixBin: "dist/posteix",
    posteixConf: "",
    postfixConf: "/etc/postfix-pxbench",
    timeoutS: 300,
    keepQueue: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i] ?? "";
    switch (a) {
      case "--mta":
        o.mta = v() as Opts["mta"];
        break;
      case "--target": {
        const t = v();
        o.host = t.slice(0, t.lastIndexOf(":"));
        o.port = Number(t.slice(t.lastIndexOf(":") + 1));
        break;
      }
      case "--sink-port":
        o.sinkPort = Number(v());
        break;
      case "--messages":
        o.messages = Number(v());
        break;
      case "--sessions":
        o.sessions = Number(v());
        break;
      case "--size":
        o.size = Number(v());
        break;
      case "--rcpts":
        o.rcpts = Number(v());
        break;
      case "--reuse":
        o.reuse = true;
        break;
      case "--starttls":
        o.starttls = true;
        break;
      case "--warmup":
        o.warmup = Number(v());
        break;
      case "--load":
        o.load = v() as Opts["load"];
        break;
      case "--posteix-bin":
        o.posteixBin = v();
        break;
      case "--posteix-conf":
        o.posteixConf = v();
        break;
      case "--postfix-conf":
        o.postfixConf = v();
        break;
      case "--timeout":
        o.timeoutS = Number(v());
        break;
      case "--keep-queue":
        o.keepQueue = true;
        break;
      default:
        throw new Error(`mta-run: unknown option ${a}`);
    }
  }
  if (o.host !== "127.0.0.1") throw new Error("mta-run: the target must be 127.0.0.1");
  return o;
}

const CLK_TCK = 100;

/** Every process of the trees rooted at `roots`. */
function tree(roots: number[]): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, "utf8");
      const rest = st.slice(st.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(d), Number(rest[1]));
    } catch {
      // gone
    }
  }
  const inTree = new Set(roots);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [p, pp] of parent)
      if (!inTree.has(p) && inTree.has(pp)) {
        inTree.add(p);
        changed = true;
      }
  }
  return [...inTree];
}

/** CPU ticks (utime+stime+cutime+cstime), RSS and PSS (kB) summed over the tree. */
export function treeStats(roots: number[]): { ticks: number; rssKb: number; pssKb: number } {
  let ticks = 0;
  let rssKb = 0;
  let pssKb = 0;
  for (const p of tree(roots)) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      const sm = readFileSync(`/proc/${p}/smaps_rollup`, "utf8");
      rssKb += Number(/^Rss:\s+(\d+)/m.exec(sm)?.[1] ?? 0);
      pssKb += Number(/^Pss:\s+(\d+)/m.exec(sm)?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return { ticks, rssKb, pssKb };
}

async function listening(port: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await connectOnce(port)) return true;
    await Bun.sleep(20);
  }
  return false;
}

class Sink {
  private readonly proc;
  private out = "";
  constructor(port: number) {
    const proc = spawn(["smtp-sink", "-c", "-u", "postfix", `127.0.0.1:${port}`, "1000"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    this.proc = proc;
    void (async () => {
      const r = proc.stdout.getReader();
      for (;;) {
        const { value, done } = await r.read();
        if (done) return;
        this.out = (this.out + new TextDecoder().decode(value)).slice(-200);
      }
    })();
  }
  count(): number {
    const m = /.*mesg=(\d+)/s.exec(this.out);
    return m ? Number(m[1]) : 0;
  }
  async waitFor(n: number, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.count() < n) {
      if (Date.now() > end) return false;
      await Bun.sleep(50);
    }
    return true;
  }
  stop(): void {
    this.proc.kill();
  }
}

interface Mta {
  roots(): number[];
  stop(): Promise<void>;
}

async function startMta(o: Opts): Promise<Mta> {
  if (o.mta === "posteix") {
    const conf = o.posteixConf;
    const qdir = /^queue_directory\s*=\s*(.*)$/m.exec(readFileSync(`${conf}/main.cf`, "utf8"))?.[1];
    if (qdir && !o.keepQueue) rmSync(qdir.trim(), { recursive: true, force: true });
    const p = spawn([o.posteixBin, "-c", conf, "run", "--quiet"], {
      stdout: "ignore",
      stderr: "inherit",
    });
    return {
      roots: () => [p.pid],
      stop: async () => {
        p.kill("SIGTERM");
        await Promise.race([p.exited, Bun.sleep(15_000)]);
        p.kill("SIGKILL");
      },
    };
  }
  if (o.mta === "postfix") {
    const conf = o.postfixConf;
    const main = readFileSync(`${conf}/main.cf`, "utf8");
    const queue = /^queue_directory\s*=\s*(.*)$/m.exec(main)?.[1]?.trim() ?? "";
    spawnSync(["postsuper", "-c", conf, "-d", "ALL"], { stdout: "ignore", stderr: "ignore" });
    const r = spawnSync(["postfix", "-c", conf, "start"], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`postfix start: ${r.stderr.toString()}`);
    const pid = () => Number(readFileSync(`${queue}/pid/master.pid`, "utf8").trim());
    return {
      roots: () => [pid()],
      stop: async () => {
        const m = pid();
        spawnSync(["postfix", "-c", conf, "stop"], { stdout: "ignore", stderr: "ignore" });
        for (let i = 0; i < 100; i++) {
          try {
            process.kill(m, 0);
          } catch {
            return;
          }
          await Bun.sleep(100);
        }
      },
    };
  }
  // No MTA: a second smtp-sink takes the load directly (its counters are not needed).
  const s = spawn(["smtp-sink", "-u", "postfix", `127.0.0.1:${o.port}`, "1000"], {
    stdout: "ignore",
    stderr: "ignore",
  });
  return { roots: () => [], stop: async () => s.kill() };
}

async function load(o: Opts, messages: number) {
  if (o.load === "smtp-source") {
    const args = [
      "smtp-source",
      "-s",
      String(o.sessions),
      "-m",
      String(messages),
      "-l",
      String(o.size),
    ];
    args.push(
      "-r",
      String(o.rcpts),
      ...(o.reuse ? ["-d"] : []),
      "-f",
      "a@example.com",
      "-t",
      "b@example.net",
    );
    args.push(`${o.host}:${o.port}`);
    const t0 = performance.now();
    // Not spawnSync: the sink's counter output must keep being read meanwhile.
    const p = spawn(args, { stdout: "ignore", stderr: "pipe" });
    const code = await p.exited;
    const seconds = (performance.now() - t0) / 1000;
    const err = code === 0 ? "" : await new Response(p.stderr).text();
    return {
      sent: code === 0 ? messages : 0,
      failed: code === 0 ? 0 : messages,
      seconds,
      msgsPerSec: messages / seconds,
      latencyMs: null,
      errors: code === 0 ? [] : [err.slice(0, 300)],
    };
  }
  return runLoad({
    host: o.host,
    port: o.port,
    sessions: o.sessions,
    messages,
    size: o.size,
    rcpts: o.rcpts,
    reuse: o.reuse,
    starttls: o.starttls,
    timeoutMs: o.timeoutS * 1000,
  });
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const sink = o.mta === "none" ? null : new Sink(o.sinkPort);
  const mta = await startMta(o);
  const result: Record<string, unknown> = { mta: o.mta, starttls: o.starttls, size: o.size };
  try {
    if (!(await listening(o.port, 30_000))) throw new Error(`${o.mta} did not listen`);
    let base = 0;
    if (o.warmup > 0 && o.mta !== "none") {
      const w = await load(o, o.warmup);
      if (w.failed > 0) throw new Error(`warm-up failed: ${w.errors.join("; ")}`);
      if (!(await sink!.waitFor(o.warmup, o.timeoutS * 1000)))
        throw new Error("warm-up not delivered");
      await Bun.sleep(1000);
      base = sink!.count();
    }
    const roots = mta.roots();
    let peakRss = 0;
    let peakPss = 0;
    const sample = () => {
      if (roots.length === 0) return;
      const s = treeStats(roots);
      peakRss = Math.max(peakRss, s.rssKb);
      peakPss = Math.max(peakPss, s.pssKb);
    };
    sample();
    const timer = setInterval(sample, 500);
    const cpu0 = roots.length ? treeStats(roots).ticks : 0;
    const t0 = performance.now();
    const r = await load(o, o.messages);
    const t1 = performance.now();
    let delivered = true;
    if (sink) delivered = await sink.waitFor(base + o.messages, o.timeoutS * 1000);
    const t2 = performance.now();
    sample();
    clearInterval(timer);
    const cpu1 = roots.length ? treeStats(roots).ticks : 0;
    Object.assign(result, {
      ok: r.failed === 0 && delivered,
      sent: r.sent,
      failed: r.failed,
      errors: r.errors.slice(0, 3),
      accept_msgs_per_s: Math.round((o.messages / ((t1 - t0) / 1000)) * 10) / 10,
      e2e_msgs_per_s: sink ? Math.round((o.messages / ((t2 - t0) / 1000)) * 10) / 10 : null,
      cpu_ms_per_msg: roots.length
        ? Math.round((((cpu1 - cpu0) / CLK_TCK) * 1e6) / o.messages) / 1000
        : null,
      peak_rss_mb: Math.round(peakRss / 102.4) / 10,
      peak_pss_mb: Math.round(peakPss / 102.4) / 10,
      latency_ms: r.latencyMs,
    });
  } catch (err) {
    Object.assign(result, { ok: false, error: err instanceof Error ? err.message : String(err) });
  } finally {
    await mta.stop();
    sink?.stop();
  }
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

if (import.meta.main) await main();
