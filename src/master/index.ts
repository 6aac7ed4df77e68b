/**
 * master -- starts and supervises everything in one process (Postfix master(8)).
 *
 * Reads main.cf and master.cf, opens the queue, starts the scheduler (qmgr), the delivery
 * agents, one listener per master.cf `inet ... smtpd` line, the control socket and the REST
 * API. SIGHUP (or `posteix reload`) re-reads the configuration: listeners are added, removed or
 * re-configured without dropping sessions in flight. SIGTERM/SIGINT stop gracefully: no new
 * connections, sessions and deliveries in flight get time to finish, nothing acknowledged is
 * lost (the queue is durable; what was active is requeued at the next start).
 *
 * Start-up refuses a damaged queue database (PRAGMA quick_check) and names the command that
 * salvages it (`posteix check --repair`). Started as root by `posteix run`, it binds its ports,
 * then runs as $mail_owner for good (privileges.ts); deliveries start only after that switch.
 *
 * TLS: one TlsManager for the process (src/tls): the configured certificate or a self-signed one
 * generated for $myhostname on first start, served by every smtpd service (each service's -o
 * overrides decide smtpd_tls_security_level and smtpd_tls_wrappermode) and by the API with
 * $api_tls; a reload reads the files again, so new connections get a renewed certificate.
 * AUTH: one user table and one per-client lockout shared by the services with
 * smtpd_sasl_auth_enable (src/auth).
 *
 * Parameters: queue_directory, data_directory, pid_file, mail_owner, maillog_file, log_format,
 * syslog_name, dns_servers, dns_timeout, smtpd_tls_* (src/tls), smtpd_auth_failure_limit,
 * smtpd_auth_lockout_time, and master.cf.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ApiServer } from "../api/index.ts";
import { AuthLockout } from "../auth/lockout.ts";
import { createSmtpdAuth } from "../auth/smtpd-auth.ts";
import { openCleanup } from "../cleanup/index.ts";
import type { CleanupInput } from "../cleanup/types.ts";
import { loadConfig } from "../config/index.ts";
import type { Config, MasterService } from "../config/types.ts";
import { createAgents } from "../delivery/index.ts";
import type { DeliveryAgent } from "../delivery/types.ts";
import { createResolver, type Resolver, setDefaultResolver } from "../dns/index.ts";
import { configureLog, flushLog, logger, logOptionsFromConfig } from "../log/index.ts";
import { Qmgr } from "../qmgr/index.ts";
import { openQueue, type QueueStore, quickCheck } from "../queue/index.ts";
import { Anvil } from "../smtpd/anvil.ts";
import { type SmtpdServer, type SmtpdTls, startSmtpd } from "../smtpd/index.ts";
import { TlsManager } from "../tls/manager.ts";
import { certificateChainPem } from "../tls/server-cert.ts";
import { type ControlServer, listenControl } from "./control.ts";
import { dropPrivileges, ensureMailOwner, runningAsRoot } from "./privileges.ts";
import { registerQueueTables } from "./tables.ts";

const log = logger("master");

/** Housekeeping of the queue database ($event_history_time): how often, and in what bites. */
const HOUSEKEEP_EVERY_MS = 60 * 60 * 1000;
const HOUSEKEEP_BATCH = 2000;
const HOUSEKEEP_PAUSE_MS = 20;

export interface MasterOptions {
  configDir: string | null;
  /** Print the start-up summary (where things are) on standard output. */
  banner?: boolean;
  /**
   * Started as root: bind the ports, then run as $mail_owner (the daemon; tests running a
   * Master inside their own process leave this off).
   */
  dropPrivileges?: boolean;
}

export interface Listener {
  service: MasterService;
  server: SmtpdServer;
}

