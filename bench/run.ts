/**
 * `npm run bench`: posteix against a private Postfix on this machine, in the same run,
 * alternating, on the workloads of issue 7; then the memory, start-up and (with
 * --queue-scale) queue-scale figures. Prints one table and writes it, with every raw result,
 * to the output directory (default /tmp/posteix-bench/out).
 *
 *   npm run bench [-- --quick] [--repeat N] [--messages N] [--no-build] [--queue-scale]
 *                 [--skip-extras] [--out DIR]
 *
 * Workloads 1-4 run through ../shared/bench/relay-bench.sh (smtp-source -> MTA -> smtp-sink,
 * inside `unshare -n`); STARTTLS and the end-of-data -> 250 latency use bench/smtp-load.ts
 * through bench/mta-run.ts (also inside `unshare -n`), against posteix and a private Postfix
 * with STARTTLS on the same ECDSA P-256 certificate (bench/postfix-tls.ts). The no-MTA limit is
 * smtp-source straight into smtp-sink with each workload's shape. Needs root (as relay-bench.sh)
 * and Debian's postfix package (smtp-source, smtp-sink).
 */

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { spawnSync } from "bun";
import { extras } from "./extras.ts";
import { setupPostfix } from "./postfix-tls.ts";
import { queueScale } from "./queue-scale.ts";

const ROOT = resolve(import.meta.dir, "..");
const HARNESS = resolve(ROOT, "../shared/bench/relay-bench.sh");
const BUN = process.execPath;
const PORT = 2525;
const SINK = 2526;

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    repeat: { type: "string" },
    messages: { type: "string" },
    "no-build": { type: "boolean", default: false },
    "queue-scale": { type: "boolean", default: false },
    "skip-extras": { type: "boolean", default: false },
    out: { type: "string", default: "/tmp/posteix-bench/out" },
  },
});
const quick = args.quick;
const repeat = Number(args.repeat ?? (quick ? 1 : 3));
const messages = Number(args.messages ?? (quick ? 300 : 5000));
const warmup = quick ? 100 : 1000;
const work = "/tmp/posteix-bench";
const out = args.out;
const bin = join(ROOT, "dist/posteix");

function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ------------------------------------------------------------------ set-up

if (process.getuid?.() !== 0) {
  console.error("bench: run as root (relay-bench.sh and the Postfix instance need it)");
  process.exit(1);
}
if (!existsSync(HARNESS)) {
  console.error(`bench: ${HARNESS} not found`);
  process.exit(1);
}
mkdirSync(out, { recursive: true });
if (!args["no-build"]) {
  log("building dist/posteix");
  const b = spawnSync([BUN, "run", "build.ts"], {
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  });
  if (b.exitCode !== 0) process.exit(1);
}

/** posteix configuration directories: plain relay, STARTTLS, big messages. */
function posteixConf(name: string, extra: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "main.cf"),
    `queue_directory = ${work}/data
myhostname = bench.example.com
relayhost = [127.0.0.1]:${SINK}
api_listen =
smtpd_peername_lookup = no
maillog_file = ${work}/maillog
${extra}`,
  );
  writeFileSync(
    join(dir, "master.cf"),
    `127.0.0.1:${PORT} inet n - n - - smtpd
smtp unix - - n - - smtp
relay unix - - n - - smtp
local unix - n n - - local
error unix - - n - - error
`,
  );
  return dir;
}
mkdirSync(join(work, "tls"), { recursive: true });
const cert = join(work, "tls/cert.pem");
const key = join(work, "tls/key.pem");
if (!existsSync(cert)) {
  const r = spawnSync(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
    ].concat(["-keyout", key, "-out", cert, "-days", "365", "-subj", "/CN=bench.example.com"]),
    { stdout: "ignore", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
  spawnSync(["chmod", "644", key, cert]);
}
const confPlain = posteixConf("etc", "");
const confTls = posteixConf(
  "etc-tls",
  `smtpd_tls_security_level = may\nsmtpd_tls_cert_file = ${cert}\nsmtpd_tls_key_file = ${key}\n`,
);
const confBig = posteixConf("etc-big", "message_size_limit = 52428800\n");
setupPostfix({ port: PORT, sinkPort: SINK, cert, key });

// ------------------------------------------------------------------ runners

type Row = {
  accept: number;
  e2e: number | null;
  cpu: number | null;
  rss: number | null;
  pss: number | null;
  p99?: number | null;
  p50?: number | null;
  ok: boolean;
};

function kv(line: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const m of line.matchAll(/(\w+)=(\S+)/g)) o[m[1]] = m[2];
  return o;
}

