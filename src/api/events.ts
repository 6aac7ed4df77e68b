/**
 * The delivery-event feed behind /events and webhooks: a cursor over the queue's events table
 * (QueueStore.eventsSince), woken by notifyEvents().
 *
 * The daemon calls notifyEvents() whenever it recorded something (qmgr results, cleanup
 * commits, queue tools' control requests); rings are coalesced to one per event-loop turn.
 * Changes made by another process that did not tell us (a CLI without a running daemon's
 * socket) are found by a one-second safety timer, armed only while someone waits.
 */
import type { QueueStore } from "../queue/index.ts";
import type { QueueEvent } from "../queue/types.ts";
import { EVENT_NAMES, type EventName } from "./schemas.ts";

const SAFETY_MS = 1000;
const waiters = new Set<() => void>();
let ringScheduled = false;

/** Something was recorded in the queue's events table: wake the event streams. */
export function notifyEvents(): void {
  if (ringScheduled || waiters.size === 0) return;
  ringScheduled = true;
  setImmediate(() => {
    ringScheduled = false;
    const ws = [...waiters];
    waiters.clear();
    for (const w of ws) w();
  });
}

/** Resolves on the next notifyEvents(), after the safety interval, or when `signal` aborts. */
export function waitForEvents(signal?: AbortSignal, ms = SAFETY_MS): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      waiters.delete(done);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    waiters.add(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

const KNOWN: ReadonlySet<string> = new Set(EVENT_NAMES);

/** Parse a comma list of event names (already validated) into a set; all when empty. */
export function eventSet(names: readonly string[] | undefined): ReadonlySet<string> {
  if (!names || names.length === 0) return KNOWN;
  return new Set(names.filter((n) => KNOWN.has(n)));
}

export function isEventName(s: string): s is EventName {
  return KNOWN.has(s);
}

/**
 * A cursor over the events table: next() returns the events after the cursor that are in
 * `wanted` (at most `limit` rows examined per call) and moves the cursor past everything read.
 */
export class EventCursor {
  constructor(
    private readonly queue: QueueStore,
    public seq: number,
    private readonly wanted: ReadonlySet<string>,
  ) {}

  next(limit = 500): { events: QueueEvent[]; more: boolean } {
    const rows = this.queue.eventsSince(this.seq, limit);
    if (rows.length > 0) this.seq = rows[rows.length - 1].seq;
    return { events: rows.filter((e) => this.wanted.has(e.kind)), more: rows.length === limit };
  }
}
