/**
 * anvil -- per-client connection counts and event rates (Postfix anvil(8)), in process.
 *
 * One Anvil is shared by every smtpd service of the process; counts are kept per service and
 * client address, as Postfix's anvil keys them. Rates count events in a fixed window of
 * $anvil_rate_time_unit that starts with the first event, as Postfix does. Memory is bounded:
 * idle entries whose window has expired are dropped, and past `maxEntries` idle entries are
 * dropped oldest first (a client with open connections is always kept).
 *
 * Parameters (applied by the session): smtpd_client_connection_count_limit,
 * smtpd_client_connection_rate_limit, smtpd_client_message_rate_limit,
 * smtpd_client_recipient_rate_limit, smtpd_client_event_limit_exceptions, anvil_rate_time_unit.
 */

interface Entry {
  count: number;
  windowStart: number;
  conn: number;
  mail: number;
  rcpt: number;
}

export interface AnvilOptions {
  /** Upper bound on the clients remembered (default 100,000). */
  maxEntries?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export class Anvil {
  readonly #map = new Map<string, Entry>();
  readonly #max: number;
  readonly #now: () => number;
  #lastSweep = 0;
  #unitMs = 60_000;

  constructor(opts: AnvilOptions = {}) {
    this.#max = Math.max(16, opts.maxEntries ?? 100_000);
    this.#now = opts.now ?? Date.now;
  }

  /** Clients currently remembered. */
  get size(): number {
    return this.#map.size;
  }

  /** A new connection: its concurrency and its rate in the current window (this one included). */
  connect(service: string, addr: string, unitMs: number): { count: number; rate: number } {
    const e = this.#entry(service, addr, unitMs);
    e.count++;
    e.conn++;
    return { count: e.count, rate: e.conn };
  }

  disconnect(service: string, addr: string): void {
    const e = this.#map.get(key(service, addr));
    if (e && e.count > 0) e.count--;
  }

  /** A MAIL FROM: the message rate in the current window. */
  message(service: string, addr: string, unitMs: number): number {
    return ++this.#entry(service, addr, unitMs).mail;
  }

  /** A RCPT TO (or VRFY): the recipient rate in the current window. */
  recipient(service: string, addr: string, unitMs: number): number {
    return ++this.#entry(service, addr, unitMs).rcpt;
  }

  #entry(service: string, addr: string, unitMs: number): Entry {
    const now = this.#now();
    this.#unitMs = unitMs;
    const k = key(service, addr);
    let e = this.#map.get(k);
    if (!e) {
      if (this.#map.size >= this.#max || now - this.#lastSweep > unitMs) this.#sweep(now);
      e = { count: 0, windowStart: now, conn: 0, mail: 0, rcpt: 0 };
      this.#map.set(k, e);
    } else if (now - e.windowStart >= unitMs) {
      e.windowStart = now;
      e.conn = 0;
      e.mail = 0;
      e.rcpt = 0;
    }
    return e;
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [k, e] of this.#map) {
      if (e.count === 0 && now - e.windowStart >= this.#unitMs) this.#map.delete(k);
    }
    if (this.#map.size < this.#max) return;
    // Still full: forget idle clients, oldest first, down to three quarters.
    const target = Math.floor((this.#max * 3) / 4);
    for (const [k, e] of this.#map) {
      if (this.#map.size <= target) break;
      if (e.count === 0) this.#map.delete(k);
    }
  }
}

function key(service: string, addr: string): string {
  return `${service}:${addr}`;
}

export function createAnvil(opts?: AnvilOptions): Anvil {
  return new Anvil(opts);
}