function relayBench(mta: "postfix" | "posteix", extra: string[], n: number): Row {
  const hooks =
    mta === "postfix"
      ? ["--mta", "postfix"]
      : [
          "--mta",
          "custom",
          "--start-cmd",
          `rm -rf ${work}/data; ${bin} -c ${confPlain} run --quiet >${work}/out.log 2>&1 & echo $! >${work}/pid`,
          "--stop-cmd",
          `kill $(cat ${work}/pid); sleep 1`,
          "--pid-cmd",
          `cat ${work}/pid`,
        ];
  const r = spawnSync(
    [HARNESS, ...hooks, "--target", `127.0.0.1:${PORT}`, "--sink-port", String(SINK)]
      .concat(["--messages", String(n), "--repeat", "1", "--warmup", String(warmup)])
      .concat(["--outdir", join(out, `relay-${Date.now()}`), ...extra]),
    { stdout: "pipe", stderr: "pipe" },
  );
  const text = r.stdout.toString();
  const res = text.split("\n").find((l) => l.startsWith("RESULT "));
  if (!res) {
    log(`relay-bench ${mta} ${extra.join(" ")} failed: ${r.stderr.toString().slice(-400)}`);
    return { accept: 0, e2e: 0, cpu: null, rss: null, pss: null, ok: false };
  }
  const f = kv(res);
  return {
    accept: Number(f.accept_msgs_per_s),
    e2e: Number(f.e2e_msgs_per_s),
    cpu: Number(f.mta_cpu_ms_per_msg),
    rss: Number(f.peak_rss_mb),
    pss: Number(f.peak_pss_mb),
    ok: f.failed_reps === "0",
  };
}

function mtaRun(mta: "postfix" | "posteix" | "none", extra: string[], n: number): Row {
  const inner = [BUN, join(ROOT, "bench/mta-run.ts"), "--mta", mta]
    .concat(["--target", `127.0.0.1:${PORT}`, "--sink-port", String(SINK)])
    .concat(["--messages", String(n), "--warmup", String(mta === "none" ? 0 : warmup)])
    .concat(["--posteix-bin", bin, ...extra]);
  const r = spawnSync(
    ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", ...inner],
    { stdout: "pipe", stderr: "pipe", cwd: ROOT },
  );
  const line = r.stdout.toString().trim().split("\n").at(-1) ?? "";
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(line);
  } catch {
    log(`mta-run ${mta} ${extra.join(" ")} failed: ${r.stderr.toString().slice(-400)}`);
    return { accept: 0, e2e: 0, cpu: null, rss: null, pss: null, ok: false };
  }
  if (!j.ok) log(`mta-run ${mta} ${extra.join(" ")}: ${JSON.stringify(j).slice(0, 400)}`);
  const lat = j.latency_ms as { p50: number; p99: number } | null;
  return {
    accept: Number(j.accept_msgs_per_s),
    e2e: j.e2e_msgs_per_s === null ? null : Number(j.e2e_msgs_per_s),
    cpu: j.cpu_ms_per_msg === null ? null : Number(j.cpu_ms_per_msg),
    rss: Number(j.peak_rss_mb) || null,
    pss: Number(j.peak_pss_mb) || null,
    p99: lat?.p99 ?? null,
    p50: lat?.p50 ?? null,
    ok: j.ok === true,
  };
}

interface Workload {
  name: string;
  relay?: string[]; // relay-bench.sh options
  load?: string[]; // mta-run options (smtp-load)
  nomta?: string[]; // mta-run --mta none options (smtp-source shape)
  messages: number;
}

const W: Workload[] = [
  {
    name: "1 rcpt, 1 msg/session",
    relay: ["--rcpts", "1"],
    nomta: ["--load", "smtp-source"],
    messages,
  },
  {
    name: "1 rcpt, many msgs/session",
    relay: ["--rcpts", "1", "--reuse"],
    nomta: ["--load", "smtp-source", "--reuse"],
    messages,
  },
  {
    name: "10 rcpts",
    relay: ["--rcpts", "10"],
    nomta: ["--load", "smtp-source", "--rcpts", "10"],
    messages,
  },
  {
    name: "100 KB messages",
    relay: ["--size", "102400"],
    nomta: ["--load", "smtp-source", "--size", "102400"],
    messages: Math.max(100, Math.round(messages / 2.5)),
  },
  {
    name: "STARTTLS (ECDSA P-256)",
    load: ["--starttls"],
    messages: Math.max(100, Math.round(messages / 2.5)),
  },
  {
    name: "latency probe (1 rcpt, 1 msg/session)",
    load: [],
    messages: Math.max(100, Math.round(messages / 2.5)),
  },
];

const runs: Record<string, { posteix: Row[]; postfix: Row[]; nomta: Row[] }> = {};
for (const w of W) runs[w.name] = { posteix: [], postfix: [], nomta: [] };

const t0 = Date.now();
for (let rep = 1; rep <= repeat; rep++) {
  for (const w of W) {
    // Alternating: Postfix, then posteix, then (cheap) the no-MTA limit.
    for (const mta of ["postfix", "posteix"] as const) {
      log(`rep ${rep}/${repeat}: ${w.name}: ${mta}`);
      const row = w.relay
        ? relayBench(mta, w.relay, w.messages)
        : mtaRun(
            mta,
            [
              ...(w.load ?? []),
              ...(mta === "posteix"
                ? ["--posteix-conf", w.load?.includes("--starttls") ? confTls : confPlain]
                : []),
            ],
            w.messages,
          );
      runs[w.name][mta].push(row);
      log(
        `  accept ${row.accept} e2e ${row.e2e} cpu ${row.cpu} rss ${row.rss} pss ${row.pss}${row.p99 != null ? ` p99 ${row.p99} ms` : ""}`,
      );
    }
    if (w.nomta) {
      runs[w.name].nomta.push(mtaRun("none", w.nomta, w.messages));
    }
  }
}
log(`workloads done in ${Math.round((Date.now() - t0) / 1000)} s`);

