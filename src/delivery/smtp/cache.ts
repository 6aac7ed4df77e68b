/**
 * Idle SMTP/LMTP sessions kept for the next delivery to the same next hop (Postfix scache(8)),
 * keyed by transport, next hop and TLS level. A session is cached after a transaction (the RSET
 * that checks it goes out pipelined with its next use), kept for
 * $smtp_connection_cache_time_limit, used at most
 * $smtp_connection_reuse_count_limit times, and sent QUIT when it expires or is evicted.
 */

import type { Session } from "./session.ts";

/** Idle sessions kept per key and in all (a bound on sockets held open). */
const MAX_PER_KEY = 16;
const MAX_TOTAL = 1000;

interface Idle {
  session: Session;
  /** Settles when the RSET that readies the session has been answered (false: unusable). */
  ready: Promise<boolean>;
  timer: ReturnType<typeof setTimeout>;
}

export class ConnectionCache {
  private readonly idle = new Map<string, Idle[]>();
  private total = 0;

  /** A live idle session for key, or undefined. */
  async take(key: string): Promise<Session | undefined> {
    for (
      let list = this.idle.get(key);
      list !== undefined && list.length > 0;
      list = this.idle.get(key)
    ) {
      const e = list.pop() as Idle;
      this.total--;
      if (list.length === 0) this.idle.delete(key);
      clearTimeout(e.timer);
      e.session.conn.onGoneHook = null;
      const ok = await e.ready;
      // A server that closed, or said something (421) while idle, is not used again.
      if (ok && e.session.conn.isOpen && !e.session.conn.hasUnreadReplies) return e.session;
      e.session.conn.close();
    }
    return undefined;
  }

  /**
   * Keeps an idle session for ttlMs once `ready` (its RSET) succeeds; QUIT when full. The
   * session is findable at once, so that the next delivery waits for the RSET instead of
   * opening a second connection.
   */
  put(key: string, session: Session, ready: Promise<boolean>, ttlMs: number): void {
    let list = this.idle.get(key);
    if (
      ttlMs <= 0 ||
      this.total >= MAX_TOTAL ||
      (list !== undefined && list.length >= MAX_PER_KEY)
    ) {
      void session.quitQuietly();
      return;
    }
    if (list === undefined) {
      list = [];
      this.idle.set(key, list);
    }
    const entry: Idle = {
      session,
      ready,
      timer: setTimeout(() => void this.evict(key, entry, true), ttlMs),
    };
    entry.timer.unref?.();
    session.conn.onGoneHook = () => this.evict(key, entry, false);
    list.push(entry);
    this.total++;
    ready.then((ok) => {
      if (!ok) void this.evict(key, entry, true);
    });
  }

  private evict(key: string, entry: Idle, quit: boolean): Promise<void> {
    const list = this.idle.get(key);
    if (list === undefined) return Promise.resolve();
    const i = list.indexOf(entry);
    if (i < 0) return Promise.resolve();
    list.splice(i, 1);
    this.total--;
    if (list.length === 0) this.idle.delete(key);
    clearTimeout(entry.timer);
    entry.session.conn.onGoneHook = null;
    return quit ? entry.session.quitQuietly() : Promise.resolve();
  }

  get size(): number {
    return this.total;
  }

  /** QUIT every idle session. */
  async closeAll(): Promise<void> {
    const quits: Promise<void>[] = [];
    for (const [key, list] of [...this.idle])
      for (const e of [...list]) quits.push(this.evict(key, e, true));
    await Promise.all(quits);
  }
}
