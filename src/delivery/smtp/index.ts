/**
 * smtp, lmtp - posteix's SMTP and LMTP clients (Postfix smtp(8) / lmtp(8))
 *
 * Delivers one message to the recipients of one next hop. SMTP finds the servers with MX
 * records (RFC 5321 section 5.1; null MX RFC 7505), tries them in order within
 * $smtp_mx_address_limit addresses and $smtp_mx_session_limit sessions, and gives what is left
 * to $smtp_fallback_relay; a recipient refused with 4xx by one server is offered to the next.
 * LMTP (RFC 2033) connects to "inet:host:port" or "unix:/path" and takes one reply per
 * recipient. Both speak ESMTP with PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152),
 * SMTPUTF8 (RFC 6531), DSN (RFC 3461), STARTTLS (RFC 3207) and enhanced status codes
 * (RFC 3463), and keep idle connections for the next delivery to the same destination.
 *
 * main.cf: smtp_helo_name, lmtp_lhlo_name, smtp_connect_timeout, lmtp_connect_timeout,
 * smtp_helo_timeout, smtp_mail_timeout, smtp_rcpt_timeout, smtp_data_init_timeout,
 * smtp_data_xfer_timeout, smtp_data_done_timeout, smtp_quit_timeout, smtp_starttls_timeout,
 * smtp_never_send_ehlo, smtp_skip_5xx_greeting, smtp_pipelining_enable, smtp_dsn_passthrough,
 * smtp_line_length_limit, smtp_mx_address_limit, smtp_mx_session_limit, smtp_fallback_relay,
 * smtp_connection_cache_on_demand, smtp_connection_cache_destinations,
 * smtp_connection_cache_time_limit, smtp_connection_reuse_count_limit,
 * smtp_tls_security_level, smtp_tls_CAfile, smtp_address_preference, inet_protocols.
 *
 * Talks to: the DNS resolver (MX, A, AAAA) and the next-hop servers. Never to the queue.
 */

import type { Config } from "../../config/types.ts";
import type { RecipientRecord } from "../../queue/types.ts";
import type {
  DeliveryAgent,
  DeliveryContext,
  DeliveryRequest,
  DeliveryResult,
  RecipientOutcome,
  TlsSummary,
} from "../types.ts";
import { ConnectionCache } from "./cache.ts";
import type { SessionFailure } from "./errors.ts";
import { type NextHop, parseNexthop } from "./nexthop.ts";
import { Session, type SessionConfig, type TxOutcome } from "./session.ts";
import { resolveTargets, type Target, type TargetOptions } from "./targets.ts";
import { tlsPolicy } from "./tls-policy.ts";

export type ClientMode = "smtp" | "lmtp";

/** Postfix's smtp_rset_timeout (not a main.cf parameter here). */
const RSET_TIMEOUT_MS = 20_000;

function ms(cfg: Config, name: Parameters<Config["time"]>[0]): number {
  return Math.max(0, cfg.time(name)) * 1000;
}

export function sessionConfig(cfg: Config, lmtp: boolean): SessionConfig {
  return {
    lmtp,
    heloName: cfg.str(lmtp ? "lmtp_lhlo_name" : "smtp_helo_name"),
    neverEhlo: cfg.bool("smtp_never_send_ehlo"),
    skip5xxGreeting: cfg.bool("smtp_skip_5xx_greeting"),
    pipelining: cfg.bool("smtp_pipelining_enable"),
    dsnPassthrough: cfg.bool("smtp_dsn_passthrough"),
    lineLimit: cfg.int("smtp_line_length_limit"),
    timeouts: {
      connect: ms(cfg, lmtp ? "lmtp_connect_timeout" : "smtp_connect_timeout"),
      helo: ms(cfg, "smtp_helo_timeout"),
      mail: ms(cfg, "smtp_mail_timeout"),
      rcpt: ms(cfg, "smtp_rcpt_timeout"),
      dataInit: ms(cfg, "smtp_data_init_timeout"),
      dataXfer: ms(cfg, "smtp_data_xfer_timeout"),
      dataDone: ms(cfg, "smtp_data_done_timeout"),
      quit: ms(cfg, "smtp_quit_timeout"),
      starttls: ms(cfg, "smtp_starttls_timeout"),
      rset: RSET_TIMEOUT_MS,
    },
    tls: tlsPolicy(cfg, lmtp),
  };
}

