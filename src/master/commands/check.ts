/**
 * `posteix check`: validate main.cf, master.cf, every lookup table they name, and the queue
 * database. Prints each problem with file, line and reason; exits 1 when there is an error
 * (warnings alone exit 0), as `postfix check` does.
 *
 * `check --repair` salvages a damaged queue database (the daemon refuses to start on one):
 * every readable row goes into a new database, the damaged file is kept beside it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CliCommand, CliIO } from "../../cli/types.ts";
import { checkConfig, loadConfig } from "../../config/index.ts";
import { PARAMS, type ParamName } from "../../config/params.ts";
import { openQueue, quickCheck, salvageQueue } from "../../queue/index.ts";
import { runningPid } from "../pid.ts";
import { registerQueueTables } from "../tables.ts";

export const run: CliCommand = async (argv, io) => {
  // `check --dns [...]` is the deliverability check, a module of its own (check-dns.ts).
  if (argv.includes("--dns")) {
    const { run: checkDns } = await import("./check-dns.ts");
    return checkDns(
      argv.filter((a) => a !== "--dns"),
      io,
    );
  }
  if (argv.length === 1 && argv[0] === "--repair") return repair(io);
  if (argv.length > 0) {
    io.stderr("posteix: usage: posteix [-c config_dir] check [--repair | --dns [DOMAIN...]]\n");
    return 1;
  }
  registerQueueTables();
  const diags = checkConfig({ configDir: io.configDir });
  let errors = 0;
  for (const d of diags) {
    if (d.severity === "error") errors++;
    io.stderr(
      `posteix: ${d.severity === "error" ? "fatal" : "warning"}: ${d.file}${d.line ? `, line ${d.line}` : ""}: ${d.message}\n`,
    );
  }
  if (errors > 0) return 1;
  const cfg = loadConfig({ configDir: io.configDir });
  // Open every table parameter now, so a missing or malformed table file is reported here
  // rather than at the first message that needs it.
  for (const [name, def] of Object.entries(PARAMS)) {
    if (def.type !== "tables") continue;
    try {
      cfg.tables(name as ParamName);
    } catch (err) {
      errors++;
      io.stderr(`posteix: fatal: ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  const queueDir = cfg.path("queue_directory");
  if (existsSync(join(queueDir, "queue.db"))) {
    try {
      const queue = openQueue({ directory: queueDir });
      const result = queue.integrityCheck();
      queue.close();
      if (result.length !== 1 || result[0] !== "ok") {
        errors++;
        io.stderr(`posteix: fatal: queue database ${join(queueDir, "queue.db")} is damaged:\n`);
        for (const line of result.slice(0, 20)) io.stderr(`  ${line}\n`);
        io.stderr(
          `  repair: stop posteix, then: posteix${io.configDir ? ` -c ${io.configDir}` : ""} check --repair\n`,
        );
      }
    } catch (err) {
      errors++;
      io.stderr(
        `posteix: fatal: cannot open queue database in ${queueDir}: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      if ((err as { code?: string }).code === "CORRUPT")
        io.stderr(
          `  repair: stop posteix, then: posteix${io.configDir ? ` -c ${io.configDir}` : ""} check --repair\n`,
        );
    }
  }
  if (errors > 0) return 1;
  io.stdout(
    `posteix: configuration ${cfg.configDir ?? "(built-in defaults)"} and queue ${queueDir} are OK\n`,
  );
  return 0;
};

/**
 * `check --repair`: salvage a damaged queue database (src/queue/salvage.ts). Only with the
 * daemon stopped: it swaps the database file.
 */
async function repair(io: CliIO): Promise<number> {
  const { cfg, pid } = runningPid(io.configDir);
  if (pid !== null) {
    io.stderr(`posteix: fatal: the mail system is running (pid ${pid}): stop it first\n`);
    return 1;
  }
  const queueDir = cfg.path("queue_directory");
  const before = quickCheck(queueDir);
  try {
    const r = salvageQueue(queueDir);
    const copied = Object.entries(r.copied)
      .map(([t, n]) => `${t} ${n}`)
      .join(", ");
    io.stdout(`posteix: salvaged ${join(queueDir, "queue.db")}: ${copied}\n`);
    for (const [t, why] of Object.entries(r.truncated))
      io.stdout(`posteix: warning: table ${t} could not be read to its end: ${why}\n`);
    if (r.corrupt.length > 0)
      io.stdout(
        `posteix: ${r.corrupt.length} incomplete message(s) kept in the corrupt queue: ${r.corrupt.slice(0, 20).join(" ")}\n`,
      );
    io.stdout(`posteix: the damaged database is kept as ${r.kept}\n`);
    if (before[0] === "ok") io.stdout("posteix: (the database was not damaged; rebuilt anyway)\n");
    const after = quickCheck(queueDir);
    if (after[0] !== "ok") {
      io.stderr(`posteix: fatal: the salvaged database is still damaged: ${after.join("; ")}\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    io.stderr(`posteix: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
