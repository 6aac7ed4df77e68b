/**
 * Queue IDs: 12 uppercase hex digits, like Postfix's short IDs, known before the message is
 * committed (smtpd logs "QUEUEID: client=..." and writes it into the Received header first).
 *
 * Layout of the 48-bit value: a 26-bit millisecond tick (wraps every 18.6 hours) followed by
 * the 22-bit process id (Linux's PID_MAX_LIMIT is 2^22, so every pid fits). Concurrent
 * processes differ in the pid bits; within a process the tick is forced to move forward by at
 * least one per ID, so it doubles as the counter (above 1,000 IDs/s it runs ahead of the
 * clock, which is harmless). The store also checks a fresh ID against the queue, which covers
 * a tick that wrapped or a pid reused across a restart, and the database's primary keys turn
 * any remaining collision (two containers both running as pid 1) into a temporary failure,
 * never into mixed-up messages.
 */

const TICK_SPAN = 2 ** 26;
const PID_SPAN = 2 ** 22;
const QUEUE_ID_RE = /^[0-9A-F]{12}$/;

let lastTick = 0;

export function newQueueId(now: number = Date.now()): string {
  const tick = now > lastTick ? now : lastTick + 1;
  lastTick = tick;
  const value = (tick % TICK_SPAN) * PID_SPAN + (process.pid % PID_SPAN);
  return value.toString(16).toUpperCase().padStart(12, "0");
}

export function isQueueId(id: string): boolean {
  return QUEUE_ID_RE.test(id);
}

/** The pid of the process that made this ID (used to spare a live writer's unfinished body). */
export function queueIdPid(id: string): number {
  return Number.parseInt(id, 16) % PID_SPAN;
}
