/**
 * Process-wide counters and series: what the REST API's /stats and /metrics report.
 *
 * Components count events where they happen (smtpd connections and rejects, cleanup
 * acceptances, qmgr delivery results); the API only reads. Per-minute series cover the last
 * hour in a ring of 60 slots, so memory is fixed whatever the traffic.
 */

export const COUNTERS = [
  "connections",
  "connections_tls",
  "accepted",
  "accepted_bytes",
  "rejected",
  "delivered",
  "deferred",
  "bounced",
  "expired",
  "auth_failures",
] as const;
export type CounterName = (typeof COUNTERS)[number];

/** Upper bounds (seconds) of the delivery latency histogram (Prometheus buckets). */
export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400];

const SLOTS = 60;

class Metrics {
  readonly startedAt = Date.now();
  private readonly totals = new Map<CounterName, number>();
  private readonly series = new Map<CounterName, Float64Array>();
  private readonly slotMinute = new Float64Array(SLOTS).fill(-1);
  readonly latencyCounts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  latencySum = 0;
  latencyCount = 0;

  constructor() {
    for (const c of COUNTERS) {
      this.totals.set(c, 0);
      this.series.set(c, new Float64Array(SLOTS));
    }
  }

  private slot(now: number): number {
    const minute = Math.floor(now / 60_000);
    const i = minute % SLOTS;
    if (this.slotMinute[i] !== minute) {
      this.slotMinute[i] = minute;
      for (const s of this.series.values()) s[i] = 0;
    }
    return i;
  }

  inc(name: CounterName, n = 1, now = Date.now()): void {
    this.totals.set(name, (this.totals.get(name) ?? 0) + n);
    const s = this.series.get(name)!;
    s[this.slot(now)] += n;
  }

  /** One delivery's total delay (arrival to final result), in seconds. */
  observeLatency(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    this.latencyCounts[i]++;
    this.latencySum += seconds;
    this.latencyCount++;
  }

  total(name: CounterName): number {
    return this.totals.get(name) ?? 0;
  }

  /** The last 60 minutes of a counter, oldest first: [{minute (ms since epoch), value}]. */
  perMinute(name: CounterName, now = Date.now()): { minute: number; value: number }[] {
    const current = Math.floor(now / 60_000);
    const s = this.series.get(name)!;
    const out: { minute: number; value: number }[] = [];
    for (let m = current - SLOTS + 1; m <= current; m++) {
      const i = ((m % SLOTS) + SLOTS) % SLOTS;
      out.push({ minute: m * 60_000, value: this.slotMinute[i] === m ? s[i] : 0 });
    }
    return out;
  }

  reset(): void {
    for (const c of COUNTERS) {
      this.totals.set(c, 0);
      this.series.get(c)!.fill(0);
    }
    this.slotMinute.fill(-1);
    this.latencyCounts.fill(0);
    this.latencySum = 0;
    this.latencyCount = 0;
  }
}

export const metrics = new Metrics();
export type { Metrics };
