/**
 * `posteix start`: run the daemon in the background (pid file in $pid_file) and return once it
 * listens. Its log goes to $maillog_file, or to $data_directory/posteix.log when that is empty.
 */
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { CliCommand } from "../../cli/types.ts";
import { controlSocketPath } from "../control.ts";
import { isRunning, readPid, runningPid } from "../pid.ts";

export const run: CliCommand = async (_argv, io) => {
  let state: ReturnType<typeof runningPid>;
  try {
    state = runningPid(io.configDir);
  } catch (err) {
    io.stderr(`posteix: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  if (state.pid !== null) {
    io.stderr(`posteix: fatal: the mail system is already running (pid ${state.pid})\n`);
    return 1;
  }
  const cfg = state.cfg;
  const dataDir = cfg.path("data_directory");
  mkdirSync(dataDir, { recursive: true });
  const logPath = cfg.str("maillog_file") ? "/dev/null" : join(dataDir, "posteix.log");
  const out = openSync(logPath, "a");
  // In the compiled binary process.argv[1] is the embedded script; execPath alone re-runs us.
  const self = process.argv[1]?.startsWith("/$bunfs")
    ? [process.execPath]
    : [process.execPath, process.argv[1]];
  const args = [...self, ...(io.configDir ? ["-c", io.configDir] : []), "run", "--quiet"];
  const child = Bun.spawn(args, { stdio: ["ignore", out, out], env: process.env, detached: true });
  child.unref();
  closeSync(out);
  const sock = controlSocketPath(cfg.path("queue_directory"));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const pid = readPid(cfg);
    if (pid === child.pid && existsSync(sock)) {
      io.stderr(`posteix/posteix-script: starting the mail system (pid ${pid})\n`);
      return 0;
    }
    if (child.exitCode !== null || !isRunning(child.pid)) break;
    await Bun.sleep(50);
  }
  io.stderr(
    `posteix: fatal: the daemon did not start; see ${logPath === "/dev/null" ? cfg.str("maillog_file") : logPath}\n`,
  );
  return 1;
};