/** A running posteix: what tests and the `run` command hold on to. */
export class Master {
  cfg!: Config;
  queue!: QueueStore;
  resolver!: Resolver;
  qmgr!: Qmgr;
  readonly listeners = new Map<string, Listener>();
  /** Listeners removed by a reload whose sessions are still running. */
  private readonly draining = new Set<SmtpdServer>();
  private agents!: (command: string) => DeliveryAgent | undefined;
  private closeAgents: () => Promise<void> = async () => {};
  private control: ControlServer | null = null;
  api: ApiServer | null = null;
  /** Wakes API event streams and webhooks; set once the API module is loaded. */
  private notifyEvents: () => void = () => {};
  private anvil!: Anvil;
  /** The smtpd certificate; null only before start(). */
  tls: TlsManager | null = null;
  private lockout!: AuthLockout;
  private stopped: Promise<void> | null = null;
  /** start() has finished (a reload may then fail a service without failing the daemon). */
  private started = false;
  private housekeepTimer: ReturnType<typeof setTimeout> | null = null;
  private stopResolve!: () => void;
  readonly done: Promise<void>;

  constructor(private readonly opts: MasterOptions) {
    this.done = new Promise((r) => {
      this.stopResolve = r;
    });
  }

  /** Start everything; throws (with file:line diagnostics) when the configuration is bad. */
  async start(): Promise<void> {
    this.cfg = loadConfig({ configDir: this.opts.configDir });
    this.applyLogConfig(this.cfg);
    for (const d of this.cfg.diagnostics) log.warn(`${d.file}, line ${d.line}: ${d.message}`);

    const dropping = this.opts.dropPrivileges === true && runningAsRoot();
    if (dropping) {
      // Everything made from here on is private; the account must exist before anything.
      process.umask(0o077);
      ensureMailOwner(this.cfg.str("mail_owner").trim());
    }
    const queueDir = this.cfg.path("queue_directory");
    mkdirSync(queueDir, { recursive: true, mode: 0o750 });
    mkdirSync(this.cfg.path("data_directory"), { recursive: true, mode: 0o750 });
    // A damaged database is refused before anything writes to it (see src/queue/salvage.ts).
    const health = quickCheck(queueDir);
    if (health[0] !== "ok") throw new Error(damagedQueueText(this.cfg, health));
    const sizeLimit = this.cfg.size("queue_database_size_limit");
    try {
      this.queue = openQueue({
        directory: queueDir,
        chunkSize: this.cfg.size("queue_body_chunk_size"),
        maxBytes: sizeLimit > 0 ? sizeLimit : undefined,
      });
    } catch (err) {
      if ((err as { code?: string }).code === "CORRUPT")
        throw new Error(damagedQueueText(this.cfg, [(err as Error).message]));
      throw err;
    }
    registerQueueTables(this.queue, queueDir);

    this.resolver = this.makeResolver(this.cfg);
    const newCleanup = (input: CleanupInput) => openCleanup(this.cleanupContext(this.cfg), input);
    const agents = createAgents({
      resolver: this.resolver,
      newCleanup,
      hostname: this.cfg.str("myhostname"),
    });
    this.agents = agents.agentFor;
    this.closeAgents = agents.close;

    this.qmgr = new Qmgr({
      queue: this.queue,
      config: () => this.cfg,
      agentFor: (c) => this.agents(c),
      newCleanup,
      onEvent: () => this.notifyEvents(),
    });

    // A broken certificate is a configuration error like any other: named, and fatal at start.
    this.tls = await TlsManager.create(this.cfg);
    this.lockout = AuthLockout.fromConfig(this.cfg);
    this.anvil = new Anvil();
    await this.syncListeners(this.cfg);

    this.control = listenControl(queueDir, (req) => {
      if (req.kind === "wakeup") this.qmgr.wake();
      else if (req.kind === "flush") this.qmgr.flush(req.site);
      else void this.reload();
      this.notifyEvents();
    });
    await this.startApi();

    const pidFile = this.cfg.path("pid_file");
    mkdirSync(dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, `${process.pid}\n`);
    if (dropping) {
      // Ports bound, files made: from here on as $mail_owner, for good.
      const paths = [queueDir, this.cfg.path("data_directory")];
      if (this.cfg.str("maillog_file")) paths.push(this.cfg.path("maillog_file"));
      // Virtual mailboxes are written as $mail_owner: a base made here is given to it (one
      // that exists is the operator's to give: deliveries defer, saying why, until it is).
      const vbase = this.cfg.str("virtual_mailbox_base").trim()
        ? this.cfg.path("virtual_mailbox_base")
        : "";
      if (vbase && !existsSync(vbase)) {
        mkdirSync(vbase, { recursive: true, mode: 0o700 });
        paths.push(vbase);
      }
      const readable = this.cfg.configDir ? [join(this.cfg.configDir, "main.cf")] : [];
      const owner = dropPrivileges(this.cfg, paths, readable);
      if (owner) log.info(`running as ${owner.name} (uid ${owner.uid}, gid ${owner.gid})`);
    }
    // Deliveries start only now, with the rights they keep.
    this.qmgr.start();
    this.housekeepTimer = setTimeout(() => this.housekeepHourly(), HOUSEKEEP_EVERY_MS);
    this.housekeepTimer.unref?.();
    this.started = true;
    log.info(
      `daemon started -- version ${this.cfg.str("mail_version")}, configuration ${this.cfg.configDir ?? "(built-in defaults)"}`,
    );
    if (this.opts.banner) this.printBanner();
  }

