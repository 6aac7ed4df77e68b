/**
 * postsuper -- Postfix's queue superintendent, on posteix's queue database.
 *
 *   postsuper [-c config_dir] [-d queue_id] [-h queue_id] [-H queue_id] [-r queue_id]
 *             [-p] [-s] [-S] [-v] [queue...]
 *
 *   -d ID   delete          (default queues: incoming, active, deferred, hold, bounce)
 *   -h ID   put on hold     (default queues: incoming, active, deferred)
 *   -H ID   release         (from hold; the message becomes deferred and due at once)
 *   -r ID   requeue         (default queues: incoming, deferred, hold; back to incoming)
 *   -s, -S  check the queue database (integrity, body chunks, counters); with -p the default
 *
 * Each ID may be `ALL` (upper case, as a safety measure) or `-` (IDs from standard input, one a
 * line). Several options in one call run in command-line order. The queue operands restrict
 * the operations to those states. Per message `ID: removed` etc., then a summary such as
 * `Deleted: 2 messages`, on standard error, worded as Postfix's. After a change a running
 * daemon is told through its control socket. -e/-f (forced expiry) are not supported.
 * main.cf parameters: queue_directory.
 */
import { notifyDaemon } from "../master/control.ts";
import {
  isQueueId,
  type ListFilter,
  QUEUE_STATES,
  type QueueState,
  type QueueStore,
} from "../queue/index.ts";
import {
  errorText,
  fatal,
  getopt,
  info,
  openQueueContext,
  stdinLines,
  usageError,
  warning,
} from "./common.ts";
import type { CliCommand, CliIO } from "./types.ts";

const USAGE =
  "[-c config_dir] [-d queue_id (delete)] [-h queue_id (hold)] [-H queue_id (un-hold)] " +
  "[-p (purge temporary files)] [-r queue_id (requeue)] [-s (structure fix)] " +
  "[-S (redundant structure fix)][-v (verbose)] [queue...]";

type Action = "d" | "h" | "H" | "r";

interface ActionDef {
  /** Store operation; returns the number of messages it changed. */
  apply: (q: QueueStore, sel: ListFilter) => number;
  /** States the operation may act on at all (the store refuses the others). */
  allowed: readonly QueueState[];
  /** States searched when no queue operand is given. */
  defaults: readonly QueueState[];
  done: string; // "ID: removed"
  summary: string; // "Deleted"
}

const ACTIONS: Record<Action, ActionDef> = {
  d: {
    apply: (q, sel) => q.delete(sel),
    allowed: QUEUE_STATES,
    defaults: ["incoming", "active", "deferred", "hold", "bounce"],
    done: "removed",
    summary: "Deleted",
  },
  h: {
    apply: (q, sel) => q.hold(sel),
    allowed: ["incoming", "active", "deferred", "bounce"],
    defaults: ["incoming", "active", "deferred"],
    done: "placed on hold",
    summary: "Placed on hold",
  },
  H: {
    apply: (q, sel) => q.release(sel),
    allowed: ["hold"],
    defaults: ["hold"],
    done: "released from hold",
    summary: "Released from hold",
  },
  r: {
    apply: (q, sel) => q.requeue(sel),
    allowed: ["incoming", "deferred", "hold"],
    defaults: ["incoming", "deferred", "hold"],
    done: "requeued",
    summary: "Requeued",
  },
};

/** Summary lines in Postfix's order. */
const SUMMARY_ORDER: readonly Action[] = ["r", "d", "h", "H"];

/** Postfix queue names without a counterpart here: accepted, and empty. */
const EMPTY_QUEUES = new Set(["maildrop", "defer", "trace", "flush", "saved"]);

/** IDs read from standard input are applied this many at a time (one transaction each). */
const STDIN_BATCH = 1000;

class Super {
  readonly counts: Record<Action, number> = { d: 0, h: 0, H: 0, r: 0 };
  changed = false;

  constructor(
    private readonly io: CliIO,
    private readonly queue: QueueStore,
    private readonly queues: readonly QueueState[] | null,
  ) {}