// ------------------------------------------------------------------ extras

const ex = args["skip-extras"]
  ? null
  : await extras({ bin, confPlain, confBig, work, port: PORT, sink: SINK, quick, log });
const qs = args["queue-scale"]
  ? await queueScale({ bin, work, port: PORT, sink: SINK, quick, log, root: ROOT })
  : null;

// ------------------------------------------------------------------ table

function median(xs: (number | null | undefined)[]): number | null {
  const v = xs.filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  if (v.length === 0) return null;
  v.sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
const fmt = (x: number | null, d = 0) => (x === null ? "-" : x.toFixed(d));
const ratio = (a: number | null, b: number | null) =>
  a === null || b === null || b === 0 ? "-" : `${(a / b).toFixed(2)}x`;

const lines: string[] = [];
lines.push(
  "| workload | MTA | accept msg/s | e2e msg/s | CPU ms/msg | peak RSS MB | peak PSS MB | p99 EOD->250 ms |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
);
const summary: string[] = [];
for (const w of W) {
  const r = runs[w.name];
  const m = (rows: Row[]) => ({
    accept: median(rows.map((x) => x.accept)),
    e2e: median(rows.map((x) => x.e2e)),
    cpu: median(rows.map((x) => x.cpu)),
    rss: median(rows.map((x) => x.rss)),
    pss: median(rows.map((x) => x.pss)),
    p99: median(rows.map((x) => x.p99)),
    bad: rows.filter((x) => !x.ok).length,
  });
  const px = m(r.posteix);
  const pf = m(r.postfix);
  const nm = m(r.nomta);
  const p99 = (x: number | null) => (x === null ? "-" : fmt(x, 1));
  lines.push(
    `| ${w.name} | posteix | ${fmt(px.accept)} | ${fmt(px.e2e)} | ${fmt(px.cpu, 2)} | ${fmt(px.rss)} | ${fmt(px.pss)} | ${p99(px.p99)} |`,
    `| | Postfix | ${fmt(pf.accept)} | ${fmt(pf.e2e)} | ${fmt(pf.cpu, 2)} | ${fmt(pf.rss)} | ${fmt(pf.pss)} | ${p99(pf.p99)} |`,
    `| | **posteix/Postfix** | **${ratio(px.accept, pf.accept)}** | **${ratio(px.e2e, pf.e2e)}** | ${ratio(px.cpu, pf.cpu)} | | ${ratio(px.pss, pf.pss)} | |`,
  );
  if (r.nomta.length > 0)
    lines.push(
      `| | no MTA (smtp-source -> smtp-sink) | ${fmt(nm.accept)} | | | | | |`,
      `| | posteix share of no-MTA limit | ${nm.accept ? `${((100 * (px.accept ?? 0)) / nm.accept).toFixed(0)}%` : "-"} | ${nm.accept && px.e2e ? `${((100 * px.e2e) / nm.accept).toFixed(0)}%` : "-"} | | | | |`,
    );
  if (px.bad || pf.bad)
    summary.push(`${w.name}: failed runs: posteix ${px.bad}, Postfix ${pf.bad}`);
}

const machine = {
  nproc: cpus().length,
  cpu: cpus()[0]?.model ?? "?",
  kernel: spawnSync(["uname", "-r"]).stdout.toString().trim(),
  bun: Bun.version,
  postfix: spawnSync(["postconf", "-d", "-h", "mail_version"]).stdout.toString().trim(),
  date: new Date().toISOString(),
};
const report = [
  `posteix vs Postfix, ${machine.date}`,
  `machine: ${machine.nproc} x ${machine.cpu}, Linux ${machine.kernel}; Bun ${machine.bun}; Postfix ${machine.postfix}`,
  `runs: ${repeat} per workload and MTA (alternating), medians; ${messages} messages (100 KB and STARTTLS: ${W[3].messages}); 20 sessions; warm-up ${warmup}`,
  "",
  ...lines,
  "",
  ...(ex ? ex.lines : []),
  ...(qs ? ["", ...qs.lines] : []),
  ...(summary.length ? ["", ...summary] : []),
].join("\n");
console.log(report);
writeFileSync(join(out, "report.md"), `${report}\n`);
writeFileSync(
  join(out, "raw.json"),
  JSON.stringify({ machine, runs, extras: ex, queueScale: qs }, null, 2),
);
log(`report in ${join(out, "report.md")}`);
rmSync(join(work, "data"), { recursive: true, force: true });
void readFileSync;