  private cleanupContext(cfg: Config) {
    return {
      cfg,
      queue: this.queue,
      dns: this.resolver,
      onQueued: () => {
        this.qmgr.wake();
        this.notifyEvents();
      },
    };
  }

  /** The REST API, loaded only when $api_listen is set (it costs start-up time). */
  private async startApi(): Promise<void> {
    if (!this.cfg.str("api_listen").trim()) return;
    const { startApi, notifyEvents } = await import("../api/index.ts");
    this.notifyEvents = notifyEvents;
    this.api = await startApi({
      queue: this.queue,
      config: () => this.cfg,
      newCleanup: (input, options) => openCleanup(this.cleanupContext(this.cfg), input, options),
      wake: () => this.qmgr.wake(),
      flush: (site) => this.qmgr.flush(site),
      reload: () => this.reload(),
      stopping: () => this.stopped !== null,
      stats: () => ({ ...this.qmgr.stats }),
      tls: () => {
        const t = this.tls?.current;
        return t ? { cert: certificateChainPem(t), key: t.key } : null;
      },
    });
    log.info(`REST API on ${this.api.url} (tokens in ${this.api.tokenFile})`);
  }

  private applyLogConfig(cfg: Config): void {
    configureLog(logOptionsFromConfig(cfg));
  }

  private makeResolver(cfg: Config): Resolver {
    const r = createResolver({
      servers: cfg.list("dns_servers"),
      timeoutMs: cfg.time("dns_timeout") * 1000,
    });
    setDefaultResolver(r);
    return r;
  }

  /** Start, re-configure or stop smtpd listeners so that they match master.cf. */
  private async syncListeners(cfg: Config): Promise<void> {
    const wanted = new Map<string, MasterService>();
    for (const s of cfg.services)
      if (s.type === "inet" && s.command === "smtpd") wanted.set(s.name, s);
    for (const [name, l] of this.listeners) {
      const w = wanted.get(name);
      if (!w || w.host !== l.service.host || w.port !== l.service.port) {
        // Like Postfix's reload: no new connections, but sessions in flight run to their end.
        const server = l.server;
        this.draining.add(server);
        void server.stop({ drain: true }).then(() => this.draining.delete(server));
        this.listeners.delete(name);
        log.info(`stopped service ${name}`);
      }
    }
    for (const [name, service] of wanted) {
      const svcCfg = cfg.withOverrides(service.overrides);
      const existing = this.listeners.get(name);
      if (existing) {
        existing.server.reconfigure(svcCfg, service);
        existing.service = service;
        continue;
      }
      let server: SmtpdServer;
      try {
        server = await this.startService(service, svcCfg);
      } catch (err) {
        // At start a listener that cannot bind is fatal; on a reload (a privileged port after
        // the switch to $mail_owner, an address in use) the rest of the services go on.
        if (!this.started) throw err;
        log.error(
          `cannot start service ${name}: ${err instanceof Error ? err.message : String(err)}`,
        );
        continue;
      }
      this.listeners.set(name, { service, server });
      log.info(`listening for ${name} on ${service.host || "*"}:${server.port}`);
    }
  }

