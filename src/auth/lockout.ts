/**
 * Brute-force resistance for SMTP AUTH: failed attempts are counted per client address; after
 * $smtpd_auth_failure_limit failures within $smtpd_auth_lockout_time the client is refused AUTH
 * (421 4.7.0, connection closed) for $smtpd_auth_lockout_time. IPv6 clients are counted per /64,
 * the smallest block one subscriber usually holds, so rotating addresses within it does not help.
 *
 * Memory is bounded: at most `maxClients` addresses are tracked; the least recently failing one
 * is forgotten first.
 */
import { isIPv6 } from "node:net";
import type { Config } from "../config/types.ts";
import type { Reply } from "../smtpd/reply.ts";

export interface LockoutOptions {
  /** Failures that lock a client out; 0 disables the lockout. */
  limit: number;
  /** Failures older than this are forgotten (ms). */
  windowMs: number;
  /** How long a locked-out client is refused (ms). */
  lockoutMs: number;
  /** Most client addresses tracked at once (default 100,000). */
  maxClients?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  /** Time of the first failure counted in the current window. */
  since: number;
  lockedUntil: number;
}

export const DEFAULT_MAX_CLIENTS = 100_000;

/** The key an address is counted under: IPv4 as is, IPv6 by its /64. */
export function lockoutKey(addr: string): string {
  let a = addr.trim().toLowerCase();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  if (a.startsWith("ipv6:")) a = a.slice(5);
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/.test(a)) return a.slice(7);
  if (!isIPv6(a)) return a;
  const [head, tail = ""] = a.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = tail === "" ? [] : tail.split(":");
  const groups = a.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

export class AuthLockout {
  limit: number;
  windowMs: number;
  lockoutMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: LockoutOptions) {
    this.limit = opts.limit;
    this.windowMs = opts.windowMs;
    this.lockoutMs = opts.lockoutMs;
    this.#max = Math.max(1, opts.maxClients ?? DEFAULT_MAX_CLIENTS);
    this.#now = opts.now ?? Date.now;
  }

  /** smtpd_auth_failure_limit failures within smtpd_auth_lockout_time lock out for as long. */
  static fromConfig(cfg: Config, opts: Partial<LockoutOptions> = {}): AuthLockout {
    const ms = cfg.time("smtpd_auth_lockout_time") * 1000;
    return new AuthLockout({
      limit: cfg.int("smtpd_auth_failure_limit"),
      windowMs: ms,
      lockoutMs: ms,
      ...opts,
    });
  }

  /**
   * reload: the new limit and times apply from the next failure on; the counts and lockouts
   * already running are kept (a reload is no way out of a lockout).
   */
  reconfigure(cfg: Config): void {
    const ms = cfg.time("smtpd_auth_lockout_time") * 1000;
    this.limit = cfg.int("smtpd_auth_failure_limit");
    this.windowMs = ms;
    this.lockoutMs = ms;
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Until when (ms since epoch) the client is refused, or null when it is not. */
  lockedUntil(addr: string): number | null {
    if (this.limit <= 0) return null;
    const e = this.#entries.get(lockoutKey(addr));
    if (e === undefined || e.lockedUntil <= this.#now()) return null;
    return e.lockedUntil;
  }

  /** Counts one failed attempt; returns whether the client is now locked out. */
  recordFailure(addr: string): { locked: boolean; failures: number } {
    if (this.limit <= 0) return { locked: false, failures: 0 };
    const key = lockoutKey(addr);
    const now = this.#now();
    let e = this.#entries.get(key);
    if (e !== undefined) this.#entries.delete(key); // re-inserted below: newest last
    if (e === undefined || (now - e.since > this.windowMs && e.lockedUntil <= now)) {
      e = { failures: 0, since: now, lockedUntil: 0 };
    }
    e.failures++;
    if (e.failures >= this.limit && e.lockedUntil <= now) e.lockedUntil = now + this.lockoutMs;
    this.#entries.set(key, e);
    this.#evict();
    return { locked: e.lockedUntil > now, failures: e.failures };
  }

  /** A successful login clears the client's count. */
  recordSuccess(addr: string): void {
    this.#entries.delete(lockoutKey(addr));
  }

  #evict(): void {
    // Map order is insertion order and every update re-inserts: the first is the stalest.
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) return;
      this.#entries.delete(oldest.value);
    }
  }
}

/** The reply to AUTH from a locked-out client: Postfix-style 421, and the session ends. */
export function lockoutReply(hostname: string): Reply {
  return {
    code: 421,
    enhanced: "4.7.0",
    text: `${hostname} Error: too many AUTH failures`,
    close: true,
  };
}
