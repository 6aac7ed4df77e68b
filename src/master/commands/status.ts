/** `posteix status`: exit 0 and say so when the daemon runs, else exit 1 (like `postfix status`). */
import type { CliCommand } from "../../cli/types.ts";
import { runningPid } from "../pid.ts";

export const run: CliCommand = async (_argv, io) => {
  const { pid } = runningPid(io.configDir);
  if (pid === null) {
    io.stderr("posteix/posteix-script: the posteix mail system is not running\n");
    return 1;
  }
  io.stdout(`posteix/posteix-script: the posteix mail system is running: PID: ${pid}\n`);
  return 0;
};