  private startService(service: MasterService, svcCfg: Config): Promise<SmtpdServer> {
    return startSmtpd({
      service,
      cfg: svcCfg,
      ctx: {
        newCleanup: (input) => openCleanup(this.cleanupContext(svcCfg), input),
        resolver: this.resolver,
        anvil: this.anvil,
        ...this.securityContext(svcCfg),
        // ETRN (RFC 1985): deliver deferred mail for that site now.
        flush: (domain) => {
          this.qmgr.flush(domain);
          return true;
        },
      },
    });
  }

  /**
   * STARTTLS/SMTPS and AUTH for an smtpd service. The certificate is read per connection from
   * the TlsManager; whether a session offers STARTTLS or AUTH is its own configuration's
   * (smtpd_tls_security_level, smtpd_sasl_auth_enable, smtpd_tls_auth_only).
   */
  private securityContext(svcCfg: Config) {
    const tls: SmtpdTls = {
      offer: () => this.tls !== null,
      serverOptions: () => this.tls?.options ?? {},
    };
    const users = this.queue.users;
    return {
      tls,
      auth: createSmtpdAuth({
        users,
        lockout: this.lockout,
        // The session applies $smtpd_tls_auth_only of its own service (smtpd/commands.ts).
        tlsAuthOnly: false,
        hostname: svcCfg.str("myhostname"),
      }),
      isLogin: (name: string) => {
        try {
          return users.get(name) !== null;
        } catch {
          return false; // a name the table cannot hold is nobody's login
        }
      },
    };
  }

