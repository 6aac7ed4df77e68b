/**
 * The one error type the queue throws. Its `code` is what callers act on:
 * QUEUE_FULL (smtpd: 452 4.3.1), QUEUE_ERROR (451 4.3.0), NOT_FOUND, BAD_STATE, INVALID, and
 * CORRUPT: a stored message cannot be read back whole (qmgr moves it to the corrupt state).
 * Backend errors (SQLite's or, later, PostgreSQL's) never escape the module unwrapped.
 */

export type QueueErrorCode =
  | "QUEUE_FULL"
  | "QUEUE_ERROR"
  | "NOT_FOUND"
  | "BAD_STATE"
  | "INVALID"
  | "CORRUPT";

export class QueueError extends Error {
  override readonly name = "QueueError";
  readonly code: QueueErrorCode;

  constructor(code: QueueErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Wrap anything thrown by the backend. SQLITE_FULL is both a full disk (the unix VFS maps
 * ENOSPC to it) and PRAGMA max_page_count reached; SQLITE_CORRUPT and SQLITE_NOTADB are a
 * damaged file; everything else, SQLITE_BUSY after the busy timeout included, is a generic
 * temporary failure.
 */
export function toQueueError(err: unknown, what: string): QueueError {
  if (err instanceof QueueError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const text = err instanceof Error ? err.message : String(err);
  if (typeof code === "string" && code.startsWith("SQLITE_FULL")) {
    return new QueueError("QUEUE_FULL", `${what}: queue storage full (${text})`, { cause: err });
  }
  // A damaged file (or not a database at all): retrying cannot help, the operator must repair.
  if (typeof code === "string" && (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB")) {
    return new QueueError("CORRUPT", `${what}: ${text}`, { cause: err });
  }
  return new QueueError("QUEUE_ERROR", `${what}: ${text}`, { cause: err });
}
