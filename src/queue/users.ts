/**
 * The user table in queue.db: SASL logins and virtual mailboxes (DESIGN.md "Users and
 * mailboxes"). Names are plain logins or email addresses, stored lowercase; the password hash
 * is made by the caller (Bun.password, argon2id) and stored as given.
 */

import type { Database, Statement } from "bun:sqlite";
import { QueueError, toQueueError } from "./errors.ts";
import type { UserRecord, UserStore } from "./store.ts";

/** Runs fn in a durable (synchronous=FULL) write transaction, errors wrapped as QueueError. */
export type DurableWrite = <T>(what: string, fn: () => T) => T;

const BAD_NAME = /[\s\x00-\x1f\x7f]/;

export function normalizeUserName(name: string): string {
  const n = name.trim().toLowerCase();
  if (n === "" || n.length > 320 || BAD_NAME.test(n)) {
    throw new QueueError("INVALID", `invalid user name ${JSON.stringify(name)}`);
  }
  return n;
}

interface UserRow {
  name: string;
  hash: string;
  created: number;
}

export class SqliteUserStore implements UserStore {
  private readonly insert: Statement;
  private readonly update: Statement;
  private readonly remove: Statement;
  private readonly select: Statement<UserRow>;
  private readonly selectAll: Statement<UserRow>;

  constructor(
    db: Database,
    private readonly durable: DurableWrite,
  ) {
    this.insert = db.prepare(
      "INSERT INTO users (name, hash, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
    );
    this.update = db.prepare("UPDATE users SET hash = ? WHERE name = ?");
    this.remove = db.prepare("DELETE FROM users WHERE name = ?");
    this.select = db.prepare("SELECT name, hash, created FROM users WHERE name = ?");
    this.selectAll = db.prepare("SELECT name, hash, created FROM users ORDER BY name");
  }

  add(name: string, hash: string): void {
    const n = normalizeUserName(name);
    this.durable(`adding user ${n}`, () => {
      if (this.insert.run(n, hash, Date.now()).changes === 0) {
        throw new QueueError("BAD_STATE", `user ${n} already exists`);
      }
    });
  }

  setPassword(name: string, hash: string): void {
    const n = normalizeUserName(name);
    this.durable(`changing password of ${n}`, () => {
      if (this.update.run(hash, n).changes === 0) {
        throw new QueueError("NOT_FOUND", `no user ${n}`);
      }
    });
  }

  delete(name: string): void {
    const n = normalizeUserName(name);
    this.durable(`deleting user ${n}`, () => {
      if (this.remove.run(n).changes === 0) throw new QueueError("NOT_FOUND", `no user ${n}`);
    });
  }

  get(name: string): UserRecord | null {
    const n = normalizeUserName(name);
    try {
      const row = this.select.get(n);
      return row ? { name: row.name, hash: row.hash, created: row.created } : null;
    } catch (err) {
      throw toQueueError(err, `reading user ${n}`);
    }
  }

  list(): UserRecord[] {
    try {
      return this.selectAll.all().map((r) => ({ name: r.name, hash: r.hash, created: r.created }));
    } catch (err) {
      throw toQueueError(err, "listing users");
    }
  }
}