function targetOptions(cfg: Config, hostname: string): TargetOptions {
  const protocols = cfg.str("inet_protocols").toLowerCase();
  return {
    addressLimit: cfg.int("smtp_mx_address_limit"),
    ipv4: protocols !== "ipv6",
    ipv6: protocols === "all" || protocols === "ipv6",
    preferIpv6: cfg.str("smtp_address_preference") === "ipv6",
    myhostname: hostname,
  };
}

/** One delivery request in progress: what is decided, what is still open. */
class Attempt {
  readonly final = new Map<number, RecipientOutcome>();
  readonly soft = new Map<number, RecipientOutcome>();
  pending: RecipientRecord[];
  setupMs = 0;
  xferMs = 0;
  tls: TlsSummary | undefined;
  reused = false;

  constructor(readonly req: DeliveryRequest) {
    this.pending = req.recipients.slice();
  }

  apply(index: number, o: TxOutcome, relay: string): void {
    if (o.status === "soft")
      this.soft.set(index, {
        index,
        status: "deferred",
        dsn: o.dsn,
        diagnostic: o.diagnostic,
        relay,
      });
    else
      this.final.set(index, {
        index,
        status: o.status,
        dsn: o.dsn,
        diagnostic: o.diagnostic,
        relay,
      });
  }

  applyAll(o: TxOutcome, relay: string): void {
    for (const r of this.pending) this.apply(r.index, o, relay);
    this.prune();
  }

  prune(): void {
    this.pending = this.pending.filter((r) => !this.final.has(r.index));
  }

  result(): DeliveryResult {
    const recipients = this.req.recipients.map(
      (r): RecipientOutcome =>
        this.final.get(r.index) ??
        this.soft.get(r.index) ?? {
          index: r.index,
          status: "deferred",
          dsn: "4.4.0",
          diagnostic: this.req.signal?.aborted ? "delivery aborted" : "delivery not attempted",
          relay: "none",
        },
    );
    const out: DeliveryResult = {
      recipients,
      setupTime: this.setupMs / 1000,
      transmitTime: this.xferMs / 1000,
    };
    if (this.tls !== undefined) out.tls = this.tls;
    if (this.reused) out.reused = true;
    return out;
  }
}

export class SmtpAgent implements DeliveryAgent {
  private readonly cache = new ConnectionCache();
  private readonly lmtp: boolean;

  constructor(
    private readonly ctx: DeliveryContext,
    mode: ClientMode = "smtp",
  ) {
    this.lmtp = mode === "lmtp";
  }

  /** Idle cached connections (for tests and metrics). */
  get cachedConnections(): number {
    return this.cache.size;
  }

  async deliver(req: DeliveryRequest): Promise<DeliveryResult> {
    const a = new Attempt(req);
    const sc = sessionConfig(req.cfg, this.lmtp);
    const nh = parseNexthop(req.nexthop, this.lmtp, defaultPort(req.cfg, this.lmtp));
    if (nh === null) {
      a.applyAll(
        {
          status: "soft",
          dsn: "4.3.5",
          diagnostic: `malformed next-hop destination: "${req.nexthop}"`,
        },
        "none",
      );
      return a.result();
    }
    const key = `${req.transport}\u0000${req.nexthop}\u0000${sc.tls.level}`;
    const t0 = performance.now();
    const cached = await this.cache.take(key);
    a.setupMs += performance.now() - t0;
    if (cached !== undefined) {
      a.reused = true;
      a.tls = cached.tls;
      await this.run(a, cached, sc);
      this.release(req, cached, key);
    }
    if (a.pending.length > 0) await this.destination(a, nh, sc, key);
    if (a.pending.length > 0 && !this.lmtp && !req.signal?.aborted) {
      // $smtp_fallback_relay: only for what failed temporarily at the primary destination.
      for (const relay of req.cfg.list("smtp_fallback_relay")) {
        if (a.pending.length === 0 || relay === req.nexthop) break;
        const fnh = parseNexthop(relay, false, defaultPort(req.cfg, false));
        if (fnh !== null)
          await this.destination(a, fnh, sc, `${req.transport}\u0000${relay}\u0000${sc.tls.level}`);
      }
    }
    return a.result();
  }

