/**
 * The queue's fixed SQL statements (prepared once per connection) and the mapping of their rows
 * to the backend-neutral records of types.ts.
 */

import type { Database } from "bun:sqlite";
import type {
  ClientInfo,
  DsnNotify,
  MessageRecord,
  QueueEvent,
  QueueState,
  RecipientRecord,
  RecipientStatus,
} from "./types.ts";

export interface MessageRow {
  id: string;
  state: QueueState;
  sender: string;
  size: number;
  chunks: number;
  arrival: number;
  next_attempt: number | null;
  attempts: number;
  reason: string | null;
  envid: string | null;
  ret: "FULL" | "HDRS" | null;
  body_type: string | null;
  smtputf8: number;
  client: string | null;
  message_id: string | null;
  origin: string;
  warned_at: number | null;
}

export interface RecipientRow {
  id: string;
  idx: number;
  address: string;
  original: string | null;
  orcpt: string | null;
  notify: string | null;
  status: RecipientStatus;
  dsn: string | null;
  diagnostic: string | null;
  relay: string | null;
  updated_at: number | null;
}

export interface CurrentState {
  state: QueueState;
  attempts: number;
  next_attempt: number | null;
}

export interface EventRow {
  seq: number;
  id: string;
  time: number;
  kind: string;
  detail: string;
}

export const MSG_COLS =
  "m.id, m.state, m.sender, m.size, m.chunks, m.arrival, m.next_attempt, m.attempts, m.reason," +
  " m.envid, m.ret, m.body_type, m.smtputf8, m.client, m.message_id, m.origin, m.warned_at";
const RCPT_COLS =
  "id, idx, address, original, orcpt, notify, status, dsn, diagnostic, relay, updated_at";

