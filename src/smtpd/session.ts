/**
 * One SMTP server session, transport-agnostic: it is fed bytes with feed() and answers through
 * an injected SessionTransport, so the same code serves Bun sockets, `sendmail -bs` on
 * stdin/stdout, and tests.
 *
 * Input goes through the pure reader (reader.ts); every complete command of a read batch is
 * processed and the replies of the batch are written together (RFC 2920 pipelining); verbs
 * come from the table in commands.ts. Every reply leaves through send(): formatting, the
 * $debug_peer_list transcript (AUTH redacted), error counting, the $smtpd_error_sleep_time
 * delay past $smtpd_soft_error_limit, and 421 at $smtpd_hard_error_limit.
 */
import { type SenderLoginMaps, senderLoginMaps } from "../auth/login-maps.ts";
import type { Config } from "../config/types.ts";
import type { Resolver } from "../dns/index.ts";
import { logger } from "../log/index.ts";
import { metrics } from "../log/metrics.ts";
import { tlsLogText } from "../tls/upgrade.ts";
import {
  type BdatChunk,
  bdatEnd,
  COMMANDS,
  type Command,
  dataEnd,
  STATS_ORDER,
} from "./commands.ts";
import { type ReaderEvent, SmtpReader } from "./reader.ts";
import { formatReply, type Reply, SmtpError } from "./reply.ts";
import { type CheckSubject, namaddrOf, Restrictions } from "./restrictions.ts";
import { type SmtpdSettings, smtpdSettings } from "./settings.ts";
import type { Transaction } from "./transaction.ts";
import type { PeerInfo, SessionTransport, SessionView, SmtpdContext, TlsInfo } from "./types.ts";

const log = logger("smtpd");
const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/** Input buffered beyond this while the session is busy pauses the transport. */
const HIGH_WATER = 1 << 20;

/** Verbs that HTTP clients and proxies send (Postfix's smtpd_forbidden_commands). */
const NON_SMTP = new Set([
  "CONNECT",
  "GET",
  "POST",
  "PUT",
  "HEAD",
  "DELETE",
  "OPTIONS",
  "PATCH",
  "TRACE",
]);

export interface SessionOptions {
  cfg: Config;
  ctx: SmtpdContext;
  /** master.cf service name, for anvil and logs. */
  service: string;
  client: PeerInfo;
  transport: SessionTransport;
  /**
   * `sendmail -bs`: a local user on stdin, as Postfix's stand-alone mode: no restrictions,
   * no anvil, no pipelining checks, no STARTTLS.
   */
  standalone?: boolean;
  /** The connection is TLS from its first byte ($smtpd_tls_wrappermode): what was negotiated. */
  tls?: TlsInfo;
}

export class SmtpSession implements SessionView, CheckSubject {
  readonly cfg: Config;
  readonly settings: SmtpdSettings;
  readonly ctx: SmtpdContext;
  readonly service: string;
  readonly client: PeerInfo;
  readonly transport: SessionTransport;
  readonly standalone: boolean;
  readonly hostname: string;
  readonly reader: SmtpReader;
  readonly restrictions: Restrictions;
  /** Resolves when the session has ended and logged its disconnect. */
  readonly closed: Promise<void>;

  helo: string | null = null;
  /** EHLO was given: pipelining is allowed (the protocol is ESMTP). */
  ehlo = false;
  tls: TlsInfo | null = null;
  saslUser: string | null = null;
  saslMethod: string | null = null;
  tx: Transaction | null = null;
  /** Postfix's "where": the command being processed, or "DATA content", "CONNECT"... */
  where = "CONNECT";
  illPipelining = false;
  /** $smtpd_delay_reject=no and the client was refused at connect: only QUIT works. */
  accessDenied: Reply | null = null;
  errors = 0;
  junk = 0;
  bdat: BdatChunk | null = null;

  readonly #debug: boolean;
  readonly #exempt: boolean;
  readonly #stats = new Map<string, { ok: number; total: number }>();
  #out: string[] = [];
  #started = false;
  #busy = false;
  #ended = false;
  #hangup = false;
  #shutdown = false;
  #shutdownAfterTx = false;
  #paused = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** $smtpd_per_request_deadline: when the request being received must be complete (ms). */
  #deadline = 0;
  #anvilConnected = false;
  #dataPending = false;
  #eof = false;
  #reason: string | null = null;
  #lineWaiter: (() => void) | null = null;
  #resolveClosed!: () => void;
  #implicitTls: TlsInfo | null;
  #loginMaps: SenderLoginMaps | null = null;

