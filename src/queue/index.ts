/**
 * queue - the message queue store (Postfix's incoming/active/deferred/hold/corrupt
 * directories and bounce logs, as one SQLite database: <queue_directory>/queue.db).
 *
 * Holds each message's envelope (sender, recipients with per-recipient status, RFC 3461 DSN
 * parameters ENVID, RET, NOTIFY, ORCPT), its state and retry schedule, its body in chunks
 * (bounded memory whatever the size), and an event history with a global sequence number.
 * Also the user table (SASL logins, virtual mailboxes) and API idempotency keys.
 *
 * Guarantees: draft.commit() resolves only once the message and all its recipients are
 * durable (synchronous=FULL); commits of one event-loop turn share one fsync (group commit);
 * a failed commit leaves nothing behind and rejects with QueueError QUEUE_FULL (452 4.3.1) or
 * QUEUE_ERROR (451 4.3.0). Several processes (daemon, CLI) may write at once (WAL, busy
 * timeout). Listing streams by keyset pagination; no call loads the whole queue.
 *
 * main.cf parameters: none read here; the caller passes queue_directory as `directory`.
 * Talks to: nobody. smtpd/cleanup, qmgr, bounce, api and cli call it. Every SQL statement of
 * posteix lives in this folder, behind QueueStore, so a PostgreSQL backend can follow.
 */

import { openSqliteQueue } from "./sqlite-store.ts";
import type { OpenQueueOptions, QueueStore } from "./store.ts";

export { QueueError, type QueueErrorCode } from "./errors.ts";
export { isQueueId } from "./queue-id.ts";
export { quickCheck, type SalvageReport, salvageQueue } from "./salvage.ts";
export type {
  CommitOptions,
  MessageDraft,
  OpenQueueOptions,
  QueueMetrics,
  QueueStore,
  UserRecord,
  UserStore,
} from "./store.ts";
export * from "./types.ts";

export function openQueue(opts: OpenQueueOptions): QueueStore {
  return openSqliteQueue(opts);
}