export function prepareStatements(db: Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    begin: p("BEGIN IMMEDIATE"),
    commit: p("COMMIT"),
    rollback: p("ROLLBACK"),
    savepoint: p("SAVEPOINT msg"),
    release: p("RELEASE msg"),
    rollbackTo: p("ROLLBACK TO msg"),
    dataVersion: p("PRAGMA data_version"),

    idTaken: p(
      "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1)" +
        " OR EXISTS (SELECT 1 FROM chunks WHERE id = ?1) AS taken",
    ),
    insertChunk: p("INSERT INTO chunks (id, seq, written, data) VALUES (?, ?, ?, ?)"),
    deleteChunkRow: p("DELETE FROM chunks WHERE rowid = ? AND id = ?"),
    countChunks: p("SELECT count(*) AS n FROM chunks WHERE id = ?"),
    chunk: p("SELECT seq, data FROM chunks WHERE id = ?1 AND seq > ?2 ORDER BY seq LIMIT 1"),
    insertMessage: p(
      `INSERT INTO messages (id, state, sender, size, chunks, arrival, next_attempt, attempts,
        reason, envid, ret, body_type, smtputf8, client, message_id, origin, warned_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
    ),
    insertRecipient: p(
      `INSERT INTO recipients (id, idx, address, domain, original, orcpt, notify, status)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')`,
    ),
    insertEvent: p("INSERT INTO events (id, time, kind, detail) VALUES (?, ?, ?, ?)"),

    message: p(`SELECT ${MSG_COLS} FROM messages m WHERE m.id = ?`),
    bodyInfo: p("SELECT chunks, size FROM messages WHERE id = ?"),
    stateOf: p("SELECT state, attempts, next_attempt FROM messages WHERE id = ?"),
    recipients: p(`SELECT ${RCPT_COLS} FROM recipients WHERE id = ? ORDER BY idx`),
    recipientsOf: p(
      `SELECT ${RCPT_COLS} FROM recipients WHERE id IN (SELECT value FROM json_each(?))
       ORDER BY id, idx`,
    ),
    summary: p("SELECT state, count, bytes FROM queue_stats"),

    dueIncoming: p(
      "SELECT id, arrival FROM messages WHERE state = 'incoming' ORDER BY next_attempt LIMIT ?",
    ),
    dueDeferred: p(
      `SELECT id, arrival FROM messages WHERE state = 'deferred' AND next_attempt <= ?
       ORDER BY next_attempt LIMIT ?`,
    ),
    activate: p("UPDATE messages SET state = 'active' WHERE id = ?"),
    nextDue: p("SELECT min(next_attempt) AS t FROM messages WHERE state = 'deferred'"),
    updateRecipient: p(
      `UPDATE recipients SET status = ?, dsn = ?, diagnostic = ?, relay = coalesce(?, relay),
         updated_at = ?
       WHERE id = ? AND idx = ? RETURNING address`,
    ),
    deferMessage: p(
      `UPDATE messages SET state = ?, next_attempt = ?, attempts = attempts + 1, reason = ?
       WHERE id = ?`,
    ),
    setState: p(
      "UPDATE messages SET state = ?, reason = coalesce(?, reason), next_attempt = ? WHERE id = ?",
    ),
    markWarned: p("UPDATE messages SET warned_at = ? WHERE id = ?"),
    deleteMessage: p("DELETE FROM messages WHERE id = ?"),
    deleteRecipients: p("DELETE FROM recipients WHERE id = ?"),
    deleteChunks: p("DELETE FROM chunks WHERE id = ?"),

    requeueActiveEvents: p(
      `INSERT INTO events (id, time, kind, detail)
       SELECT id, ?, 'requeued', json_object('from', 'active', 'reason', 'startup recovery')
       FROM messages WHERE state = 'active'`,
    ),
    requeueActive: p(
      "UPDATE messages SET state = 'incoming', next_attempt = ? WHERE state = 'active'",
    ),
    orphanIds: p(
      `SELECT DISTINCT c.id AS id FROM chunks c
       WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = c.id)`,
    ),
    newestChunk: p("SELECT max(written) AS t FROM chunks WHERE id = ?"),
    deleteOrphan: p(
      "DELETE FROM chunks WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM messages WHERE id = ?1)",
    ),

    clearDoomed: p("DELETE FROM temp.doomed"),

    history: p("SELECT seq, id, time, kind, detail FROM events WHERE id = ? ORDER BY seq"),
    eventsSince: p(
      "SELECT seq, id, time, kind, detail FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
    ),
    lastSeq: p(
      "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) AS seq",
    ),
    // The oldest ?2 events (seq follows time), of which those before ?1: a bounded batch that
    // never scans the whole table, even when nothing is old enough.
    pruneEvents: p(
      `DELETE FROM events WHERE seq IN
        (SELECT seq FROM (SELECT seq, time FROM events ORDER BY seq LIMIT ?2) WHERE time < ?1)`,
    ),
    pruneIdempotency: p(
      "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE created < ?1 LIMIT ?2)",
    ),
    idemGet: p("SELECT id FROM idempotency WHERE key = ?"),
    idemPut: p(
      "INSERT INTO idempotency (key, id, created) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
    ),

    integrity: p("PRAGMA integrity_check"),
    // Messages already in the corrupt state are known damage, set aside: not reported again.
    badBodies: p(
      `SELECT id, chunks, size, n, bytes FROM (
         SELECT m.id, m.chunks, m.size,
           (SELECT count(*) FROM chunks c WHERE c.id = m.id) AS n,
           (SELECT coalesce(sum(length(c.data)), 0) FROM chunks c WHERE c.id = m.id) AS bytes
         FROM messages m WHERE m.state <> 'corrupt')
       WHERE n <> chunks OR bytes <> size LIMIT 100`,
    ),
    noRecipients: p(
      `SELECT m.id FROM messages m
       WHERE m.state <> 'corrupt'
         AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.id = m.id) LIMIT 100`,
    ),
    strayRecipients: p(
      `SELECT DISTINCT r.id FROM recipients r
       WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = r.id) LIMIT 100`,
    ),
    statsActual: p(
      `SELECT s.state, s.count, s.bytes,
         (SELECT count(*) FROM messages m WHERE m.state = s.state) AS real_count,
         (SELECT coalesce(sum(size), 0) FROM messages m WHERE m.state = s.state) AS real_bytes
       FROM queue_stats s`,
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

export function toRecipient(r: RecipientRow): RecipientRecord {
  return {
    index: r.idx,
    address: r.address,
    original: r.original,
    orcpt: r.orcpt,
    notify: r.notify ? (r.notify.split(",") as DsnNotify[]) : [],
    status: r.status,
    dsn: r.dsn,
    diagnostic: r.diagnostic,
    relay: r.relay,
    updatedAt: r.updated_at,
  };
}

export function toMessage(row: MessageRow, recipients: RecipientRecord[]): MessageRecord {
  return {
    id: row.id,
    state: row.state,
    sender: row.sender,
    size: row.size,
    arrivalTime: row.arrival,
    nextAttempt: row.next_attempt,
    attempts: row.attempts,
    reason: row.reason,
    envid: row.envid,
    ret: row.ret,
    bodyType: row.body_type,
    smtputf8: row.smtputf8 !== 0,
    client: parseClient(row.client),
    messageId: row.message_id,
    origin: row.origin,
    warnedAt: row.warned_at,
    recipients,
  };
}

/**
 * The client column is informational (logs, Received, the API): a damaged value must not make
 * the whole message unreadable, nor stop a scan of many messages.
 */
function parseClient(text: string | null): ClientInfo | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === "object" ? (v as ClientInfo) : null;
  } catch {
    return null;
  }
}

export function toEvent(r: EventRow): QueueEvent {
  return {
    seq: r.seq,
    id: r.id,
    time: r.time,
    kind: r.kind,
    detail: parseDetail(r.detail),
  };
}

/** A damaged event detail is shown as such rather than failing a whole event stream. */
function parseDetail(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    if (v !== null && typeof v === "object" && !Array.isArray(v))
      return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  return { damaged: String(text).slice(0, 200) };
}