  constructor(opts: SessionOptions) {
    this.cfg = opts.cfg;
    this.settings = smtpdSettings(opts.cfg);
    this.ctx = opts.ctx;
    this.service = opts.service;
    this.client = opts.client;
    this.transport = opts.transport;
    this.standalone = opts.standalone ?? false;
    this.hostname = opts.ctx.hostname ?? this.settings.myhostname;
    const s = this.settings;
    this.#exempt =
      !s.forbidBareNewline ||
      this.standalone ||
      s.bareNewlineExclusions.matches(this.client.addr, this.client.name);
    this.reader = new SmtpReader({ lineLimit: s.lineLengthLimit, normalizeBareLf: this.#exempt });
    this.restrictions = new Restrictions(this);
    this.#debug = !s.debugPeersEmpty && s.debugPeers.matches(this.client.addr, this.client.name);
    this.#implicitTls = opts.tls ?? null;
    this.closed = new Promise((r) => {
      this.#resolveClosed = r;
    });
  }

  // ---------------------------------------------------------------- CheckSubject / SessionView

  get resolver(): Resolver | undefined {
    return this.ctx.resolver;
  }
  get sender(): string | null {
    return this.tx?.sender ?? null;
  }
  get rcptCount(): number {
    return this.tx?.rcptCount ?? 0;
  }
  get firstRecipient(): string | null {
    return this.tx?.firstRecipient ?? null;
  }
  get queueId(): string | null {
    return this.tx?.queueId ?? null;
  }
  get protocol(): string {
    return this.ehlo ? "ESMTP" : "SMTP";
  }
  get namaddr(): string {
    return namaddrOf(this.client);
  }
  get ended(): boolean {
    return this.#ended;
  }

  /** $smtpd_sender_login_maps for the reject_*_sender_login_mismatch restrictions. */
  senderLoginMaps(): SenderLoginMaps {
    this.#loginMaps ??= senderLoginMaps(this.cfg, { isLogin: this.ctx.isLogin?.bind(this.ctx) });
    return this.#loginMaps;
  }

  /**
   * TLS is up (implicit TLS before the greeting, or after STARTTLS): logged as Postfix does,
   * and counted.
   */
  tlsEstablished(info: TlsInfo): void {
    this.tls = info;
    if (this.settings.tlsLogLevel > 0) log.info(tlsLogText(this.namaddr, info));
    metrics.inc("connections_tls");
  }

  // ---------------------------------------------------------------- life cycle

  /** Greet the client (after the server looked up its name). */
  async start(): Promise<void> {
    log.info(`connect from ${this.namaddr}`);
    if (!this.standalone) metrics.inc("connections");
    if (this.#implicitTls) this.tlsEstablished(this.#implicitTls);
    this.#busy = true;
    try {
      await this.#greet();
    } catch (err) {
      this.#internalError(err);
    }
    this.#busy = false;
    this.flush();
    this.#started = true;
    if (this.#hangup) return this.#end();
    this.#arm();
    await this.#pump();
  }

  async #greet(): Promise<void> {
    const s = this.settings;
    if (!this.standalone && this.reader.pending > 0) {
      // The client spoke before the greeting (RFC 5321 4.3.1 says it must wait).
      this.#flagPipelining();
      if (s.forbidUnauthPipelining) {
        await this.send({
          code: 554,
          enhanced: "5.5.0",
          text: "Error: SMTP protocol synchronization",
          close: true,
        });
        return;
      }
    }
    if (!this.standalone && !s.eventLimitExceptions.matches(this.client.addr, this.client.name)) {
      const { count, rate } = this.ctx.anvil.connect(this.service, this.client.addr, s.rateUnitMs);
      this.#anvilConnected = true;
      const tooMany = (what: string, n: number) => {
        log.warn(`${what} limit exceeded: ${n} from ${this.namaddr} for service ${this.service}`);
        return this.send({
          code: 421,
          enhanced: "4.7.0",
          text: `${this.hostname} Error: too many connections from ${this.client.addr}`,
          success: true,
        });
      };
      if (s.connectionCountLimit > 0 && count > s.connectionCountLimit)
        return tooMany("Connection concurrency", count);
      if (s.connectionRateLimit > 0 && rate > s.connectionRateLimit)
        return tooMany("Connection rate", rate);
    }
    if (!this.standalone && !s.delayReject) {
      const err = await this.restrictions.client();
      if (err) {
        this.accessDenied = err;
        await this.send(err);
        return;
      }
    }
    await this.send({ code: 220, text: s.banner, success: true });
  }

  /** Bytes from the client. */
  feed(bytes: Uint8Array): void {
    if (this.#ended) return;
    this.reader.feed(bytes);
    if (this.#timer) {
      if (!this.settings.perRequestDeadline) this.#timer.refresh();
      else if (this.reader.mode !== "command") {
        // Content earns time at $smtpd_min_data_rate, never more than $smtpd_timeout ahead:
        // a client that trickles bytes runs out of it (Postfix 3.7 smtpd_min_data_rate).
        const now = Date.now();
        this.#deadline = Math.min(
          this.#deadline + bytes.length / this.settings.minDataRatePerMs,
          now + this.settings.timeoutMs,
        );
      }
      // In command mode bytes earn nothing: the whole command must arrive within the timeout.
    }
    const waiter = this.#lineWaiter;
    if (waiter) {
      this.#lineWaiter = null;
      waiter();
    }
    if (!this.#started) return;
    if (this.#busy) {
      if (!this.#paused && this.reader.pending > HIGH_WATER && this.transport.pause) {
        this.#paused = true;
        this.transport.pause();
      }
      return;
    }
    void this.#pump();
  }

  /**
   * The client closed the connection. What it sent before is still processed (a QUIT, or the
   * end of data, pipelined just before the close), then the session ends.
   */
  peerClosed(): void {
    if (this.#ended || this.#eof) return;
    this.#eof = true;
    const w = this.#lineWaiter;
    this.#lineWaiter = null;
    w?.();
    if (!this.#busy && this.#started) void this.#pump();
  }

  /**
   * Server stop: 421 and close after the command in progress; with `afterTransaction`, once
   * the mail transaction in progress (if any) has ended.
   */
  shutdown(opts: { afterTransaction?: boolean } = {}): void {
    if (this.#ended || this.#shutdown) return;
    if (opts.afterTransaction && this.tx) {
      this.#shutdownAfterTx = true;
      return;
    }
    this.#shutdown = true;
    if (!this.#busy) void this.#pump();
  }

  // ---------------------------------------------------------------- the command loop

  async #pump(): Promise<void> {
    if (this.#busy || this.#ended) return;
    this.#busy = true;
    try {
      while (!this.#hangup && this.#reason === null) {
        if (this.#shutdownAfterTx && !this.tx) this.#shutdown = true;
        if (this.#shutdown) {
          await this.send({
            code: 421,
            enhanced: "4.3.2",
            text: `${this.hostname} Service shutting down, closing transmission channel`,
            close: true,
            success: true,
          });
          break;
        }
        const ev = this.reader.next();
        if (!ev) break;
        if (ev.kind === "data") {
          if (!this.bdat?.skip) this.tx?.write(ev.bytes);
          continue;
        }
        // A complete request: the next one gets a full $smtpd_timeout.
        this.#newRequest();
        await this.#event(ev);
        this.#hardLimit();
      }
    } catch (err) {
      this.#internalError(err);
      await this.send({
        code: 421,
        enhanced: "4.3.0",
        text: `${this.hostname} Server local error`,
        close: true,
      });
    }
    this.#busy = false;
    this.flush();
    if (this.#paused && this.reader.pending < HIGH_WATER / 2) {
      this.#paused = false;
      this.transport.resume?.();
    }
    if (this.#eof && !this.#hangup) this.#reason ??= "lost connection";
    if (this.#hangup || this.#reason !== null) this.#end();
  }

  async #event(ev: ReaderEvent): Promise<void> {
    switch (ev.kind) {
      case "line":
        return this.#command(ev.line, ev.bare);
      case "too-long":
        log.warn(`${this.namaddr}: request longer than ${this.settings.lineLengthLimit}`);
        this.#count("unknown", false);
        await this.send({
          code: 500,
          enhanced: "5.5.2",
          text: `${this.hostname} Error: command too long`,
        });
        return;
      case "bare":
        if (this.#exempt) return;
        return this.#bareNewline(ev.which);
      case "end":
        return this.#contentEnd();
      case "data":
        return;
    }
  }

  async #command(raw: Uint8Array, bare: "LF" | "CR" | undefined): Promise<void> {
    let line: string;
    let badUtf8 = false;
    try {
      line = utf8.decode(raw);
    } catch {
      line = latin1.decode(raw);
      badUtf8 = true;
    }
    this.#trace("<", redact(line));
    if (bare && !this.#exempt) return this.#bareNewline(bare);
    if (badUtf8 && this.settings.smtputf8) {
      this.where = "UNKNOWN";
      this.#count("unknown", false);
      await this.send({ code: 500, enhanced: "5.5.2", text: "Error: bad UTF-8 syntax" });
      return;
    }
    let trimmed = line.replace(/^[ \t]+/, "");
    for (const t of this.settings.commandFilter) {
      // Postfix's smtpd_command_filter: work around broken clients by rewriting their commands.
      const v = t.lookup(trimmed);
      if (v === undefined) continue;
      log.info(
        `${this.namaddr}: replacing command "${printable(line.slice(0, 100))}" with "${printable(v.slice(0, 100))}"`,
      );
      trimmed = v.replace(/^[ \t]+/, "");
      break;
    }
    const sp = trimmed.search(/[ \t]/);
    const verb = (sp === -1 ? trimmed : trimmed.slice(0, sp)).toUpperCase();
    const args = sp === -1 ? "" : trimmed.slice(sp + 1).trim();
    if (verb === "") {
      this.where = "UNKNOWN";
      this.#count("unknown", false);
      await this.send({ code: 500, enhanced: "5.5.2", text: "Error: bad syntax" });
      return;
    }
    if (this.settings.noopCommands.has(verb)) {
      await this.send({ code: 250, enhanced: "2.0.0", text: "Ok" });
      if (this.junk++ > this.settings.junkCommandLimit) this.errors++;
      return;
    }
    const cmd = COMMANDS.get(verb);
    if (!cmd) {
      this.where = "UNKNOWN";
      // An HTTP request or a mail header sent to the SMTP port: not a mail client.
      if (NON_SMTP.has(verb) || /^[!-9;-~]+:$/.test(verb)) {
        log.warn(`non-SMTP command from ${this.namaddr}: ${printable(line.slice(0, 100))}`);
        this.#count("unknown", false);
        await this.send({
          code: 221,
          enhanced: "2.7.0",
          text: "Error: I can break rules, too. Goodbye.",
          close: true,
          success: true,
        });
        return;
      }
    }
    if (this.accessDenied && verb !== "QUIT") {
      this.#count(cmd ? cmd.name.toLowerCase() : "unknown", false);
      if (/^\d21$/.test(String(this.accessDenied.code))) await this.send(this.accessDenied);
      else
        await this.send({
          code: 503,
          enhanced: "5.7.0",
          text: `Error: access denied for ${this.namaddr}`,
        });
      return;
    }
    if (!cmd) {
      this.#count("unknown", false);
      await this.send({ code: 500, enhanced: "5.5.2", text: "Error: command not recognized" });
      return;
    }
    await this.#dispatch(cmd, args);
  }

  async #dispatch(cmd: Command, args: string): Promise<void> {
    const s = this.settings;
    const stat = cmd.name.toLowerCase();
    if (s.tlsRequired && !this.tls && !cmd.preTls && !this.standalone) {
      this.#count(stat, false);
      await this.send({
        code: 530,
        enhanced: "5.7.0",
        text: "Must issue a STARTTLS command first",
      });
      return;
    }
    this.where = cmd.name;
    // RFC 2920 3.1: after EHLO a client may pipeline, but nothing may follow a command that
    // ends a group before its reply; before EHLO nothing may be pipelined at all.
    if (
      !this.standalone &&
      !this.illPipelining &&
      (!this.ehlo || cmd.last) &&
      this.reader.pending > 0
    ) {
      this.#flagPipelining();
      if (s.forbidUnauthPipelining) {
        this.#count(stat, false);
        await this.send({
          code: 554,
          enhanced: "5.5.0",
          text: "Error: SMTP protocol synchronization",
          close: true,
        });
        return;
      }
    }
    if (cmd.needsHelo && s.heloRequired && this.helo === null) {
      this.#count(stat, false);
      await this.send({ code: 503, enhanced: "5.5.1", text: "Error: send HELO/EHLO first" });
      return;
    }
    let r: Reply | null;
    try {
      r = await cmd.run(this, args);
    } catch (err) {
      if (err instanceof SmtpError) {
        if (err.reason) log.info(`${this.namaddr}: ${cmd.name}: ${err.reason}`);
        r = err.toReply();
      } else {
        this.#internalError(err);
        r = { code: 451, enhanced: "4.3.0", text: "Error: internal error" };
      }
    }
    if (r === null) {
      // BDAT: the reply comes after its chunk; counted then. STARTTLS: its 220 went out before
      // the handshake, which succeeded (a failure returns 421).
      if (cmd.name === "STARTTLS") this.#count(stat, true);
      return;
    }
    // DATA succeeds or fails with the reply after the content, not with its 354.
    if (r.code === 354) this.#dataPending = true;
    else this.#count(stat, r.success ?? r.code < 400);
    await this.send(r);
    if (cmd.junk && this.junk++ > s.junkCommandLimit) this.errors++;
  }

  #flagPipelining(): void {
    this.illPipelining = true;
    const peek = this.reader.peek(100);
    log.info(
      `improper command pipelining after ${this.where} from ${this.namaddr}: ${printable(peek)}`,
    );
  }

  /** Postfix: "550 5.5.2 <host> Error: bare <LF> received", then hang up. */
  async #bareNewline(which: "LF" | "CR"): Promise<void> {
    this.tx?.abort();
    const what = `bare <${which}> received`;
    this.restrictions.logWhatsup("reject", what);
    await this.send({
      code: 550,
      enhanced: "5.5.2",
      text: `${this.hostname} Error: ${what}`,
      close: true,
    });
  }

  // ---------------------------------------------------------------- content

  /** End of DATA, or of one BDAT chunk. */
  async #contentEnd(): Promise<void> {
    const chunk = this.bdat;
    if (chunk) {
      this.bdat = null;
      const r = await bdatEnd(this, chunk);
      this.#count("bdat", r.success ?? r.code < 400);
      await this.send(r);
      return;
    }
    const r = await dataEnd(this);
    this.#dataPending = false;
    this.#count("data", r.success ?? r.code < 400);
    await this.send(r);
  }

  /**
   * The next command-mode line, for exchanges inside a command (AUTH). Resolves with null
   * when the connection is gone.
   */
  async readLine(): Promise<string | null> {
    this.flush();
    for (;;) {
      if (this.#reason !== null || this.#ended) return null;
      const ev = this.reader.next();
      if (ev?.kind === "line") {
        let line: string;
        try {
          line = utf8.decode(ev.line);
        } catch {
          line = latin1.decode(ev.line);
        }
        this.#trace("<", "********");
        this.#newRequest();
        return line;
      }
      if (ev?.kind === "too-long") return "";
      if (ev) continue;
      if (this.#eof) return null;
      await new Promise<void>((r) => {
        this.#lineWaiter = r;
      });
    }
  }

  // ---------------------------------------------------------------- the reply path

  /**
   * The one way a reply leaves the session: formatted with its enhanced code, traced for
   * $debug_peer_list clients, counted toward the error limits, delayed past the soft limit.
   */
  async send(r: Reply): Promise<void> {
    if (this.#ended) return;
    if (this.errors >= this.settings.softErrorLimit && this.settings.errorSleepMs > 0) {
      this.flush();
      await Bun.sleep(this.settings.errorSleepMs);
    }
    const wire = formatReply(r);
    this.#out.push(wire);
    if (this.#debug) for (const l of wire.split("\r\n")) if (l) this.#trace(">", l);
    if (r.code >= 400 && r.success !== true) this.errors++;
    if (r.close || r.code === 421 || r.code === 521) this.#hangup = true;
  }

  /** Postfix checks $smtpd_hard_error_limit before it reads the next command. */
  #hardLimit(): void {
    if (this.#hangup || this.errors < this.settings.hardErrorLimit) return;
    this.#reason = "too many errors";
    log.info(`too many errors after ${this.where} from ${this.namaddr}`);
    this.#out.push(
      formatReply({
        code: 421,
        enhanced: "4.7.0",
        text: `${this.hostname} Error: too many errors`,
      }),
    );
    this.#hangup = true;
  }

  /** Write the replies of the batch in one transport write. */
  flush(): void {
    if (this.#out.length === 0) return;
    const data = this.#out.length === 1 ? this.#out[0] : this.#out.join("");
    this.#out = [];
    this.transport.write(data);
  }

  #trace(dir: "<" | ">", text: string): void {
    if (this.#debug) log.debug(`${dir} ${this.namaddr}: ${text}`);
  }

  #count(name: string, ok: boolean): void {
    let s = this.#stats.get(name);
    if (!s) {
      s = { ok: 0, total: 0 };
      this.#stats.set(name, s);
    }
    s.total++;
    if (ok) s.ok++;
  }

  #internalError(err: unknown): void {
    const e = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log.error(`${this.namaddr}: unexpected error in ${this.where}: ${e}`);
  }

  // ---------------------------------------------------------------- timeout and the end

  #arm(): void {
    if (this.settings.timeoutMs <= 0) return;
    this.#deadline = Date.now() + this.settings.timeoutMs;
    this.#timer = setTimeout(() => this.#timeout(), this.settings.timeoutMs);
  }

  #newRequest(): void {
    if (this.#timer) this.#deadline = Date.now() + this.settings.timeoutMs;
  }

  #timeout(): void {
    if (this.#ended) return;
    if (this.#busy && !this.#lineWaiter) {
      // Working for the client (DNS, a commit): its clock does not run.
      this.#deadline = Date.now() + this.settings.timeoutMs;
      this.#timer?.refresh();
      return;
    }
    const left = this.#deadline - Date.now();
    if (this.settings.perRequestDeadline && left > 0) {
      // The deadline moved (a new request, content received): wait for what is left.
      this.#timer = setTimeout(() => this.#timeout(), left);
      return;
    }
    this.#reason = "timeout";
    this.#out.push(
      formatReply({
        code: 421,
        enhanced: "4.4.2",
        text: `${this.hostname} Error: timeout exceeded`,
      }),
    );
    this.flush();
    const w = this.#lineWaiter;
    this.#lineWaiter = null;
    if (w) w();
    else this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.flush();
    if (this.#reason && this.#reason !== "too many errors") {
      if (this.where === "DATA content" || this.where === "BDAT content") {
        const bytes = this.tx?.size ?? 0;
        log.info(
          `${this.#reason} after ${this.where.slice(0, 4)} (${bytes} bytes) from ${this.namaddr}`,
        );
      } else if (this.where !== "END-OF-MESSAGE" || this.#reason !== "lost connection") {
        log.info(`${this.#reason} after ${this.where} from ${this.namaddr}`);
      }
    }
    if (this.tx) {
      this.tx.abort();
      this.tx = null;
    }
    if (this.#dataPending) this.#count("data", false);
    if (this.#anvilConnected) this.ctx.anvil.disconnect(this.service, this.client.addr);
    log.info(`disconnect from ${this.namaddr}${this.#formatStats()}`);
    this.transport.close();
    this.#resolveClosed();
  }

  /** "ehlo=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=2/4", in Postfix's order. */
  #formatStats(): string {
    let out = "";
    let ok = 0;
    let total = 0;
    for (const name of STATS_ORDER) {
      const s = this.#stats.get(name);
      if (!s) continue;
      out += ` ${name}=${s.ok}${s.ok !== s.total ? `/${s.total}` : ""}`;
      ok += s.ok;
      total += s.total;
    }
    out += ` commands=${ok}${ok !== total || total === 0 ? `/${total}` : ""}`;
    return out;
  }
}

/** AUTH arguments never reach the log. */
function redact(line: string): string {
  return /^\s*AUTH\s+\S+\s+\S/i.test(line)
    ? line.replace(/^(\s*AUTH\s+\S+\s+).*$/i, "$1********")
    : line;
}

/** Control characters and non-ASCII escaped, as Postfix's escape() does for logs. */
export function printable(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 13) out += "\\r";
    else if (c === 10) out += "\\n";
    else if (c === 9) out += "\\t";
    else if (c < 32 || c === 127) out += `\\${c.toString(8).padStart(3, "0")}`;
    else out += text[i];
  }
  return out;
}
