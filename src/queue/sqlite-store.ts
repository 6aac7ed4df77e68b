/**
 * The SQLite implementation of QueueStore. Every SQL statement of the queue lives in this
 * folder; fixed statements are prepared once per connection, filter-shaped ones are cached by
 * their text (bun's own query cache keeps only 20).
 *
 * Durability, in three grades:
 *  - message acceptance (draft commit, via group commit): the batch commits at
 *    synchronous=NORMAL, then the WAL file is fsynced on a worker thread (node:fs fsync) and
 *    only then do the commits resolve. That is what synchronous=FULL does in WAL mode (SQLite's
 *    FULL only adds one fsync of the WAL after the commit frame; the WAL header is synced at
 *    both levels), without blocking the event loop for the fsync: sessions go on being served
 *    while it runs, and commits arriving meanwhile share the next fsync. A message is not
 *    claimed for delivery before its fsync (see `unsynced`);
 *  - operator commands and users: synchronous=FULL, i.e. the WAL is fsynced before the call
 *    returns;
 *  - scheduler moves (claim, results, defer, remove, warnings) and events: synchronous=NORMAL.
 *    A crash may undo the last of them, which only repeats a delivery attempt (DESIGN.md: "a
 *    crash can cause a duplicate, never a loss"), and because a WAL only ever loses a suffix,
 *    any later FULL commit makes them durable too. One fsync per delivered message would cap
 *    delivery at ~2,500 messages/s;
 *  - spilled body chunks: NORMAL, covered by their message's commit and fsync.
 * Scheduler moves do not commit one by one: each joins the event-loop turn's open transaction
 * in a SAVEPOINT of its own (so it fails alone) and the turn ends with one COMMIT, shared with
 * the turn's group commit when there is one (see tx()). Every move touches the same dozen
 * index and table pages; committed one by one, each wrote them all to the WAL again (about
 * 280 KB of WAL per relayed 1 KB message at 16 KiB pages, against ~30 KB batched).
 * Every write transaction is BEGIN IMMEDIATE: in WAL mode a deferred transaction that reads and
 * then writes can hit SQLITE_BUSY_SNAPSHOT without the busy handler ever waiting.
 */

import type { Database, Statement } from "bun:sqlite";
import { closeSync, fstatSync, fsync, fsyncSync, mkdirSync, openSync, statSync } from "node:fs";
import { join } from "node:path";
import { type ChunkRow, PREFIX_SEQ, readChunks } from "./body-reader.ts";
import { type CommitJob, type DraftHost, SqliteDraft } from "./draft.ts";
import { QueueError, toQueueError } from "./errors.ts";
import {
  addressDomain,
  decodeCursor,
  encodeCursor,
  filterCondition,
  type SqlCondition,
} from "./filter.ts";
import { GroupCommitter } from "./group-commit.ts";
import { HeaderEndScanner } from "./header-scan.ts";
import { newQueueId, queueIdPid } from "./queue-id.ts";
import { openDatabase } from "./schema.ts";
import {
  type CurrentState,
  type EventRow,
  type MessageRow,
  MSG_COLS,
  prepareStatements,
  type RecipientRow,
  type Statements,
  toEvent,
  toMessage,
  toRecipient,
} from "./sqlite-statements.ts";
import type {
  MessageDraft,
  OpenQueueOptions,
  QueueMetrics,
  QueueStore,
  UserStore,
} from "./store.ts";
import {
  type ListFilter,
  type MessageRecord,
  QUEUE_STATES,
  type QueueEvent,
  type QueueState,
  type RecipientRecord,
  type RecipientResult,
  type RecipientStatus,
} from "./types.ts";
import { SqliteUserStore } from "./users.ts";

const DEFAULT_CHUNK_SIZE = 256 * 1024;
/**
 * Page size, measured with test/queue/page-size-bench.ts on the 2-core build VM (Bun 1.4.5,
 * SQLite 3.54, ext4 temp dir, other jobs running), medians of five rounds, two runs:
 *              1 KB x20/batch     1 KB alone       32 KB x20/batch    20 MB write+commit
 *   4096       8,600-10,400/s     1,320/s          3,000-3,200/s      147-167 ms
 *   16384      8,900-9,700/s        910-940/s      3,400-3,800/s      107-113 ms
 *   65536      4,900-5,400/s        525-590/s      2,700/s             88-89 ms
 * A commit writes whole pages to the WAL (about a dozen: message, indexes, recipient, event,
 * chunk), so 64 KiB pages cost small messages dearly. 16 KiB is within noise of 4 KiB for
 * batched small commits (the case that sets throughput), faster for typical 32 KB mail and
 * writes big bodies 1.4x faster; a lone commit at idle takes ~1.1 ms instead of ~0.75 ms.
 */
const DEFAULT_PAGE_SIZE = 16384;
const DEFAULT_BUSY_TIMEOUT_MS = 5000;
const DEFAULT_HEADER_MAX = 1024 * 1024;
const ITERATE_BATCH = 500;
/** A body without a message whose writer still runs is spared this long by startup recovery. */
const ORPHAN_GRACE_MS = 60 * 60 * 1000;
const DYNAMIC_CACHE_MAX = 128;

