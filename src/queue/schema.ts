/**
 * Opening queue.db: connection pragmas and the schema migrations.
 *
 * The schema version is PRAGMA user_version; MIGRATIONS[i] takes it from i to i + 1. Never edit
 * a migration that has shipped: append a new one. Each runs in its own IMMEDIATE transaction and
 * re-reads the version inside it, so two processes opening a fresh directory at once (daemon and
 * CLI) migrate exactly once.
 */

import { Database } from "bun:sqlite";
import { QueueError, toQueueError } from "./errors.ts";

type Migration = (db: Database) => void;

export const MIGRATIONS: readonly Migration[] = [
  // 1: messages, recipients, body chunks, events, counters, users, idempotency keys.
  (db) => {
    db.run(`CREATE TABLE messages (
      id TEXT PRIMARY KEY NOT NULL,
      state TEXT NOT NULL
        CHECK (state IN ('incoming','active','deferred','hold','bounce','corrupt')),
      sender TEXT NOT NULL,
      size INTEGER NOT NULL,
      chunks INTEGER NOT NULL,
      arrival INTEGER NOT NULL,
      next_attempt INTEGER,
      attempts INTEGER NOT NULL DEFAULT 0,
      reason TEXT,
      envid TEXT,
      ret TEXT,
      body_type TEXT,
      smtputf8 INTEGER NOT NULL DEFAULT 0,
      client TEXT,
      message_id TEXT,
      origin TEXT NOT NULL,
      warned_at INTEGER
    ) WITHOUT ROWID`);
    db.run("CREATE INDEX messages_arrival ON messages (arrival, id)");
    db.run("CREATE INDEX messages_state_arrival ON messages (state, arrival)");
    db.run("CREATE INDEX messages_state_next ON messages (state, next_attempt)");

    // domain is the lowercased part after the last "@" ("" for none), for flush and filters.
    db.run(`CREATE TABLE recipients (
      id TEXT NOT NULL,
      idx INTEGER NOT NULL,
      address TEXT NOT NULL,
      domain TEXT NOT NULL,
      original TEXT,
      orcpt TEXT,
      notify TEXT,
      status TEXT NOT NULL,
      dsn TEXT,
      diagnostic TEXT,
      relay TEXT,
      updated_at INTEGER,
      PRIMARY KEY (id, idx)
    ) WITHOUT ROWID`);
    db.run("CREATE INDEX recipients_domain ON recipients (domain)");

    // A rowid table on purpose: big blobs belong off the key b-tree. data comes last so
    // that reading id/seq/written never touches a blob's overflow pages.
    db.run(`CREATE TABLE chunks (
      id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      written INTEGER NOT NULL,
      data BLOB NOT NULL,
      PRIMARY KEY (id, seq)
    )`);

    // AUTOINCREMENT: seq must never be reused, even after pruning the newest events.
    db.run(`CREATE TABLE events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL,
      time INTEGER NOT NULL,
      kind TEXT NOT NULL,
      detail TEXT NOT NULL
    )`);
    db.run("CREATE INDEX events_id ON events (id, seq)");

    // Per-state counters kept by triggers, so summary() costs six rows, not a table scan.
    db.run(`CREATE TABLE queue_stats (
      state TEXT PRIMARY KEY NOT NULL,
      count INTEGER NOT NULL,
      bytes INTEGER NOT NULL
    ) WITHOUT ROWID`);
    db.run(`INSERT INTO queue_stats (state, count, bytes) VALUES
      ('incoming',0,0),('active',0,0),('deferred',0,0),('hold',0,0),('bounce',0,0),('corrupt',0,0)`);
    db.run(`CREATE TRIGGER messages_stats_insert AFTER INSERT ON messages BEGIN
      UPDATE queue_stats SET count = count + 1, bytes = bytes + NEW.size WHERE state = NEW.state;
    END`);
    db.run(`CREATE TRIGGER messages_stats_delete AFTER DELETE ON messages BEGIN
      UPDATE queue_stats SET count = count - 1, bytes = bytes - OLD.size WHERE state = OLD.state;
    END`);
    db.run(`CREATE TRIGGER messages_stats_update AFTER UPDATE OF state ON messages
      WHEN OLD.state <> NEW.state BEGIN
      UPDATE queue_stats SET count = count - 1, bytes = bytes - OLD.size WHERE state = OLD.state;
      UPDATE queue_stats SET count = count + 1, bytes = bytes + NEW.size WHERE state = NEW.state;
    END`);

    db.run(`CREATE TABLE users (
      name TEXT PRIMARY KEY NOT NULL,
      hash TEXT NOT NULL,
      created INTEGER NOT NULL
    ) WITHOUT ROWID`);

    db.run(`CREATE TABLE idempotency (
      key TEXT PRIMARY KEY NOT NULL,
      id TEXT NOT NULL,
      created INTEGER NOT NULL
    ) WITHOUT ROWID`);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export interface DatabaseSettings {
  busyTimeoutMs: number;
  pageSize: number;
  maxBytes?: number;
}

/** Open (creating if needed) and migrate; the connection's default is synchronous=NORMAL. */
export function openDatabase(path: string, settings: DatabaseSettings): Database {
  let db: Database;
  try {
    db = new Database(path, { create: true, readwrite: true, strict: true });
  } catch (err) {
    throw toQueueError(err, `cannot open ${path}`);
  }
  try {
    db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(settings.busyTimeoutMs))}`);
    // page_size only takes effect before the first table exists (and before WAL).
    db.run(`PRAGMA page_size = ${settings.pageSize}`);
    enableWal(db, settings.busyTimeoutMs);
    db.run("PRAGMA synchronous = NORMAL");
    db.run("PRAGMA temp_store = MEMORY");
    // Bounded page cache (4 MiB) whatever the body sizes; the OS cache does the rest.
    db.run("PRAGMA cache_size = -4096");
    // After a checkpoint, truncate a WAL grown by a big body back to 64 MiB.
    db.run("PRAGMA journal_size_limit = 67108864");
    migrate(db);
    if (settings.maxBytes !== undefined) {
      const pageSize = (db.query("PRAGMA page_size").get() as { page_size: number }).page_size;
      const pages = Math.max(1, Math.floor(settings.maxBytes / pageSize));
      db.run(`PRAGMA max_page_count = ${pages}`);
    }
    return db;
  } catch (err) {
    try {
      db.close(true);
    } catch {
      // Already failing; the first error is the one to report.
    }
    throw toQueueError(err, `cannot open ${path}`);
  }
}

function enableWal(db: Database, busyTimeoutMs: number): void {
  // Switching to WAL needs a lock that the busy handler does not always wait for (another
  // process creating the database at the same moment): retry, bounded by the busy timeout.
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      const row = db.query("PRAGMA journal_mode = WAL").get() as { journal_mode: string };
      if (row.journal_mode !== "wal") {
        throw new QueueError("QUEUE_ERROR", `cannot enable WAL (journal_mode=${row.journal_mode})`);
      }
      return;
    } catch (err) {
      const code = (err as { code?: string }).code ?? "";
      if (!code.startsWith("SQLITE_BUSY") || Date.now() >= deadline) throw err;
      Bun.sleepSync(10);
    }
  }
}

function userVersion(db: Database): number {
  return (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
}

function migrate(db: Database): void {
  if (userVersion(db) > SCHEMA_VERSION) {
    throw new QueueError(
      "QUEUE_ERROR",
      `queue schema version ${userVersion(db)} is newer than this program's (${SCHEMA_VERSION})`,
    );
  }
  for (let target = 1; target <= SCHEMA_VERSION; target++) {
    if (userVersion(db) >= target) continue;
    db.run("BEGIN IMMEDIATE");
    try {
      // Re-read under the write lock: another process may have just done it.
      if (userVersion(db) < target) {
        MIGRATIONS[target - 1](db);
        db.run(`PRAGMA user_version = ${target}`);
      }
      db.run("COMMIT");
    } catch (err) {
      db.run("ROLLBACK");
      throw err;
    }
  }
}
