/**
 * postqueue -- Postfix's queue control for everyone, on posteix's queue database.
 *
 *   postqueue -p           list the queue in Sendmail's mailq format (the same as `mailq`)
 *   postqueue -j           list the queue as JSON lines (Postfix 3.1+ object format)
 *   postqueue -f           deliver all deferred mail now
 *   postqueue -s site      deliver deferred mail for one destination domain now
 *   postqueue -i queue_id  deliver one deferred message now
 *   [-c config_dir] [-v]
 *
 * Listings read the queue database directly and stream (a million messages are never held in
 * memory); the flush requests change the database directly and then tell a running daemon
 * through its control socket, so they work whether or not posteix runs.
 *
 * Output and errors as Postfix's postqueue(1), exit statuses from sysexits.h (64 usage).
 * main.cf parameters: queue_directory.
 */
import { notifyDaemon } from "../master/control.ts";
import { isQueueId, type QueueStore } from "../queue/index.ts";
import {
  EX_SOFTWARE,
  EX_UNAVAILABLE,
  EX_USAGE,
  errorText,
  fatal,
  getopt,
  isBrokenPipe,
  Output,
  openQueueContext,
  usageError,
} from "./common.ts";
import {
  formatJsonEntry,
  formatMailqEntry,
  formatMailqSummary,
  MAILQ_HEADER,
  SHOWQ_ORDER,
  type TimeOptions,
} from "./queue-format.ts";
import type { CliCommand, CliIO } from "./types.ts";

const USAGE =
  "usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site";

export type ListFormat = "mailq" | "json";

/**
 * Write the whole queue to `out`, state by state in showq's order, each state by arrival. The
 * first message is flushed at once so that a slow listing shows progress immediately.
 */
export function writeQueueListing(
  queue: QueueStore | null,
  out: Output,
  format: ListFormat,
  opts: TimeOptions = {},
): void {
  let count = 0;
  let bytes = 0;
  if (queue) {
    for (const state of SHOWQ_ORDER) {
      for (const msg of queue.iterate({ state })) {
        if (format === "json") out.write(formatJsonEntry(msg));
        else {
          out.write(count === 0 ? MAILQ_HEADER : "\n");
          out.write(formatMailqEntry(msg, opts));
          bytes += msg.size;
        }
        if (count++ === 0) out.flush();
      }
    }
  }
  if (format === "mailq") out.write(formatMailqSummary(bytes, count));
  out.flush();
}

/** mailq and postqueue -p / -j: list, stopping quietly when the reader went away. */
export async function listQueue(io: CliIO, format: ListFormat): Promise<number> {
  const ctx = openQueueContext(io, "empty");
  if (typeof ctx === "number") return ctx;
  try {
    writeQueueListing(ctx.queue, new Output(io), format);
    return 0;
  } catch (err) {
    if (isBrokenPipe(err)) return 0;
    return fatal(io, errorText(err), EX_SOFTWARE);
  } finally {
    ctx.queue?.close();
  }
}

// Postfix's valid_hostname() and valid_mailhost_literal(), enough to refuse garbage.
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function validSite(site: string): boolean {
  if (site.startsWith("[")) {
    if (!site.endsWith("]")) return false;
    const inner = site.slice(1, -1);
    if (/^ipv6:/i.test(inner)) return /^[0-9A-Fa-f:.]+$/.test(inner.slice(5)) && inner.length > 7;
    return IPV4.test(inner);
  }
  const host = site.endsWith(".") ? site.slice(0, -1) : site;
  if (host === "" || host.length > 255) return false;
  const labels = host.split(".");
  if (!labels.every((l) => HOST_LABEL.test(l))) return false;
  // An all-numeric name is an address in disguise (Postfix: "numeric hostname").
  return !/^[\d.]+$/.test(host);
}

function quoted100(s: string): string {
  return `"${s.slice(0, 100)}${s.length > 100 ? "..." : ""}"`;
}

async function flush(io: CliIO, site: string | null, id: string | null): Promise<number> {
  if (site !== null && !validSite(site)) {
    return fatal(io, `Cannot flush mail queue - invalid destination: ${quoted100(site)}`, EX_USAGE);
  }
  if (id !== null && !isQueueId(id.toUpperCase())) {
    return fatal(io, `Cannot flush queue ID - invalid name: ${quoted100(id)}`, EX_USAGE);
  }
  const ctx = openQueueContext(io, "fail", EX_UNAVAILABLE);
  if (typeof ctx === "number") return ctx;
  const queue = ctx.queue!;
  try {
    if (id !== null) {
      // A deferred message becomes due at once; anything else is already due (or held, which
      // Postfix's flush leaves alone too). An unknown ID is no error, as with Postfix.
      if (queue.requeue({ ids: [id], state: "deferred" }) > 0) {
        await notifyDaemon(ctx.queueDir, { kind: "wakeup" });
      }
    } else if (site !== null) {
      queue.flush(site);
      await notifyDaemon(ctx.queueDir, { kind: "flush", site });
    } else {
      queue.flush();
      await notifyDaemon(ctx.queueDir, { kind: "flush" });
    }
    return 0;
  } catch (err) {
    return fatal(io, errorText(err), EX_SOFTWARE);
  } finally {
    queue.close();
  }
}

export const run: CliCommand = async (argv, io) => {
  const parsed = getopt(argv, "c:fi:jps:v");
  if ("bad" in parsed) return usageError(io, parsed, USAGE, EX_USAGE);
  if (parsed.operands.length > 0) return usageError(io, null, USAGE, EX_USAGE);
  let mode = "";
  let site: string | null = null;
  let id: string | null = null;
  for (const { opt, arg } of parsed.opts) {
    if (opt === "c") io = { ...io, configDir: arg };
    else if (opt === "v") continue;
    else {
      if (mode !== "") return fatal(io, USAGE, EX_USAGE);
      mode = opt;
      if (opt === "s") site = arg;
      if (opt === "i") id = arg;
    }
  }
  switch (mode) {
    case "p":
      return listQueue(io, "mailq");
    case "j":
      return listQueue(io, "json");
    case "f":
    case "s":
    case "i":
      return flush(io, site, id);
    default:
      return fatal(io, USAGE, EX_USAGE);
  }
};