/** Queue IDs of the drafts open in this process, across all stores (tests open several). */
const liveDrafts = new Set<string>();
/**
 * The open stores of this process. A store's deferred writes hold the write lock until the
 * end of the turn; another store of the same process (a queue tool run in-process, tests) that
 * wants to write would wait for a turn that cannot end while it waits, so it commits them
 * first (othersSettle()); one that reads sees them too, as a separate process would a moment
 * later.
 */
const openStores = new Set<SqliteQueueStore>();

const STATE_EVENT: Record<QueueState, string> = {
  incoming: "requeued",
  active: "active",
  deferred: "deferred",
  hold: "held",
  bounce: "bounce",
  corrupt: "corrupt",
};

const RESULT_STATUSES: ReadonlySet<string> = new Set<RecipientStatus>([
  "sent",
  "deferred",
  "bounced",
  "expired",
]);

export function openSqliteQueue(opts: OpenQueueOptions): SqliteQueueStore {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 512) {
    throw new QueueError("INVALID", `chunkSize must be an integer >= 512, not ${chunkSize}`);
  }
  try {
    mkdirSync(opts.directory, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw toQueueError(err, `cannot create ${opts.directory}`);
  }
  const path = join(opts.directory, "queue.db");
  const db = openDatabase(path, {
    busyTimeoutMs: opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    pageSize: opts.pageSize ?? DEFAULT_PAGE_SIZE,
    maxBytes: opts.maxBytes,
  });
  return new SqliteQueueStore(db, path, chunkSize);
}

export class SqliteQueueStore implements QueueStore, DraftHost {
  readonly users: UserStore;
  private readonly s: Statements;
  private readonly dynamic = new Map<string, Statement>();
  private readonly committer: GroupCommitter<CommitJob>;
  private readonly drafts = new Map<string, SqliteDraft>();
  private readonly counters: QueueMetrics = {
    commitBatches: 0,
    committedMessages: 0,
    failedCommits: 0,
    spilledChunks: 0,
  };
  private localChanges = 0;
  private closed = false;
  /**
   * The scheduler writes in the open transaction, as closures that redo them: when SQLite rolls
   * the whole transaction back (a group commit that failed, SQLITE_FULL...), the next
   * transaction replays them, so a write that returned never silently disappears.
   */
  private deferred: (() => void)[] = [];
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** Committed messages whose WAL fsync has not finished: not to be delivered yet. */
  private readonly unsynced = new Set<string>();
  /** Committed since the last fsync started. */
  private toSync: string[] = [];
  private syncWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private syncing = false;
  private walFd: number | null = null;
  private walChecked = 0;

  constructor(
    private readonly db: Database,
    readonly path: string,
    readonly chunkSize: number,
  ) {
    try {
      // The selection of delete(), kept apart because deleting changes what the filter matches.
      db.run(
        "CREATE TEMP TABLE IF NOT EXISTS doomed (id TEXT PRIMARY KEY, state TEXT) WITHOUT ROWID",
      );
      this.s = prepareStatements(db);
    } catch (err) {
      closeQuietly(db);
      throw toQueueError(err, `cannot prepare ${path}`);
    }
    this.committer = new GroupCommitter(
      (jobs) => this.executeBatch(jobs),
      () => this.syncWal(),
    );
    this.users = new SqliteUserStore(db, (what, fn) => this.tx(true, what, fn));
    openStores.add(this);
    this.othersSettle();
  }

