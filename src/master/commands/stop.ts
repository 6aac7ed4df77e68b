/** `posteix stop`: SIGTERM to the daemon, then wait until it has gone (graceful stop). */
import type { CliCommand } from "../../cli/types.ts";
import { isRunning, runningPid } from "../pid.ts";

export const run: CliCommand = async (_argv, io) => {
  const { pid } = runningPid(io.configDir);
  if (pid === null) {
    io.stderr("posteix: fatal: the mail system is not running\n");
    return 1;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 60_000;
  while (isRunning(pid) && Date.now() < deadline) await Bun.sleep(100);
  if (isRunning(pid)) {
    io.stderr(`posteix: warning: process ${pid} did not stop within 60 seconds\n`);
    return 1;
  }
  io.stderr("posteix/posteix-script: stopping the mail system\n");
  return 0;
};