  private states(action: Action): QueueState[] {
    const def = ACTIONS[action];
    const wanted = this.queues ?? def.defaults;
    return wanted.filter((s) => def.allowed.includes(s));
  }

  all(action: Action): void {
    const states = this.states(action);
    if (states.length === 0) return;
    this.count(action, ACTIONS[action].apply(this.queue, { state: states }));
  }

  /** A batch of IDs: warn about malformed ones, apply to the rest, name each one changed. */
  ids(action: Action, ids: string[]): void {
    const valid: string[] = [];
    for (const id of ids) {
      if (isQueueId(id.toUpperCase())) valid.push(id);
      else warning(this.io, `invalid mail queue id: ${id}`);
    }
    const states = this.states(action);
    if (valid.length === 0 || states.length === 0) return;
    // Which of them are there to act on, so that each can be named as Postfix does.
    const present = new Set<string>();
    for (const m of this.queue.iterate({ ids: valid, state: states })) present.add(m.id);
    if (present.size === 0) return;
    const n = ACTIONS[action].apply(this.queue, { ids: [...present], state: states });
    for (const id of valid) {
      if (present.delete(id.toUpperCase())) info(this.io, `${id}: ${ACTIONS[action].done}`);
    }
    this.count(action, n);
  }

  async stdin(action: Action): Promise<void> {
    let batch: string[] = [];
    for await (const line of stdinLines(this.io)) {
      const id = line.trim();
      if (id === "") continue;
      batch.push(id);
      if (batch.length >= STDIN_BATCH) {
        this.ids(action, batch);
        batch = [];
      }
    }
    if (batch.length > 0) this.ids(action, batch);
  }

  private count(action: Action, n: number): void {
    this.counts[action] += n;
    if (n > 0) this.changed = true;
  }
}

function plural(n: number): string {
  return `${n} message${n === 1 ? "" : "s"}`;
}

export const run: CliCommand = async (argv, io) => {
  const parsed = getopt(argv, "c:d:e:f:h:H:pr:sSv");
  if ("bad" in parsed) return usageError(io, parsed, `usage: ${io.progName} ${USAGE}`);
  const ops: { action: Action; arg: string }[] = [];
  let check = false;
  for (const { opt, arg } of parsed.opts) {
    if (opt === "c") {
      if (!arg.startsWith("/")) return fatal(io, "-c requires absolute pathname");
      io = { ...io, configDir: arg };
    } else if (opt === "e" || opt === "f") {
      return fatal(io, `-${opt}: forced expiration is not supported`);
    } else if (opt === "s" || opt === "S" || opt === "p") {
      if (opt !== "p") check = true;
    } else if (opt !== "v") ops.push({ action: opt as Action, arg });
  }
  // No action at all: Postfix's default, a structure check (and purge, which needs nothing).
  if (ops.length === 0 && !parsed.opts.some((o) => o.opt === "p")) check = true;

  let queues: QueueState[] | null = null;
  if (parsed.operands.length > 0) {
    queues = [];
    for (const name of parsed.operands) {
      if (QUEUE_STATES.includes(name as QueueState)) queues.push(name as QueueState);
      else if (!EMPTY_QUEUES.has(name)) return fatal(io, `invalid directory name: ${name}`);
    }
  }

  const ctx = openQueueContext(io, "fail");
  if (typeof ctx === "number") return ctx;
  const queue = ctx.queue!;
  const sup = new Super(io, queue, queues);
  try {
    if (check) {
      for (const problem of queue.integrityCheck()) {
        if (problem !== "ok") warning(io, problem);
      }
    }
    for (const { action, arg } of ops) {
      if (arg === "ALL") sup.all(action);
      else if (arg === "-") await sup.stdin(action);
      else sup.ids(action, [arg]);
    }
  } catch (err) {
    return fatal(io, errorText(err));
  } finally {
    if (sup.changed) await notifyDaemon(ctx.queueDir, { kind: "wakeup" });
    queue.close();
  }
  const used = new Set(ops.map((o) => o.action));
  for (const a of SUMMARY_ORDER) {
    if (used.has(a)) info(io, `${ACTIONS[a].summary}: ${plural(sup.counts[a])}`);
  }
  return 0;
};