  close(): void {
    if (this.closed) return;
    openStores.delete(this);
    this.committer.flush();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.walFd !== null) {
      // Commits whose fsync is still queued or running: durable before the store goes away.
      if (this.toSync.length > 0 || this.syncing || this.syncWaiters.length > 0) {
        try {
          fsyncSync(this.walFd);
        } catch {
          // Their callbacks report the error.
        }
      }
      if (!this.syncing && this.syncWaiters.length === 0) this.closeWal();
    }
    const gone = new QueueError("QUEUE_ERROR", "queue closed");
    for (const d of this.drafts.values()) {
      d.fail(gone);
      liveDrafts.delete(d.id);
    }
    this.drafts.clear();
    this.closed = true;
    this.dynamic.clear();
    closeQuietly(this.db);
  }

  // --- drafts and group commit ---------------------------------------------------------------

  newId(): string {
    this.checkOpen();
    // A fresh ID is unique by construction (see queue-id.ts) unless the tick wrapped or a pid
    // came back; checking costs two index lookups.
    for (let i = 0; i < 1000; i++) {
      const id = newQueueId();
      if (liveDrafts.has(id)) continue;
      const taken = this.read("allocating a queue id", () => this.s.idTaken.get(id)) as {
        taken: number;
      };
      if (!taken.taken) return id;
    }
    throw new QueueError("QUEUE_ERROR", "cannot allocate a free queue id");
  }

  createDraft(): MessageDraft {
    const id = this.newId();
    const draft = new SqliteDraft(id, this);
    liveDrafts.add(id);
    this.drafts.set(id, draft);
    return draft;
  }

  spillChunk(id: string, seq: number, data: Uint8Array): number {
    this.checkOpen();
    // Outside the turn's transaction: a later rollback of it must not take a stored chunk.
    this.settleQuietly();
    this.othersSettle();
    try {
      const r = this.s.insertChunk.run(id, seq, Date.now(), data);
      this.counters.spilledChunks++;
      this.localChanges++;
      return Number(r.lastInsertRowid);
    } catch (err) {
      throw toQueueError(err, `${id}: storing body chunk ${seq}`);
    }
  }

  dropChunks(id: string, rowids: number[]): void {
    if (this.closed) return;
    try {
      this.tx(false, `${id}: dropping body`, () => {
        for (const rowid of rowids) this.s.deleteChunkRow.run(rowid, id);
      });
    } catch {
      // Left for recoverOnStartup(): an orphan body is harmless until then.
    }
  }

  submitCommit(job: CommitJob): Promise<void> {
    if (this.closed) return Promise.reject(new QueueError("QUEUE_ERROR", "queue closed"));
    return this.committer.submit(job);
  }

  draftFinished(id: string): void {
    liveDrafts.delete(id);
    this.drafts.delete(id);
  }

  /**
   * One transaction for the batch, one SAVEPOINT per message: a message that fails is rolled
   * back alone. SQLite may instead roll back the whole transaction (it can on SQLITE_FULL, IOERR,
   * BUSY, NOMEM); then the batch runs again without the message that failed, which bounds the
   * retries by the batch size.
   */
  private executeBatch(jobs: CommitJob[]): (Error | null)[] {
    const errors: (Error | null)[] = jobs.map(() => null);
    if (this.closed) return jobs.map(() => new QueueError("QUEUE_ERROR", "queue closed"));
    if (jobs.length === 0) {
      // A turn with scheduler writes and no message: commit them (no fsync of their own).
      this.settleQuietly();
      return errors;
    }
    let todo = jobs.map((_, i) => i);
    while (todo.length > 0) {
      try {
        // The turn's scheduler writes ride along: one COMMIT and one fsync for everything.
        this.ensureTx();
      } catch (err) {
        const e = toQueueError(err, "group commit");
        for (const i of todo) errors[i] = e;
        break;
      }
      const done: number[] = [];
      let again: number[] | null = null;
      for (let k = 0; k < todo.length; k++) {
        const i = todo[k];
        try {
          this.s.savepoint.run();
          this.storeMessage(jobs[i]);
          this.s.release.run();
          done.push(i);
        } catch (err) {
          errors[i] = toQueueError(err, `${jobs[i].draft.id}: commit`);
          if (this.db.inTransaction && this.undoSavepoint()) continue;
          again = [...done, ...todo.slice(k + 1)];
          break;
        }
      }
      if (again) {
        // ensureTx() replays the scheduler writes this rollback takes.
        if (this.db.inTransaction) this.s.rollback.run();
        todo = again;
        continue;
      }
      try {
        this.s.commit.run();
        this.deferred = [];
        this.localChanges++;
        this.counters.commitBatches++;
        this.counters.committedMessages += done.length;
        for (const i of done) {
          const id = jobs[i].draft.id;
          this.unsynced.add(id);
          this.toSync.push(id);
        }
      } catch (err) {
        if (this.db.inTransaction) this.s.rollback.run();
        const e = toQueueError(err, "group commit");
        for (const i of done) errors[i] = e;
      }
      break;
    }
    // A rollback took scheduler writes with it: the next turn replays them.
    if (this.deferred.length > 0 && !this.db.inTransaction) this.committer.schedule();
    for (const e of errors) if (e) this.counters.failedCommits++;
    return errors;
  }

  /**
   * Make the group commits so far durable: one fsync of the WAL on a worker thread. Commits
   * that arrive while one runs wait for the next, which covers all of them.
   */
  private syncWal(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.syncWaiters.push({ resolve, reject });
      if (!this.syncing) this.startSync();
    });
  }

  private startSync(): void {
    const waiters = this.syncWaiters;
    const ids = this.toSync;
    this.syncWaiters = [];
    this.toSync = [];
    this.syncing = true;
    const done = (err: Error | null) => {
      this.syncing = false;
      for (const id of ids) this.unsynced.delete(id);
      if (err) {
        const e = new QueueError("QUEUE_ERROR", `fsync of ${this.path}-wal: ${err.message}`);
        for (const w of waiters) w.reject(e);
      } else for (const w of waiters) w.resolve();
      if (this.syncWaiters.length > 0) this.startSync();
      else if (this.closed) this.closeWal();
    };
    let fd: number;
    try {
      fd = this.openWal();
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    fsync(fd, (err) => done(err));
  }

  /**
   * Our own descriptor of the WAL file, for fsync. SQLite keeps that file (same inode) while
   * any connection is open, ours included; checked anyway, at most once a second.
   */
  private openWal(): number {
    const path = `${this.path}-wal`;
    if (this.walFd !== null) {
      const now = Date.now();
      if (now - this.walChecked < 1000) return this.walFd;
      try {
        if (statSync(path).ino === fstatSync(this.walFd).ino) {
          this.walChecked = now;
          return this.walFd;
        }
      } catch {
        // Reopened below.
      }
      this.closeWal();
    }
    this.walFd = openSync(path, "r");
    this.walChecked = Date.now();
    return this.walFd;
  }

  private closeWal(): void {
    if (this.walFd === null) return;
    try {
      closeSync(this.walFd);
    } catch {
      // Nothing to do.
    }
    this.walFd = null;
  }

  private undoSavepoint(): boolean {
    try {
      this.s.rollbackTo.run();
      this.s.release.run();
      return true;
    } catch {
      return false;
    }
  }

  private storeMessage({ draft, msg, prefix }: CommitJob): void {
    const id = draft.id;
    const now = Date.now();
    // Our spilled chunks, and only ours, must be there: anything else is an ID collision with
    // another writer (or a recovery that ran under us), never to be committed.
    const have = (this.s.countChunks.get(id) as { n: number }).n;
    if (have !== draft.spilled) {
      throw new QueueError(
        "QUEUE_ERROR",
        `${id}: body chunks changed under the draft (${have} stored, ${draft.spilled} written)`,
      );
    }
    let chunks = draft.spilled;
    const tail = draft.tail();
    if (tail) this.s.insertChunk.run(id, chunks++, now, tail);
    let size = draft.size;
    if (prefix !== undefined) {
      // Seq -1 sorts before the body's chunks 0..n-1, which were stored while it was unknown.
      this.s.insertChunk.run(id, PREFIX_SEQ, now, prefix);
      chunks++;
      size += prefix.length;
    }
    const state = msg.state ?? "incoming";
    this.s.insertMessage.run(
      id,
      state,
      msg.sender,
      size,
      chunks,
      draft.arrival,
      state === "incoming" ? draft.arrival : null,
      msg.reason ?? null,
      msg.envid ?? null,
      msg.ret ?? null,
      msg.bodyType ?? null,
      msg.smtputf8 ? 1 : 0,
      msg.client ? JSON.stringify(msg.client) : null,
      msg.messageId ?? null,
      msg.origin,
    );
    for (let i = 0; i < msg.recipients.length; i++) {
      const r = msg.recipients[i];
      this.s.insertRecipient.run(
        id,
        i,
        r.address,
        addressDomain(r.address),
        r.original ?? null,
        r.orcpt ?? null,
        r.notify && r.notify.length > 0 ? r.notify.join(",") : null,
      );
    }
    const detail: Record<string, unknown> = {
      from: msg.sender,
      size,
      nrcpt: msg.recipients.length,
      origin: msg.origin,
      state,
    };
    if (msg.client) detail.client = `${msg.client.name}[${msg.client.addr}]`;
    if (msg.messageId) detail.messageId = msg.messageId;
    if (msg.reason) detail.reason = msg.reason;
    this.s.insertEvent.run(id, now, "received", JSON.stringify(detail));
  }

  // --- reading --------------------------------------------------------------------------------

  get(id: string): MessageRecord | null {
    const key = id.toUpperCase();
    return this.read(`reading ${key}`, () => {
      const row = this.s.message.get(key) as MessageRow | null;
      if (!row) return null;
      const rcpts = (this.s.recipients.all(key) as RecipientRow[]).map(toRecipient);
      return toMessage(row, rcpts);
    });
  }

  body(id: string): Generator<Uint8Array> {
    const key = id.toUpperCase();
    const info = this.read(`reading ${key}`, () => this.s.bodyInfo.get(key)) as {
      chunks: number;
      size: number;
    } | null;
    if (!info) throw new QueueError("NOT_FOUND", `${key}: no such message`);
    return readChunks(
      key,
      info.chunks,
      info.size,
      (id, after) => this.read(`reading ${id}`, () => this.s.chunk.get(id, after)) as ChunkRow,
    );
  }

  headerBytes(id: string, max: number = DEFAULT_HEADER_MAX): Uint8Array {
    const scanner = new HeaderEndScanner();
    const parts: Uint8Array[] = [];
    let have = 0;
    let want = max;
    for (const chunk of this.body(id)) {
      const end = scanner.feed(chunk);
      if (end >= 0) want = Math.min(want, end);
      const take = Math.min(chunk.length, want - have);
      if (take > 0) {
        parts.push(chunk.subarray(0, take));
        have += take;
      }
      if (have >= want) break;
    }
    const out = new Uint8Array(have);
    let pos = 0;
    for (const p of parts) {
      out.set(p, pos);
      pos += p.length;
    }
    return out;
  }

  list(
    filter: ListFilter,
    opts: { limit: number; cursor?: string | null },
  ): { messages: MessageRecord[]; nextCursor: string | null } {
    const limit = opts.limit;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new QueueError("INVALID", `list limit must be a positive integer, not ${limit}`);
    }
    const cond = filterCondition(filter);
    const params: (string | number)[] = [...cond.params];
    let sql = `SELECT ${MSG_COLS} FROM messages m WHERE (${cond.sql})`;
    if (opts.cursor) {
      const c = decodeCursor(opts.cursor);
      sql += " AND (m.arrival, m.id) > (?, ?)";
      params.push(c.arrival, c.id);
    }
    sql += " ORDER BY m.arrival, m.id LIMIT ?";
    params.push(limit + 1);
    return this.read("listing the queue", () => {
      const rows = this.stmt(sql).all(...params) as MessageRow[];
      const more = rows.length > limit;
      if (more) rows.pop();
      const last = rows[rows.length - 1];
      return {
        messages: this.withRecipients(rows),
        nextCursor: more && last ? encodeCursor({ arrival: last.arrival, id: last.id }) : null,
      };
    });
  }

  *iterate(filter: ListFilter): Generator<MessageRecord> {
    let cursor: string | null = null;
    do {
      const page = this.list(filter, { limit: ITERATE_BATCH, cursor });
      yield* page.messages;
      cursor = page.nextCursor;
    } while (cursor);
  }

  summary(): Record<QueueState, { count: number; bytes: number }> {
    const out = {} as Record<QueueState, { count: number; bytes: number }>;
    for (const s of QUEUE_STATES) out[s] = { count: 0, bytes: 0 };
    const rows = this.read("queue summary", () => this.s.summary.all()) as {
      state: QueueState;
      count: number;
      bytes: number;
    }[];
    for (const r of rows) out[r.state] = { count: r.count, bytes: r.bytes };
    return out;
  }

  private withRecipients(rows: MessageRow[]): MessageRecord[] {
    if (rows.length === 0) return [];
    const byId = new Map<string, RecipientRecord[]>();
    const rcpts = this.s.recipientsOf.all(JSON.stringify(rows.map((r) => r.id))) as RecipientRow[];
    for (const r of rcpts) {
      const list = byId.get(r.id);
      if (list) list.push(toRecipient(r));
      else byId.set(r.id, [toRecipient(r)]);
    }
    return rows.map((row) => toMessage(row, byId.get(row.id) ?? []));
  }

  // --- scheduler side -------------------------------------------------------------------------

  recoverOnStartup(): { requeued: number; orphansRemoved: number } {
    const now = Date.now();
    const requeued = this.tx(false, "startup recovery", () => {
      this.s.requeueActiveEvents.run(now);
      return this.s.requeueActive.run(now).changes;
    });
    const orphans = this.read("finding orphan bodies", () => this.s.orphanIds.all()) as {
      id: string;
    }[];
    let orphansRemoved = 0;
    for (const { id } of orphans) {
      if (liveDrafts.has(id)) continue;
      // A sendmail process may be writing a big message while the daemon starts: spare the
      // body of a live writer, unless it has been silent for long (the pid was reused).
      const pid = queueIdPid(id);
      if (pid !== process.pid && pidAlive(pid)) {
        const newest = this.read("finding orphan bodies", () => this.s.newestChunk.get(id)) as {
          t: number | null;
        };
        if (newest.t !== null && now - newest.t < ORPHAN_GRACE_MS) continue;
      }
      const gone = this.tx(false, `${id}: removing orphan body`, () => this.s.deleteOrphan.run(id));
      if (gone.changes > 0) orphansRemoved++;
    }
    return { requeued, orphansRemoved };
  }

  /**
   * Incoming and due deferred messages -> active, oldest arrival first. Each side gets at least
   * half of the limit when it has that many, so a flood of new mail cannot starve the retries
   * nor a backlog of retries new mail (Postfix's qmgr alternates its two scans likewise).
   */
  claimDue(now: number, limit: number): MessageRecord[] {
    if (!Number.isSafeInteger(limit) || limit < 1) return [];
    let claimed: string[] = [];
    return this.deferTx(
      "claiming due messages",
      () => {
        type Due = { id: string; arrival: number };
        let incoming = this.s.dueIncoming.all(limit) as Due[];
        // Committed but not yet fsynced: no delivery before the 250 (their sync wakes qmgr).
        if (this.unsynced.size > 0) incoming = incoming.filter((d) => !this.unsynced.has(d.id));
        const deferred = this.s.dueDeferred.all(now, limit) as Due[];
        const half = Math.ceil(limit / 2);
        const nIn = Math.min(incoming.length, Math.max(half, limit - deferred.length));
        const nDef = Math.min(deferred.length, limit - nIn);
        const picked = incoming.slice(0, nIn).concat(deferred.slice(0, nDef));
        picked.sort((a, b) => a.arrival - b.arrival || (a.id < b.id ? -1 : 1));
        const rows: MessageRow[] = [];
        for (const { id } of picked) {
          this.s.activate.run(id);
          rows.push(this.s.message.get(id) as MessageRow);
        }
        claimed = picked.map((p) => p.id);
        return this.withRecipients(rows);
      },
      () => {
        // Redone after a rollback: the same messages the caller got, never new ones.
        for (const id of claimed) this.s.activate.run(id);
      },
    );
  }

  nextDueTime(): number | null {
    const row = this.read("next due time", () => this.s.nextDue.get()) as { t: number | null };
    return row.t;
  }

  recordResults(id: string, results: RecipientResult[]): void {
    const key = id.toUpperCase();
    const now = Date.now();
    this.deferTx(`${key}: recording results`, () => {
      this.mustExist(key);
      for (const r of results) {
        if (!RESULT_STATUSES.has(r.status)) {
          throw new QueueError("INVALID", `${key}: bad recipient status ${r.status}`);
        }
        const row = this.s.updateRecipient.get(
          r.status,
          r.dsn,
          r.diagnostic,
          r.relay ?? null,
          now,
          key,
          r.index,
        ) as { address: string } | null;
        if (!row) throw new QueueError("INVALID", `${key}: no recipient #${r.index}`);
        const detail: Record<string, unknown> = {
          index: r.index,
          to: row.address,
          dsn: r.dsn,
          diagnostic: r.diagnostic,
        };
        if (r.relay !== undefined) detail.relay = r.relay;
        this.s.insertEvent.run(key, now, r.status, JSON.stringify(detail));
      }
    });
  }

  /**
   * active -> deferred, attempts + 1. A message the operator put on hold while it was being
   * delivered stays on hold (the attempt is still counted).
   */
  defer(id: string, nextAttempt: number, reason: string): void {
    const key = id.toUpperCase();
    this.deferTx(`${key}: deferring`, () => {
      const cur = this.mustExist(key);
      // "bounce": qmgr sent the notices of this attempt and the rest is still deferred.
      if (cur.state !== "active" && cur.state !== "hold" && cur.state !== "bounce") {
        throw new QueueError("BAD_STATE", `${key}: cannot defer a message in ${cur.state}`);
      }
      const state = cur.state === "hold" ? "hold" : "deferred";
      this.s.deferMessage.run(state, nextAttempt, reason, key);
      const detail = { reason, nextAttempt, attempts: cur.attempts + 1, state };
      this.s.insertEvent.run(key, Date.now(), "deferred", JSON.stringify(detail));
    });
  }

  setState(id: string, state: QueueState, reason?: string): void {
    if (!QUEUE_STATES.includes(state)) {
      throw new QueueError("INVALID", `unknown queue state ${JSON.stringify(state)}`);
    }
    const key = id.toUpperCase();
    const now = Date.now();
    this.deferTx(`${key}: moving to ${state}`, () => {
      const cur = this.mustExist(key);
      const next = state === "incoming" || state === "deferred" ? now : cur.next_attempt;
      this.s.setState.run(state, reason ?? null, next, key);
      const detail: Record<string, unknown> = { from: cur.state };
      if (reason !== undefined) detail.reason = reason;
      this.s.insertEvent.run(key, now, STATE_EVENT[state], JSON.stringify(detail));
    });
  }

  markWarned(id: string, time: number): void {
    const key = id.toUpperCase();
    this.deferTx(`${key}: marking warned`, () => {
      if (this.s.markWarned.run(time, key).changes === 0) {
        throw new QueueError("NOT_FOUND", `${key}: no such message`);
      }
      this.s.insertEvent.run(key, Date.now(), "delayed", JSON.stringify({ warnedAt: time }));
    });
  }

  remove(id: string, reason: string): void {
    const key = id.toUpperCase();
    // Deletes first, the event last: on a full database the event reuses the freed pages.
    this.deferTx(`${key}: removing`, () => {
      if (this.s.deleteMessage.run(key).changes === 0) {
        throw new QueueError("NOT_FOUND", `${key}: no such message`);
      }
      this.s.deleteChunks.run(key);
      this.s.deleteRecipients.run(key);
      this.s.insertEvent.run(key, Date.now(), "removed", JSON.stringify({ reason }));
    });
  }

  private mustExist(id: string): CurrentState {
    const cur = this.s.stateOf.get(id) as CurrentState | null;
    if (!cur) throw new QueueError("NOT_FOUND", `${id}: no such message`);
    return cur;
  }

  // --- operator side --------------------------------------------------------------------------

  hold(sel: ListFilter): number {
    return this.bulkMove(sel, "m.state NOT IN ('hold', 'corrupt')", "held", "state = 'hold'");
  }

  release(sel: ListFilter): number {
    return this.bulkMove(sel, "m.state = 'hold'", "released", "state = 'deferred'", true);
  }

  requeue(sel: ListFilter): number {
    return this.bulkMove(
      sel,
      "m.state IN ('deferred', 'hold', 'incoming')",
      "requeued",
      "state = 'incoming'",
      true,
    );
  }

  flush(domain?: string): number {
    const sel: ListFilter = {};
    let extra = "m.state = 'deferred'";
    const extraParams: string[] = [];
    if (domain !== undefined) {
      extra +=
        " AND EXISTS (SELECT 1 FROM recipients r WHERE r.id = m.id AND r.domain = ?" +
        " AND r.status IN ('pending', 'deferred'))";
      extraParams.push(addressDomain(`@${domain}`));
    }
    return this.bulkMove(sel, extra, "flushed", null, true, extraParams);
  }

  /** Deletes first, events last: on a full database the events reuse the freed pages. */
  delete(sel: ListFilter): number {
    const cond = filterCondition(sel);
    const now = Date.now();
    return this.tx(true, "deleting messages", () => {
      this.s.clearDoomed.run();
      this.stmt(
        `INSERT INTO temp.doomed (id, state) SELECT m.id, m.state FROM messages m WHERE ${cond.sql}`,
      ).run(...cond.params);
      this.stmt("DELETE FROM chunks WHERE id IN (SELECT id FROM temp.doomed)").run();
      this.stmt("DELETE FROM recipients WHERE id IN (SELECT id FROM temp.doomed)").run();
      const n = this.stmt("DELETE FROM messages WHERE id IN (SELECT id FROM temp.doomed)").run()
        .changes;
      this.stmt(
        `INSERT INTO events (id, time, kind, detail)
         SELECT id, ?, 'deleted', json_object('from', state) FROM temp.doomed`,
      ).run(now);
      this.s.clearDoomed.run();
      return n;
    });
  }

  /**
   * One transaction: the events are written first, from the same condition, while the states
   * they report are still the old ones. Durable (FULL): an operator expects a held message to
   * stay held after a crash.
   */
  private bulkMove(
    sel: ListFilter,
    extra: string,
    kind: string,
    set: string | null,
    touchNext = false,
    extraParams: string[] = [],
  ): number {
    const cond: SqlCondition = filterCondition(sel);
    const where = `(${cond.sql}) AND ${extra}`;
    const params = [...cond.params, ...extraParams];
    const now = Date.now();
    const assignments = [set, touchNext ? "next_attempt = ?" : null].filter(Boolean).join(", ");
    return this.tx(true, `${kind} messages`, () => {
      this.stmt(
        `INSERT INTO events (id, time, kind, detail)
         SELECT m.id, ?, '${kind}', json_object('from', m.state) FROM messages m WHERE ${where}`,
      ).run(now, ...params);
      return this.stmt(
        `UPDATE messages SET ${assignments}
         WHERE id IN (SELECT m.id FROM messages m WHERE ${where})`,
      ).run(...(touchNext ? [now] : []), ...params).changes;
    });
  }

  // --- events ---------------------------------------------------------------------------------

  addEvent(id: string, kind: string, detail: Record<string, unknown>): void {
    const key = id.toUpperCase();
    const now = Date.now();
    const text = JSON.stringify(detail);
    this.deferTx(`${key}: adding event`, () => {
      this.s.insertEvent.run(key, now, kind, text);
    });
  }

  history(id: string): QueueEvent[] {
    const key = id.toUpperCase();
    return this.read(`${key}: history`, () => (this.s.history.all(key) as EventRow[]).map(toEvent));
  }

  eventsSince(seq: number, limit: number): QueueEvent[] {
    return this.read("reading events", () =>
      (this.s.eventsSince.all(seq, Math.max(0, Math.floor(limit))) as EventRow[]).map(toEvent),
    );
  }

  lastEventSeq(): number {
    return this.read("reading events", () => (this.s.lastSeq.get() as { seq: number }).seq);
  }

  // --- housekeeping ---------------------------------------------------------------------------

  /** Changes whenever any process committed a change (compare for inequality only). */
  changeCounter(): number {
    const v = this.read("data version", () => this.s.dataVersion.get()) as {
      data_version: number;
    };
    return v.data_version + this.localChanges;
  }

  integrityCheck(): string[] {
    return this.read("integrity check", () => {
      const out: string[] = [];
      for (const [line] of this.s.integrity.values()) {
        if (line !== "ok") out.push(`sqlite: ${String(line)}`);
      }
      type Bad = { id: string; chunks: number; size: number; n: number; bytes: number };
      for (const b of this.s.badBodies.all() as Bad[]) {
        out.push(
          `${b.id}: body has ${b.n} chunks / ${b.bytes} bytes, expected ${b.chunks} / ${b.size}`,
        );
      }
      for (const r of this.s.noRecipients.all() as { id: string }[]) {
        out.push(`${r.id}: message without recipients`);
      }
      for (const r of this.s.strayRecipients.all() as { id: string }[]) {
        out.push(`${r.id}: recipients without message`);
      }
      type Stat = {
        state: string;
        count: number;
        bytes: number;
        real_count: number;
        real_bytes: number;
      };
      for (const s of this.s.statsActual.all() as Stat[]) {
        if (s.count !== s.real_count || s.bytes !== s.real_bytes) {
          out.push(
            `queue_stats ${s.state}: ${s.count} messages / ${s.bytes} bytes, ` +
              `actual ${s.real_count} / ${s.real_bytes}`,
          );
        }
      }
      return out.length === 0 ? ["ok"] : out;
    });
  }

  metrics(): QueueMetrics {
    return { ...this.counters };
  }

  prune(opts: { eventsBefore?: number; idempotencyBefore?: number; limit?: number }): {
    events: number;
    idempotency: number;
  } {
    const limit = opts.limit ?? -1; // SQLite: a negative LIMIT is none
    return this.tx(false, "pruning", () => ({
      events:
        opts.eventsBefore === undefined
          ? 0
          : this.s.pruneEvents.run(opts.eventsBefore, limit).changes,
      idempotency:
        opts.idempotencyBefore === undefined
          ? 0
          : this.s.pruneIdempotency.run(opts.idempotencyBefore, limit).changes,
    }));
  }

  idempotencyGet(key: string): string | null {
    const row = this.read("idempotency key", () => this.s.idemGet.get(key)) as {
      id: string;
    } | null;
    return row ? row.id : null;
  }

  idempotencyPut(key: string, id: string): void {
    this.tx(false, "idempotency key", () => {
      this.s.idemPut.run(key, id.toUpperCase(), Date.now());
    });
  }

  // --- plumbing -------------------------------------------------------------------------------

  /**
   * synchronous=FULL fsyncs the WAL at COMMIT. Not a prepared statement on purpose: SQLite
   * applies this pragma while compiling it, so re-running a prepared one does nothing.
   */
  private setSync(full: boolean): void {
    this.db.run(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  }

  private checkOpen(): void {
    if (this.closed) throw new QueueError("QUEUE_ERROR", "queue closed");
  }

  private read<T>(what: string, fn: () => T): T {
    this.checkOpen();
    // Another store of this process (an in-process queue tool) sees what was written so far.
    if (openStores.size > 1) this.othersSettle();
    try {
      return fn();
    } catch (err) {
      throw toQueueError(err, what);
    }
  }

  /**
   * A write transaction of its own (BEGIN IMMEDIATE), committed before the call returns;
   * durable = synchronous FULL for its COMMIT. The turn's deferred scheduler writes commit
   * first, so everything stays in order.
   */
  private tx<T>(durable: boolean, what: string, fn: () => T): T {
    this.checkOpen();
    try {
      this.settle();
      this.othersSettle();
      if (durable) this.setSync(true);
      this.s.begin.run();
      try {
        const result = fn();
        this.s.commit.run();
        this.localChanges++;
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.s.rollback.run();
        throw err;
      }
    } catch (err) {
      throw toQueueError(err, what);
    } finally {
      if (durable) {
        try {
          this.setSync(false);
        } catch {
          // Only costs speed.
        }
      }
    }
  }

  /**
   * A scheduler write (synchronous=NORMAL): it joins the turn's open transaction in a SAVEPOINT
   * (it fails alone), is visible to this connection at once and to other processes when the
   * turn ends (GroupCommitter.schedule runs the COMMIT). A crash before then loses it like any
   * NORMAL commit: a delivery is repeated, nothing is lost. `replay` must redo exactly the same
   * change after a rollback; by default `fn` again.
   */
  private deferTx<T>(what: string, fn: () => T, replay: () => void = fn): T {
    this.checkOpen();
    try {
      this.ensureTx();
      this.s.savepoint.run();
      let result: T;
      try {
        result = fn();
        this.s.release.run();
      } catch (err) {
        if (!(this.db.inTransaction && this.undoSavepoint()) && this.db.inTransaction) {
          this.s.rollback.run();
        }
        throw err;
      }
      this.deferred.push(replay);
      this.localChanges++;
      this.committer.schedule();
      return result;
    } catch (err) {
      // Scheduler writes a rollback took are replayed by the next transaction.
      if (this.deferred.length > 0) this.committer.schedule();
      throw toQueueError(err, what);
    }
  }

  /**
   * Open the turn's write transaction unless one is open, replaying the deferred writes that a
   * rollback undid. A write that no longer applies (its message was deleted meanwhile) is
   * dropped; each pass drops at least one, so the loop ends.
   */
  private ensureTx(): void {
    if (!this.db.inTransaction) this.othersSettle();
    while (!this.db.inTransaction) {
      this.s.begin.run();
      const lost = this.deferred;
      this.deferred = [];
      for (let i = 0; i < lost.length; i++) {
        this.s.savepoint.run();
        try {
          lost[i]();
          this.s.release.run();
          this.deferred.push(lost[i]);
        } catch {
          if (this.db.inTransaction && this.undoSavepoint()) continue;
          if (this.db.inTransaction) this.s.rollback.run();
          this.deferred = this.deferred.concat(lost.slice(i + 1));
          break;
        }
      }
    }
  }

  /** Commit the deferred writes now (synchronous=NORMAL: no fsync of their own). */
  private settle(): void {
    if (this.deferred.length === 0 && !this.db.inTransaction) return;
    this.ensureTx();
    try {
      this.s.commit.run();
    } catch (err) {
      if (this.db.inTransaction) this.s.rollback.run();
      throw err;
    }
    this.deferred = [];
  }

  /** The other stores of this process commit their deferred writes (see openStores). */
  private othersSettle(): void {
    if (openStores.size < 2) return;
    for (const st of openStores) if (st !== this && st.db.inTransaction) st.settleQuietly();
  }

  /** settle(), and when it cannot (the database is locked or full), try again shortly. */
  private settleQuietly(): void {
    try {
      this.settle();
    } catch {
      if (this.db.inTransaction) {
        try {
          this.s.rollback.run();
        } catch {
          // Nothing more to undo.
        }
      }
      if (!this.retryTimer && !this.closed) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          if (!this.closed) this.committer.schedule();
        }, 100);
        this.retryTimer.unref?.();
      }
    }
  }

  /** Statements whose text depends on the filter's shape: a bounded cache by SQL text. */
  private stmt(sql: string): Statement {
    let st = this.dynamic.get(sql);
    if (st) return st;
    if (this.dynamic.size >= DYNAMIC_CACHE_MAX) {
      const oldest = this.dynamic.keys().next().value as string;
      this.dynamic.get(oldest)?.finalize();
      this.dynamic.delete(oldest);
    }
    st = this.db.prepare(sql);
    this.dynamic.set(sql, st);
    return st;
  }
}

/** Finalize every statement and release the file now (close(false) would linger on). */
function closeQuietly(db: Database): void {
  try {
    db.close(true);
  } catch {
    // Nothing left to do with a connection that will not close.
  }
}

function pidAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}