  /** Re-read the configuration; on errors keep running on the old one and say why. */
  async reload(): Promise<boolean> {
    let next: Config;
    try {
      next = loadConfig({ configDir: this.opts.configDir });
    } catch (err) {
      log.error(
        `reload failed, keeping the running configuration: ${err instanceof Error ? err.message : String(err)}`,
      );
      return false;
    }
    this.cfg = next;
    this.applyLogConfig(next);
    this.resolver = this.makeResolver(next);
    try {
      // certbot renewals: new connections get the new certificate, sessions keep theirs.
      if (await this.tls?.reload(next))
        log.info("TLS certificate or protocols changed: new connections use them");
    } catch (err) {
      log.error(
        `TLS: keeping the running certificate: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    this.lockout.reconfigure(next);
    await this.syncListeners(next);
    if (this.api) await this.api.reconfigure();
    else await this.startApi();
    this.qmgr.wake();
    log.info("reload -- configuration re-read");
    return true;
  }

  /** The first listener's port (tests use port 0 and ask). */
  port(name?: string): number {
    const l = name ? this.listeners.get(name) : this.listeners.values().next().value;
    if (!l) throw new Error(`no listener ${name ?? ""}`);
    return l.server.port;
  }

  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  /**
   * Drop message events and API idempotency keys older than $event_history_time, in batches
   * of HOUSEKEEP_BATCH with a pause between them, so that a big backlog never holds the event
   * loop (or the database's write lock) for long. Runs an hour after start and every hour.
   */
  async housekeep(): Promise<{ events: number; idempotency: number }> {
    const total = { events: 0, idempotency: 0 };
    for (;;) {
      if (this.stopped) break;
      const keep = this.cfg.time("event_history_time");
      if (keep <= 0) break;
      const before = Date.now() - keep * 1000;
      let r: { events: number; idempotency: number };
      try {
        r = this.queue.prune({
          eventsBefore: before,
          idempotencyBefore: before,
          limit: HOUSEKEEP_BATCH,
        });
      } catch (err) {
        log.warn(`housekeeping: ${err instanceof Error ? err.message : String(err)}`);
        break;
      }
      total.events += r.events;
      total.idempotency += r.idempotency;
      if (r.events < HOUSEKEEP_BATCH && r.idempotency < HOUSEKEEP_BATCH) break;
      await Bun.sleep(HOUSEKEEP_PAUSE_MS);
    }
    if (total.events + total.idempotency > 0)
      log.info(
        `housekeeping: removed ${total.events} events and ${total.idempotency} idempotency keys older than $event_history_time`,
      );
    return total;
  }

  private housekeepHourly(): void {
    void this.housekeep().finally(() => {
      if (this.stopped) return;
      this.housekeepTimer = setTimeout(() => this.housekeepHourly(), HOUSEKEEP_EVERY_MS);
      this.housekeepTimer.unref?.();
    });
  }

  private async doStop(): Promise<void> {
    log.info("terminating on signal");
    await Promise.all([
      ...[...this.listeners.values()].map((l) => l.server.stop({ graceful: true })),
      ...[...this.draining].map((server) => server.stop({ graceful: true })),
    ]);
    this.listeners.clear();
    if (this.housekeepTimer) clearTimeout(this.housekeepTimer);
    await this.api?.stop();
    this.control?.stop();
    await this.qmgr.stop();
    await this.closeAgents();
    this.queue.close();
    try {
      rmSync(this.cfg.path("pid_file"), { force: true });
    } catch {
      // A stale pid file is harmless: status checks the process.
    }
    flushLog();
    this.stopResolve();
  }

  private printBanner(): void {
    const lines = [
      `posteix ${this.cfg.str("mail_version")} running (pid ${process.pid})`,
      `  configuration: ${this.cfg.configDir ?? "built-in defaults (posteix init DIR writes them to edit)"}`,
      `  queue:         ${this.cfg.path("queue_directory")}`,
    ];
    for (const [name, l] of this.listeners)
      lines.push(`  smtpd:         ${name} -> ${l.service.host || "*"}:${l.server.port}`);
    lines.push(
      `  local mail:    ${this.cfg.str("mydestination")} -> ${this.cfg.str("mail_spool_directory") || "home_mailbox"}`,
    );
    const t = this.tls?.current;
    if (t) {
      const what = t.source === "generated" ? "self-signed (generated)" : "configured";
      lines.push(
        `  TLS:           ${what} certificate ${t.subject}, valid until ${t.notAfter.toISOString().slice(0, 10)} (${t.files[0]})`,
      );
    }
    if (this.api)
      lines.push(`  REST API:      ${this.api.url} (bearer tokens in ${this.api.tokenFile})`);
    lines.push(`  log:           ${this.cfg.str("maillog_file") || "standard error"}`);
    process.stdout.write(`${lines.join("\n")}\n`);
  }
}

/** Why posteix will not start on this queue database, and the command that repairs it. */
function damagedQueueText(cfg: Config, problems: string[]): string {
  const db = `${cfg.path("queue_directory")}/queue.db`;
  const dir = cfg.configDir ? ` -c ${cfg.configDir}` : "";
  return (
    `queue database ${db} is damaged (${problems.slice(0, 3).join("; ")}); not starting on it, ` +
    `so that nothing more is lost. Stop every posteix process, then salvage it with: ` +
    `posteix${dir} check --repair (every readable message goes into a new database; the ` +
    `damaged one is kept as queue.db.damaged-TIME)`
  );
}
