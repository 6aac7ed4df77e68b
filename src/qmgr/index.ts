/**
 * qmgr -- the queue manager (Postfix qmgr(8)).
 *
 * Moves new and due mail into the active queue (at most $qmgr_message_active_limit messages),
 * resolves each pending recipient to a transport and next hop, groups recipients per
 * destination ($<transport>_destination_recipient_limit), runs deliveries with at most
 * $<transport>_destination_concurrency_limit per destination and master.cf maxproc per
 * transport, records every result, and decides what happens next: removed when done, deferred
 * with exponential backoff ($minimal_backoff_time .. $maximal_backoff_time), returned to the
 * sender after $maximal_queue_lifetime ($bounce_queue_lifetime for bounces), delay notices
 * after $delay_warning_time. A next hop that fails $..._failed_cohort_limit times in a row is
 * "dead" for $destination_dead_time: its backlog is deferred without connecting, as Postfix does.
 *
 * Nothing polls: the scheduler wakes when cleanup queued mail, when a queue tool sends a
 * control request, or on one timer armed for the earliest deferred message.
 */
import { composeNotice, noticeRoute, postmasterCopies } from "../bounce/index.ts";
import type { CleanupInput, CleanupSession } from "../cleanup/types.ts";
import type { Config, MasterService } from "../config/types.ts";
import type { DeliveryAgent, DeliveryResult, RecipientOutcome } from "../delivery/types.ts";
import { logger } from "../log/index.ts";
import { metrics } from "../log/metrics.ts";
import type { QueueStore } from "../queue/index.ts";
import type { MessageRecord, RecipientRecord } from "../queue/types.ts";
import { externalForm } from "../rewrite/address.ts";
import { resolve } from "../rewrite/index.ts";
import { backoffDelay, isExpired } from "./backoff.ts";
import { deliveryLogLine } from "./delivery-log.ts";

const log = logger("qmgr");

export interface QmgrContext {
  queue: QueueStore;
  /** The configuration in force (changes on reload). */
  config(): Config;
  /** Delivery agent for a master.cf command name (smtp, lmtp, local, virtual, ...). */
  agentFor(command: string): DeliveryAgent | undefined;
  newCleanup(input: CleanupInput): CleanupSession;
  /** Observers of delivery events (API statistics, SSE, webhooks). */
  onEvent?(ev: QmgrEvent): void;
}

export type QmgrEvent =
  | {
      kind: "sent" | "deferred" | "bounced" | "expired";
      queueId: string;
      recipient: string;
      dsn: string;
      relay: string;
      text: string;
      delay: number;
    }
  | { kind: "removed"; queueId: string };

interface ActiveMessage {
  record: MessageRecord;
  activatedAt: number;
  jobsLeft: number;
  /** Results of this round, by recipient index. */
  round: Map<number, RecipientOutcome>;
  cfg: Config;
  /** Why the stored message turned out unreadable during this round (it goes to "corrupt"). */
  corrupt?: string;
}

interface Job {
  msg: ActiveMessage;
  recipients: RecipientRecord[];
  dest: Destination;
}

interface Destination {
  key: string;
  transport: string;
  nexthop: string;
  queue: Job[];
  active: number;
  limit: number;
  failures: number;
  deadUntil: number;
  lastFailure: { dsn: string; text: string } | null;
}

export interface QmgrStats {
  active: number;
  deliveriesInFlight: number;
  destinations: number;
}

