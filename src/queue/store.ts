/**
 * The queue store's interfaces. Backend-neutral: the SQLite implementation lives behind
 * openQueue(); a PostgreSQL one can implement the same contract later.
 */

import type {
  ListFilter,
  MessageRecord,
  NewMessage,
  QueueEvent,
  QueueState,
  RecipientResult,
} from "./types.ts";

export interface OpenQueueOptions {
  /** Directory holding queue.db; created when missing. */
  directory: string;
  /** Body chunk size in bytes (default 256 KiB): the most body bytes a draft holds in memory. */
  chunkSize?: number;
  /** How long a writer waits for another process's write lock (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * Largest the database may grow (like Postfix's queue_minfree, the other way round): past it
   * commits fail with QUEUE_FULL. Default: no limit but the disk.
   */
  maxBytes?: number;
  /** Page size when the database is created (ignored afterwards). Default 16384. */
  pageSize?: number;
}

export interface MessageDraft {
  readonly id: string;
  /** Body bytes written so far. */
  readonly size: number;
  /**
   * Append body bytes (complete message, CRLF canonical). Buffers up to chunkSize, then stores
   * a chunk. A storage failure does not throw here: the draft turns failed, later bytes are
   * only counted, and commit() rejects with the error (so smtpd can read DATA to its end).
   */
  write(chunk: Uint8Array): void;
  /**
   * Queue the message durably. Resolves only after the transaction that holds it has been
   * fsynced; rejects with QueueError (QUEUE_FULL / QUEUE_ERROR / INVALID) and then leaves
   * nothing of the message behind.
   */
  commit(msg: NewMessage, opts?: CommitOptions): Promise<void>;
  /** Drop the draft and any chunks it stored. Harmless after commit failed or twice. */
  abort(): void;
}

export interface CommitOptions {
  /**
   * Bytes stored in front of what was written (header fields known only at the end of the
   * message: DKIM-Signature, Authentication-Results). body() yields them first and the size
   * includes them.
   */
  prefix?: Uint8Array;
}

export interface UserRecord {
  name: string; // lowercase login or email address
  hash: string; // password hash made by the caller (argon2id)
  created: number; // ms since epoch
}

export interface UserStore {
  /** Throws QueueError BAD_STATE when the user exists, INVALID for a bad name. */
  add(name: string, hash: string): void;
  /** Throws QueueError NOT_FOUND when there is no such user. */
  setPassword(name: string, hash: string): void;
  /** Throws QueueError NOT_FOUND when there is no such user. */
  delete(name: string): void;
  get(name: string): UserRecord | null;
  /** All users by name (a user table is small: logins and mailboxes). */
  list(): UserRecord[];
}

export interface QueueMetrics {
  /** Group-commit transactions run and messages committed by them (this process). */
  commitBatches: number;
  committedMessages: number;
  failedCommits: number;
  /** Body chunks stored ahead of commit (big messages). */
  spilledChunks: number;
}

export interface QueueStore {
  readonly path: string;
  readonly users: UserStore;
  /** Waits for nothing: drafts not yet committed are lost (their chunks become orphans). */
  close(): void;
  newId(): string;
  createDraft(): MessageDraft;
  get(id: string): MessageRecord | null;
  /** The message bytes, lazily, chunk by chunk; throws QueueError if chunks are missing. */
  body(id: string): Generator<Uint8Array>;
  /** Header section: up to and including the line end of the last header line. */
  headerBytes(id: string, max?: number): Uint8Array;
  /** Arrival order; cursor is opaque (keyset pagination, stable under inserts). */
  list(
    filter: ListFilter,
    opts: { limit: number; cursor?: string | null },
  ): { messages: MessageRecord[]; nextCursor: string | null };
  iterate(filter: ListFilter): Generator<MessageRecord>;
  summary(): Record<QueueState, { count: number; bytes: number }>;

  // scheduler side
  recoverOnStartup(): { requeued: number; orphansRemoved: number };
  claimDue(now: number, limit: number): MessageRecord[];
  nextDueTime(): number | null;
  recordResults(id: string, results: RecipientResult[]): void;
  defer(id: string, nextAttempt: number, reason: string): void;
  setState(id: string, state: QueueState, reason?: string): void;
  markWarned(id: string, time: number): void;
  remove(id: string, reason: string): void;

  // operator side; each returns the number of messages affected and records one event each
  hold(sel: ListFilter): number;
  release(sel: ListFilter): number;
  requeue(sel: ListFilter): number;
  delete(sel: ListFilter): number;
  flush(domain?: string): number;

  // events
  addEvent(id: string, kind: string, detail: Record<string, unknown>): void;
  history(id: string): QueueEvent[];
  eventsSince(seq: number, limit: number): QueueEvent[];
  lastEventSeq(): number;

  changeCounter(): number;
  integrityCheck(): string[];
  metrics(): QueueMetrics;
  /**
   * Housekeeping: drop events and idempotency keys older than the given times, at most `limit`
   * of each (default: all); call again while a count equals the limit.
   */
  prune(opts: { eventsBefore?: number; idempotencyBefore?: number; limit?: number }): {
    events: number;
    idempotency: number;
  };

  idempotencyGet(key: string): string | null;
  idempotencyPut(key: string, id: string): void;
}
