/** `posteix reload`: SIGHUP to the daemon, which re-reads main.cf and master.cf. */
import type { CliCommand } from "../../cli/types.ts";
import { checkConfig } from "../../config/index.ts";
import { runningPid } from "../pid.ts";

export const run: CliCommand = async (_argv, io) => {
  // Refuse to signal a reload that would fail: say why instead, as `postfix reload` does.
  const errors = checkConfig({ configDir: io.configDir }).filter((d) => d.severity === "error");
  if (errors.length > 0) {
    for (const d of errors) io.stderr(`posteix: fatal: ${d.file}, line ${d.line}: ${d.message}\n`);
    return 1;
  }
  const { pid } = runningPid(io.configDir);
  if (pid === null) {
    io.stderr("posteix: fatal: the mail system is not running\n");
    return 1;
  }
  process.kill(pid, "SIGHUP");
  io.stderr("posteix/posteix-script: refreshing the mail system\n");
  return 0;
};
