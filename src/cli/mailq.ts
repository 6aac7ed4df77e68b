/**
 * mailq -- list the mail queue, as Postfix's mailq(1) (`sendmail -bp`, `postqueue -p`).
 *
 *   mailq [-c config_dir] [-v]
 *
 * One entry per message: queue ID with `*` (being delivered) or `!` (on hold), size, arrival
 * time, sender; then the reason a recipient was deferred, in parentheses, and the recipients
 * still to deliver. Streams from the queue database; works whether or not posteix runs.
 * main.cf parameters: queue_directory.
 */
import { EX_USAGE, getopt, usageError } from "./common.ts";
import { listQueue } from "./postqueue.ts";
import type { CliCommand } from "./types.ts";

export const run: CliCommand = async (argv, io) => {
  const parsed = getopt(argv, "c:v");
  if ("bad" in parsed || parsed.operands.length > 0) {
    const err = "bad" in parsed ? parsed : null;
    return usageError(io, err, `usage: ${io.progName} [-c config_dir] [-v]`, EX_USAGE);
  }
  for (const { opt, arg } of parsed.opts) if (opt === "c") io = { ...io, configDir: arg };
  return listQueue(io, "mailq");
};