  /** Tries the servers of one next hop for the pending recipients. */
  private async destination(
    a: Attempt,
    nh: NextHop,
    sc: SessionConfig,
    key: string,
  ): Promise<void> {
    const req = a.req;
    const t0 = performance.now();
    const tr = await resolveTargets(
      this.ctx.resolver,
      nh,
      targetOptions(req.cfg, this.ctx.hostname),
    );
    a.setupMs += performance.now() - t0;
    if (!tr.ok) {
      a.applyAll(
        {
          status: tr.status === "bounced" ? "bounced" : "soft",
          dsn: tr.dsn,
          diagnostic: tr.diagnostic,
        },
        "none",
      );
      return;
    }
    const domain = nh.kind === "mx" ? nh.domain : nh.kind === "host" ? nh.host : "";
    const sessionLimit = this.lmtp ? 0 : req.cfg.int("smtp_mx_session_limit");
    let sessions = 0;
    for (const target of tr.targets) {
      if (a.pending.length === 0 || req.signal?.aborted) break;
      if (sessionLimit > 0 && sessions >= sessionLimit) break;
      const session = await this.open(a, target, sc, domain);
      if (session === null) continue;
      sessions++;
      if (session.tls !== undefined) a.tls = session.tls;
      await this.run(a, session, sc);
      this.release(req, session, key);
    }
  }

  /** Opens a session; on failure records it for the pending recipients and returns null. */
  private async open(
    a: Attempt,
    target: Target,
    sc: SessionConfig,
    domain: string,
  ): Promise<Session | null> {
    let starttls = true;
    for (let attempt = 0; attempt < 2; attempt++) {
      const t0 = performance.now();
      try {
        return await Session.open(target, sc, starttls, domain, a.req.signal);
      } catch (err) {
        const f = err as SessionFailure & { plainRetry?: boolean };
        // Level "may": a failed handshake is retried in plain text on a new connection.
        if (f.plainRetry === true && attempt === 0) {
          starttls = false;
          continue;
        }
        const relay =
          f.kind === "connect" || f.kind === "aborted"
            ? "none"
            : target.unix !== undefined
              ? target.unix
              : `${target.host}[${target.addr}]:${target.port}`;
        a.applyAll(
          {
            status: f.status === "bounced" ? "bounced" : "soft",
            dsn: f.dsn,
            diagnostic: f.message,
          },
          relay,
        );
        return null;
      } finally {
        a.setupMs += performance.now() - t0;
      }
    }
    return null;
  }

  /** Mail transactions on one session until every pending recipient has an answer. */
  private async run(a: Attempt, session: Session, sc: SessionConfig): Promise<void> {
    let batch = a.pending;
    // Each round needs at least one recipient accepted, so this ends.
    for (let round = 0; batch.length > 0 && round <= a.req.recipients.length; round++) {
      if (!session.conn.isOpen) break;
      if (session.dirty && !(await session.rset())) break;
      const t0 = performance.now();
      const res = await session.transaction(
        { message: a.req.message, recipients: batch, body: a.req.body, signal: a.req.signal },
        sc,
      );
      a.xferMs += performance.now() - t0;
      for (const [index, o] of res.outcomes) a.apply(index, o, session.relay);
      batch = res.retry;
    }
    a.prune();
  }

  /** Caches a healthy session (its RSET goes out with the next use) or says QUIT. */
  private release(req: DeliveryRequest, session: Session, key: string): void {
    if (!session.conn.isOpen) return;
    const cfg = req.cfg;
    const ttl = ms(cfg, "smtp_connection_cache_time_limit");
    const limit = cfg.int("smtp_connection_reuse_count_limit");
    const wanted =
      cfg.bool("smtp_connection_cache_on_demand") ||
      cfg.list("smtp_connection_cache_destinations").includes(req.nexthop);
    if (!wanted || ttl <= 0 || (limit > 0 && session.uses >= limit) || req.signal?.aborted) {
      void session.quitQuietly();
      return;
    }
    session.needsRset = true;
    this.cache.put(key, session, Promise.resolve(true), ttl);
  }

  async close(): Promise<void> {
    await this.cache.closeAll();
  }
}

export function createSmtpAgent(ctx: DeliveryContext, mode: ClientMode = "smtp"): SmtpAgent {
  return new SmtpAgent(ctx, mode);
}

/** $smtp_tcp_port / $lmtp_tcp_port: a number or a service name (smtp = 25, lmtp = 24). */
function defaultPort(cfg: Config, lmtp: boolean): number {
  const v = cfg
    .str(lmtp ? "lmtp_tcp_port" : "smtp_tcp_port")
    .trim()
    .toLowerCase();
  if (v === "smtp") return 25;
  if (v === "lmtp") return 24;
  if (v === "submission") return 587;
  const n = Number.parseInt(v, 10);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : lmtp ? 24 : 25;
}
