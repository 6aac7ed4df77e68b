/**
 * `posteix run`: the MTA in the foreground (systemd Type=simple, containers, `npm start`).
 * Exits 0 after a graceful stop (SIGTERM/SIGINT), 1 when the configuration is bad.
 */
import type { CliCommand } from "../../cli/types.ts";
import { ConfigError } from "../../config/errors.ts";
import { logger } from "../../log/index.ts";
import { Master } from "../index.ts";
import { tuneRuntimeMemory } from "../runtime-memory.ts";

const log = logger("master");

function panic(what: string, err: unknown): void {
  log.error(`panic: ${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}

export const run: CliCommand = async (argv, io) => {
  if (argv.length > 0 && argv[0] !== "--quiet") {
    io.stderr(`${io.progName}: usage: posteix [-c config_dir] run [--quiet]\n`);
    return 1;
  }
  // First thing: may re-execute this process with the runtime's heap sized (same PID).
  tuneRuntimeMemory(io.configDir);
  const master = new Master({
    configDir: io.configDir,
    banner: argv[0] !== "--quiet",
    dropPrivileges: true,
  });
  try {
    await master.start();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const d of err.diagnostics)
        io.stderr(
          `posteix: ${d.severity === "error" ? "fatal" : "warning"}: ${d.file}, line ${d.line}: ${d.message}\n`,
        );
    } else io.stderr(`posteix: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  // A bug must cost one session or one delivery attempt, never the whole daemon: log it loudly
  // and go on (the queue is durable either way; Bun would otherwise exit on the spot).
  process.on("unhandledRejection", (err) => panic("unhandled rejection", err));
  process.on("uncaughtException", (err) => panic("uncaught exception", err));
  process.on("SIGHUP", () => {
    master.reload().catch((err) => panic("reload", err));
  });
  const stop = () => void master.stop();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  await master.done;
  return 0;
};