export class Qmgr {
  private readonly active = new Map<string, ActiveMessage>();
  private readonly destinations = new Map<string, Destination>();
  private readonly transportBusy = new Map<string, number>();
  private scanScheduled = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = 0;
  /** When the timer last started a scan for deferred mail (Postfix's deferred queue run). */
  private lastQueueRun = 0;
  private stopping = false;
  /** start() has run: before it, wake() must not claim what recovery is about to requeue. */
  private started = false;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly ctx: QmgrContext) {}

  /** Recover from a previous run and start delivering. */
  start(): void {
    const { requeued, orphansRemoved } = this.ctx.queue.recoverOnStartup();
    if (requeued > 0) log.info(`requeued ${requeued} message(s) left active by the previous run`);
    if (orphansRemoved > 0) log.info(`removed ${orphansRemoved} orphaned body chunk(s)`);
    // Messages caught between their last delivery and their notices: finish them now.
    for (const m of this.ctx.queue.iterate({ state: "bounce" })) void this.finishBounceState(m);
    this.started = true;
    this.wake();
  }

  get stats(): QmgrStats {
    return {
      active: this.active.size,
      deliveriesInFlight: this.inFlight,
      destinations: this.destinations.size,
    };
  }

  /** Something may be due: scan soon (coalesced within one event-loop turn). */
  wake(): void {
    if (this.scanScheduled || this.stopping || !this.started) return;
    this.scanScheduled = true;
    setImmediate(() => {
      this.scanScheduled = false;
      this.scan();
    });
  }

  /** postqueue -f / -s SITE: deliver deferred mail now and forget dead destinations. */
  flush(site?: string): number {
    const n = this.ctx.queue.flush(site);
    for (const d of this.destinations.values()) {
      if (!site || d.nexthop.toLowerCase().includes(site.toLowerCase())) {
        d.deadUntil = 0;
        d.failures = 0;
      }
    }
    this.wake();
    return n;
  }

  /** Stop taking work; wait (up to timeoutMs) for deliveries in flight. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight === 0) return;
    await Promise.race([
      new Promise<void>((r) => this.idleWaiters.push(r)),
      new Promise<void>((r) => setTimeout(r, timeoutMs)),
    ]);
  }

  // ------------------------------------------------------------------ scanning

  private scan(): void {
    if (this.stopping) return;
    const cfg = this.ctx.config();
    const room = cfg.int("qmgr_message_active_limit") - this.active.size;
    if (room > 0) {
      const batch = Math.min(room, 500);
      let claimed: MessageRecord[] = [];
      try {
        claimed = this.ctx.queue.claimDue(Date.now(), batch);
      } catch (err) {
        log.warn(`queue scan failed: ${errText(err)}`);
        this.armTimer(Date.now() + 5000);
        return;
      }
      for (const m of claimed) {
        // One damaged message must never stop the scheduler: it is set aside, the rest goes on.
        try {
          const bad = damage(m);
          if (bad !== null) this.quarantine(m.id, bad);
          else this.activate(m, cfg);
        } catch (err) {
          this.active.delete(m.id);
          this.quarantine(m.id, `cannot schedule: ${errText(err)}`);
        }
      }
      if (claimed.length === batch) this.wake();
    }
    this.armTimer();
  }

  /** One timer for the earliest deferred message; never a polling loop. */
  private armTimer(at?: number): void {
    if (this.stopping) return;
    let due = at;
    if (due === undefined) {
      try {
        due = this.ctx.queue.nextDueTime() ?? undefined;
      } catch {
        due = Date.now() + 5000;
      }
    }
    if (due === undefined) return;
    // Deferred mail is taken by queue runs at most every $queue_run_delay, as Postfix's
    // deferred queue scans are, so that retries due close together go in one batch. New mail,
    // flushes and operator requeues do not wait for this: they call wake() directly.
    due = Math.max(due, this.lastQueueRun + this.ctx.config().time("queue_run_delay") * 1000);
    if (this.timer && this.timerAt <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = due;
    // setTimeout's limit is 2^31-1 ms (24.8 days); a later wake-up just re-arms.
    const delay = Math.min(Math.max(0, due - Date.now()), 2_000_000_000);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.lastQueueRun = Date.now();
      this.wake();
    }, delay);
    this.timer.unref?.();
  }

  // ------------------------------------------------------------------ activation

  private activate(record: MessageRecord, cfg: Config): void {
    const pending = record.recipients.filter(
      (r) => r.status === "pending" || r.status === "deferred",
    );
    log.info(
      `${record.id}: from=<${externalForm(record.sender)}>, size=${record.size}, nrcpt=${record.recipients.length} (queue active)`,
    );
    const msg: ActiveMessage = {
      record,
      activatedAt: Date.now(),
      jobsLeft: 0,
      round: new Map(),
      cfg,
    };
    this.active.set(record.id, msg);
    if (pending.length === 0) {
      void this.finalize(msg);
      return;
    }
    const groups = new Map<
      string,
      { transport: string; nexthop: string; rcpts: RecipientRecord[] }
    >();
    for (const r of pending) {
      const res = resolve(cfg, r.address);
      const limit = this.recipientLimit(cfg, res.transport);
      // With a recipient limit of 1 each recipient is its own destination (Postfix local(8)).
      const key = `${res.transport}\0${res.nexthop.toLowerCase()}${limit === 1 ? `\0${r.address.toLowerCase()}` : ""}`;
      let g = groups.get(key);
      if (!g) {
        g = { transport: res.transport, nexthop: res.nexthop, rcpts: [] };
        groups.set(key, g);
      }
      g.rcpts.push(r);
    }
    const jobs: Job[] = [];
    for (const [key, g] of groups) {
      const dest = this.destination(cfg, key, g.transport, g.nexthop);
      const limit = this.recipientLimit(cfg, g.transport);
      for (let i = 0; i < g.rcpts.length; i += limit) {
        jobs.push({ msg, recipients: g.rcpts.slice(i, i + limit), dest });
      }
    }
    msg.jobsLeft = jobs.length;
    for (const j of jobs) j.dest.queue.push(j);
    for (const d of new Set(jobs.map((j) => j.dest))) this.pump(d);
  }

  private recipientLimit(cfg: Config, transport: string): number {
    const n = Number.parseInt(cfg.transport(transport, "destination_recipient_limit"), 10);
    return Number.isFinite(n) && n > 0 ? n : 50;
  }

  private destination(cfg: Config, key: string, transport: string, nexthop: string): Destination {
    let d = this.destinations.get(key);
    if (!d) {
      const n = Number.parseInt(cfg.transport(transport, "destination_concurrency_limit"), 10);
      d = {
        key,
        transport,
        nexthop,
        queue: [],
        active: 0,
        limit: Number.isFinite(n) && n > 0 ? n : 20,
        failures: 0,
        deadUntil: 0,
        lastFailure: null,
      };
      this.destinations.set(key, d);
    }
    return d;
  }

  private service(cfg: Config, transport: string): MasterService | undefined {
    return cfg.services.find((s) => s.name === transport && s.type === "unix");
  }

  // ------------------------------------------------------------------ running deliveries

  private pump(dest: Destination): void {
    while (dest.queue.length > 0 && dest.active < dest.limit) {
      const now = Date.now();
      if (dest.deadUntil > now) {
        // Dead destination: defer its backlog without connecting (Postfix: "delivery
        // temporarily suspended").
        const job = dest.queue.shift()!;
        const f = dest.lastFailure ?? { dsn: "4.4.1", text: "destination unavailable" };
        this.complete(
          job,
          this.uniform(job, "deferred", f.dsn, `delivery temporarily suspended: ${f.text}`, "none"),
          now,
        );
        continue;
      }
      const cfg = dest.queue[0].msg.cfg;
      const svc = this.service(cfg, dest.transport);
      const busy = this.transportBusy.get(dest.transport) ?? 0;
      if (svc && svc.maxproc > 0 && busy >= svc.maxproc) return; // resumes when one finishes
      const job = dest.queue.shift()!;
      this.run(job, svc);
    }
    if (dest.queue.length === 0 && dest.active === 0 && dest.deadUntil <= Date.now())
      this.destinations.delete(dest.key);
  }

  private run(job: Job, svc: MasterService | undefined): void {
    const dest = job.dest;
    const started = Date.now();
    const agent = svc ? this.ctx.agentFor(svc.command) : undefined;
    if (!svc || !agent) {
      const what = svc
        ? `unknown mail transport command: ${svc.command}`
        : `mail transport unavailable: ${dest.transport}`;
      log.warn(`${job.msg.record.id}: ${what}`);
      this.complete(job, this.uniform(job, "deferred", "4.3.0", what, "none"), started);
      return;
    }
    dest.active++;
    this.inFlight++;
    this.transportBusy.set(dest.transport, (this.transportBusy.get(dest.transport) ?? 0) + 1);
    const cfg =
      Object.keys(svc.overrides).length > 0
        ? job.msg.cfg.withOverrides(svc.overrides)
        : job.msg.cfg;
    const id = job.msg.record.id;
    let promise: Promise<DeliveryResult>;
    try {
      promise = agent.deliver({
        queueId: id,
        message: job.msg.record,
        recipients: job.recipients,
        transport: dest.transport,
        nexthop: dest.nexthop,
        cfg,
        service: svc,
        body: () => this.watchBody(job.msg),
      });
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise
      .catch((err): DeliveryResult => {
        log.warn(`${id}: ${svc.command} delivery failed: ${errText(err)}`);
        return this.uniform(job, "deferred", "4.3.0", "delivery agent error", "none");
      })
      .then((result) => {
        dest.active--;
        this.inFlight--;
        this.transportBusy.set(dest.transport, (this.transportBusy.get(dest.transport) ?? 1) - 1);
        this.noteDestinationHealth(job, result);
        this.complete(job, result, started, svc);
        this.pump(dest);
        this.pumpTransport(dest.transport);
        if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
  }

  /** A transport slot freed: let other destinations of that transport go on. */
  private pumpTransport(transport: string): void {
    for (const d of this.destinations.values()) {
      if (d.transport === transport && d.queue.length > 0 && d.active < d.limit) this.pump(d);
    }
  }

  private noteDestinationHealth(job: Job, result: DeliveryResult): void {
    const dest = job.dest;
    const unreachable =
      result.recipients.length > 0 &&
      result.recipients.every((r) => r.status === "deferred" && isSiteFailure(r));
    if (!unreachable) {
      dest.failures = 0;
      dest.deadUntil = 0;
      return;
    }
    dest.failures++;
    const first = result.recipients[0];
    dest.lastFailure = first ? { dsn: first.dsn, text: first.diagnostic } : null;
    const cfg = job.msg.cfg;
    const cohort =
      Number.parseInt(
        cfg.transport(dest.transport, "destination_concurrency_failed_cohort_limit"),
        10,
      ) || 1;
    if (dest.failures >= cohort && dest.active === 0) {
      dest.deadUntil = Date.now() + cfg.time("destination_dead_time") * 1000;
    }
  }

  private uniform(
    job: Job,
    status: "deferred" | "bounced",
    dsn: string,
    text: string,
    relay: string,
  ): DeliveryResult {
    return {
      recipients: job.recipients.map((r) => ({
        index: r.index,
        status,
        dsn,
        diagnostic: text,
        relay,
      })),
      setupTime: 0,
      transmitTime: 0,
    };
  }

  private complete(job: Job, result: DeliveryResult, started: number, svc?: MasterService): void {
    const msg = job.msg;
    const id = msg.record.id;
    const now = Date.now();
    try {
      // A result that owes the sender a notice moves the message to "bounce" first: a crash
      // before the notice is queued then leaves it where start-up sends the notice again
      // (finishBounceState), instead of a bounced recipient that nobody will ever report.
      if (result.recipients.some((r) => this.owesNotice(msg.record, r))) {
        this.ctx.queue.setState(id, "bounce");
      }
      this.ctx.queue.recordResults(id, result.recipients);
    } catch (err) {
      log.warn(`${id}: cannot record delivery results: ${errText(err)}`);
    }
    // Postfix logs deliveries under the agent's name (posteix/smtp, posteix/local), or the
    // service's own syslog_name when master.cf sets one.
    const syslogName = svc?.overrides.syslog_name;
    const dlog = logger(syslogName ? `${syslogName}/${svc?.command}` : (svc?.command ?? "qmgr"));
    if (result.tls && result.recipients[0]) {
      dlog.info(
        `${result.tls.verified ? "Verified" : "Untrusted"} TLS connection established to ${result.recipients[0].relay}: ${result.tls.protocol} with cipher ${result.tls.cipher}`,
      );
    }
    const a = (msg.activatedAt - Math.max(msg.record.arrivalTime, 0)) / 1000;
    const b = (started - msg.activatedAt) / 1000;
    for (const r of result.recipients) {
      msg.round.set(r.index, r);
      const rec = msg.record.recipients.find((x) => x.index === r.index);
      const address = rec?.address ?? "";
      const delay = (now - msg.record.arrivalTime) / 1000;
      dlog.info(
        deliveryLogLine({
          queueId: id,
          recipient: address,
          original: rec?.original ?? null,
          relay: r.relay,
          delay,
          delays: [Math.max(0, a), Math.max(0, b), result.setupTime, result.transmitTime],
          dsn: r.dsn,
          status: r.status,
          text: r.diagnostic,
        }),
      );
      this.ctx.onEvent?.({
        kind: r.status,
        queueId: id,
        recipient: address,
        dsn: r.dsn,
        relay: r.relay,
        text: r.diagnostic,
        delay,
      });
      if (r.status === "sent") {
        metrics.inc("delivered");
        metrics.observeLatency(delay);
      } else metrics.inc(r.status === "bounced" ? "bounced" : "deferred");
    }
    msg.jobsLeft--;
    if (msg.jobsLeft === 0) void this.finalize(msg);
  }

  // ------------------------------------------------------------------ after all deliveries

  private async finalize(msg: ActiveMessage): Promise<void> {
    const id = msg.record.id;
    const cfg = msg.cfg;
    try {
      if (msg.corrupt !== undefined) {
        this.quarantine(id, msg.corrupt);
        return;
      }
      if (allSentQuietly(msg)) {
        // The common case needs nothing read back: every recipient is delivered and no
        // success notice is owed.
        try {
          this.ctx.queue.remove(id, "delivered");
        } catch (err) {
          if ((err as { code?: string }).code === "NOT_FOUND") return; // deleted meanwhile
          throw err;
        }
        log.info(`${id}: removed`);
        this.ctx.onEvent?.({ kind: "removed", queueId: id });
        return;
      }
      const current = this.ctx.queue.get(id);
      if (!current) return; // deleted by an operator meanwhile
      const now = Date.now();
      const failed: RecipientRecord[] = [];
      const succeeded: RecipientRecord[] = [];
      let deferred: RecipientRecord[] = [];
      for (const r of current.recipients) {
        const got = msg.round.get(r.index);
        if (r.status === "bounced" && got?.status === "bounced") failed.push(r);
        else if (r.status === "sent" && got?.status === "sent") succeeded.push(r);
        else if (r.status === "pending" || r.status === "deferred") deferred.push(r);
      }
      const lifetime = cfg.time(
        current.sender === "" ? "bounce_queue_lifetime" : "maximal_queue_lifetime",
      );
      if (deferred.length > 0 && isExpired(current.arrivalTime, now, lifetime)) {
        // "bounce" before the results, for the same reason as in complete().
        this.ctx.queue.setState(id, "bounce");
        this.ctx.queue.recordResults(
          id,
          deferred.map((r) => ({
            index: r.index,
            status: "expired" as const,
            dsn: r.dsn ?? "4.4.7",
            diagnostic: r.diagnostic ?? "message expired",
            relay: r.relay ?? undefined,
          })),
        );
        log.info(
          `${id}: from=<${externalForm(current.sender)}>, status=expired, returned to sender`,
        );
        for (const r of deferred) {
          failed.push({ ...r, status: "expired" });
          metrics.inc("expired");
          this.ctx.onEvent?.({
            kind: "expired",
            queueId: id,
            recipient: r.address,
            dsn: r.dsn ?? "4.4.7",
            relay: r.relay ?? "none",
            text: r.diagnostic ?? "",
            delay: (now - current.arrivalTime) / 1000,
          });
        }
        deferred = [];
      }
      const notifySuccess = succeeded.filter((r) => r.notify.includes("SUCCESS"));
      if (failed.length > 0 || notifySuccess.length > 0) {
        this.ctx.queue.setState(id, "bounce");
        if (failed.length > 0) await this.notify("failure", current, failed);
        if (notifySuccess.length > 0) await this.notify("success", current, notifySuccess);
      }
      if (deferred.length > 0) {
        const dwt = cfg.time("delay_warning_time");
        if (dwt > 0 && current.warnedAt === null && now - current.arrivalTime >= dwt * 1000) {
          await this.notify("delay", current, deferred);
          this.ctx.queue.markWarned(id, now);
        }
        const next =
          now +
          backoffDelay(
            {
              minimal: cfg.time("minimal_backoff_time"),
              maximal: cfg.time("maximal_backoff_time"),
            },
            current.attempts + 1,
          ) *
            1000;
        const reason = deferred.find((r) => r.diagnostic)?.diagnostic ?? "deferred";
        this.ctx.queue.defer(id, Math.ceil(next), reason);
        this.armTimer(Math.ceil(next));
      } else {
        this.ctx.queue.remove(id, "delivered");
        log.info(`${id}: removed`);
        this.ctx.onEvent?.({ kind: "removed", queueId: id });
      }
    } catch (err) {
      // The notice could not read the original message back: no retry will fix that.
      if ((err as { code?: string }).code === "CORRUPT") {
        this.quarantine(id, errText(err));
        return;
      }
      log.warn(`${id}: cannot finish delivery attempt: ${errText(err)}`);
      try {
        this.ctx.queue.defer(
          id,
          Date.now() + cfg.time("minimal_backoff_time") * 1000,
          "internal error",
        );
      } catch {
        // The message stays active; recovery at the next start puts it back.
      }
    } finally {
      this.active.delete(id);
      this.wake();
    }
  }

  /** The stored body, noting on the message when it cannot be read back whole. */
  private *watchBody(msg: ActiveMessage): Generator<Uint8Array> {
    try {
      yield* this.ctx.queue.body(msg.record.id);
    } catch (err) {
      if ((err as { code?: string }).code === "CORRUPT") msg.corrupt ??= errText(err);
      throw err;
    }
  }

  /**
   * Set a message aside in the corrupt state (Postfix's "corrupted queue file" moved to
   * corrupt/): logged, kept for the operator (mailq, postcat, the API show it), never retried.
   */
  private quarantine(id: string, reason: string): void {
    log.warn(`${id}: corrupted queue entry, moved to the corrupt queue: ${reason}`);
    try {
      this.ctx.queue.setState(id, "corrupt", reason);
    } catch (err) {
      log.warn(`${id}: cannot move to the corrupt queue: ${errText(err)}`);
    }
  }

  /** This result makes a delivery status notification due (failure, or NOTIFY=SUCCESS). */
  private owesNotice(m: MessageRecord, r: RecipientOutcome): boolean {
    if (r.status === "bounced" || r.status === "expired") return true;
    return (
      r.status === "sent" &&
      m.recipients.some((x) => x.index === r.index && x.notify.includes("SUCCESS"))
    );
  }

  /**
   * A message found in the bounce state at start-up: send its notices again (a crash came
   * between a result that needs one and the notice; the ones of earlier rounds go again too,
   * a duplicate rather than a loss), then go on.
   */
  private async finishBounceState(m: MessageRecord): Promise<void> {
    const failed = m.recipients.filter((r) => r.status === "bounced" || r.status === "expired");
    const succeeded = m.recipients.filter(
      (r) => r.status === "sent" && r.notify.includes("SUCCESS"),
    );
    try {
      if (failed.length > 0) await this.notify("failure", m, failed);
      if (succeeded.length > 0) await this.notify("success", m, succeeded);
      const left = m.recipients.some((r) => r.status === "pending" || r.status === "deferred");
      if (left) this.ctx.queue.defer(m.id, Date.now(), m.reason ?? "deferred");
      else {
        this.ctx.queue.remove(m.id, "delivered");
        log.info(`${m.id}: removed`);
      }
    } catch (err) {
      if ((err as { code?: string }).code === "CORRUPT") this.quarantine(m.id, errText(err));
      else log.warn(`${m.id}: cannot finish bounce: ${errText(err)}`);
    }
    this.wake();
  }

  /**
   * Compose the DSN (RFC 3464) for these recipients, plus the postmaster copies that
   * $notify_classes asks for, and queue them through cleanup. Throws when one cannot be queued,
   * so the caller keeps the message (a crash or failure here means a duplicate notice later,
   * never a lost one).
   */
  private async notify(
    kind: "failure" | "delay" | "success",
    m: MessageRecord,
    rcpts: RecipientRecord[],
  ): Promise<void> {
    const input = {
      kind,
      message: m,
      recipients: rcpts,
      originalContent: () => this.ctx.queue.body(m.id),
      cfg: this.ctx.config(),
    };
    const main = composeNotice(input);
    const notices = [...(main ? [main] : []), ...postmasterCopies(input)];
    if (!main) {
      const route = noticeRoute(m, kind, input.cfg);
      if (!route.send) log.info(`${m.id}: ${route.reason}`);
    }
    for (const notice of notices) {
      const cleanup = this.ctx.newCleanup({
        sender: notice.sender,
        origin: "bounce",
        client: { name: "localhost", addr: "", protocol: "local" },
        trusted: true,
        bodyType: notice.bodyType,
        smtputf8: notice.smtputf8,
      });
      cleanup.addRecipient({ address: notice.recipient, notify: ["NEVER"] });
      for (const chunk of notice.content) cleanup.write(chunk);
      const out = await cleanup.end();
      if (out.kind !== "queued") {
        throw new Error(`cannot queue ${notice.label}: ${"text" in out ? out.text : out.kind}`);
      }
      log.info(`${m.id}: ${notice.label}: ${out.queueId}`);
    }
  }
}

/** Every recipient sent (in this round or before), none asking for a success notice. */
function allSentQuietly(msg: ActiveMessage): boolean {
  for (const r of msg.record.recipients) {
    if (r.status === "sent") continue;
    if (msg.round.get(r.index)?.status !== "sent" || r.notify.includes("SUCCESS")) return false;
  }
  return true;
}

/**
 * A result that says the next hop could not be reached or would not talk at all (as opposed
 * to a server that answered a command with 4xx): only these count toward marking a
 * destination dead, as Postfix's smtp(8) "throttles" a site only for such failures.
 */
function isSiteFailure(r: RecipientOutcome): boolean {
  if (r.relay === "none") return true;
  return /^(connect to |lost connection with \S+ while (receiving the initial server greeting|performing the [EL]?HLO handshake)|conversation with \S+ timed out while receiving the initial server greeting|host \S+ refused to talk to me)/.test(
    r.diagnostic,
  );
}

const KNOWN_STATUS: ReadonlySet<string> = new Set([
  "pending",
  "sent",
  "deferred",
  "bounced",
  "expired",
]);

/** What is wrong with a stored message that cannot be delivered as it is, or null. */
function damage(m: MessageRecord): string | null {
  if (m.recipients.length === 0) return "message without recipients";
  for (const r of m.recipients) {
    if (!KNOWN_STATUS.has(r.status)) return `recipient #${r.index}: unknown status "${r.status}"`;
    if (typeof r.address !== "string") return `recipient #${r.index}: no address`;
  }
  if (typeof m.sender !== "string") return "no sender";
  return null;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
