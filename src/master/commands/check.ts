/**
 * `posteix check`: validate main.cf, master.cf, every lookup table they name, and the queue
 * database. Prints each problem with file, line and reason; exits 1 when there is an error
 * (warnings alone exit 0), as `postfix check` does.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CliCommand } from "../../cli/types.ts";
import { checkConfig, loadConfig } from "../../config/index.ts";
import { PARAMS, type ParamName } from "../../config/params.ts";
import { openQueue } from "../../queue/index.ts";
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
  if (argv.length > 0) {
    io.stderr("posteix: usage: posteix [-c config_dir] check [--dns [DOMAIN...]]\n");
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
          `  repair: stop posteix, then: sqlite3 ${join(queueDir, "queue.db")} ".recover" | sqlite3 recovered.db\n`,
        );
      }
    } catch (err) {
      errors++;
      io.stderr(
        `posteix: fatal: cannot open queue database in ${queueDir}: ${err instanceof Error ? err.message : String(err)}\n`,
      );
    }
  }
  if (errors > 0) return 1;
  io.stdout(
    `posteix: configuration ${cfg.configDir ?? "(built-in defaults)"} and queue ${queueDir} are OK\n`,
  );
  return 0;
};
