/**
 * One SMTP or LMTP session with one server: greeting, EHLO (HELO fallback) or LHLO, STARTTLS,
 * then mail transactions (RFC 5321 section 3.3), pipelined when the server offers PIPELINING
 * (RFC 2920: MAIL, every RCPT and DATA in one write, replies read in order), with the body
 * streamed and dot-stuffed chunk by chunk. LMTP (RFC 2033) reads one reply per accepted
 * recipient after the end of data.
 *
 * Results per recipient: 2xx sent, 4xx "soft" (deferred unless another server takes it), 5xx
 * bounced, with Postfix's diagnostic "host mx[addr] said: 550 5.1.1 ... (in reply to RCPT TO
 * command)". Transport failures become SessionFailure / soft results with Postfix's wording.
 */

import type { MessageRecord, RecipientRecord } from "../../queue/types.ts";
import type { TlsSummary } from "../types.ts";
import { mailCommand, needsSmtputf8, rcptCommand } from "./commands.ts";
import { ConnError, Connection } from "./connection.ts";
import { DotStuffer } from "./dot-stuff.ts";
import { NO_FEATURES, parseEhlo, type ServerFeatures } from "./ehlo.ts";
import { IN_REPLY_TO, PHASE_TEXT, type Phase, SessionFailure, socketErrorText } from "./errors.ts";
import { replyDsn, replyText, type SmtpReply, softenDsn } from "./reply.ts";
import type { Target } from "./targets.ts";
import { acceptableProtocol, checkPeer, type TlsPolicy, tlsOptions } from "./tls-policy.ts";

export interface Timeouts {
  connect: number;
  helo: number;
  mail: number;
  rcpt: number;
  dataInit: number;
  dataXfer: number;
  dataDone: number;
  quit: number;
  starttls: number;
  rset: number;
}

export interface SessionConfig {
  lmtp: boolean;
  heloName: string;
  neverEhlo: boolean;
  skip5xxGreeting: boolean;
  pipelining: boolean;
  dsnPassthrough: boolean;
  lineLimit: number;
  /** Milliseconds; 0 = no limit. */
  timeouts: Timeouts;
  tls: TlsPolicy;
}

/** One recipient's outcome on this session; "soft" may still succeed on another server. */
export interface TxOutcome {
  status: "sent" | "soft" | "bounced";
  dsn: string;
  diagnostic: string;
}

export interface TxResult {
  outcomes: Map<number, TxOutcome>;
  /** Recipients refused with 452 (too many recipients) while others were taken: send again. */
  retry: RecipientRecord[];
}

export interface TxInput {
  message: MessageRecord;
  recipients: RecipientRecord[];
  body(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  signal?: AbortSignal;
}

const CRLF = "\r\n";
/** Body chunks up to this size are sent together with the end of data. */
const JOIN_LIMIT = 64 * 1024;

export class Session {
  features: ServerFeatures = NO_FEATURES;
  tls: TlsSummary | undefined;
  /** Transactions started on this connection. */
  uses = 0;
  /** A transaction may be open at the server (RSET needed before the next MAIL). */
  dirty = false;
  /**
   * Taken from the connection cache: RSET first, to see that the server is still there (as
   * Postfix checks a cached session). It goes out pipelined with the next MAIL, so reuse costs
   * no round trip of its own; when it fails, every recipient is soft and the caller tries a
   * fresh connection.
   */
  needsRset = false;
  private phase: Phase = "greeting";
  private quitting = false;
  /** "host[addr]" as Postfix names a server in its diagnostics. */
  readonly label: string;
  /** Postfix's relay= field: "host[addr]:port". */
  readonly relay: string;

  private constructor(
    readonly conn: Connection,
    readonly target: Target,
    private readonly sc: SessionConfig,
  ) {
    this.label =
      target.unix !== undefined
        ? `${sc.heloName}[${target.unix}]`
        : `${target.host}[${target.addr}]`;
    this.relay =
      target.unix !== undefined ? this.label : `${target.host}[${target.addr}]:${target.port}`;
  }

  /**
   * Connects and greets, up to the point where MAIL may be sent. `starttls` false skips TLS
   * (the plain-text retry of level "may"). Throws SessionFailure.
   */
  static async open(
    target: Target,
    sc: SessionConfig,
    starttls: boolean,
    domain: string,
    signal?: AbortSignal,
  ): Promise<Session> {
    let conn: Connection;
    try {
      conn = await Connection.open(
        target.unix !== undefined
          ? { unix: target.unix }
          : { hostname: target.addr, port: target.port },
        sc.timeouts.connect,
        signal,
      );
    } catch (err) {
      const e = err as ConnError;
      if (e.kind === "aborted")
        throw new SessionFailure("aborted", "deferred", "4.3.0", "delivery aborted");
      const where =
        target.unix !== undefined ? target.unix : `${target.host}[${target.addr}]:${target.port}`;
      throw new SessionFailure(
        "connect",
        "deferred",
        "4.4.1",
        `connect to ${where}: ${socketErrorText(e.code, e.message)}`,
      );
    }
    const s = new Session(conn, target, sc);
    const onAbort = () => conn.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await s.handshake(starttls, domain);
      return s;
    } catch (err) {
      if (!s.quitting) conn.abort();
      throw s.failure(err);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** A transport error as a SessionFailure in Postfix's words. */
  private failure(err: unknown): SessionFailure {
    if (err instanceof SessionFailure) return err;
    if (err instanceof ConnError) {
      const what = PHASE_TEXT[this.phase];
      switch (err.kind) {
        case "timeout":
          return new SessionFailure(
            "timeout",
            "deferred",
            "4.4.2",
            `conversation with ${this.label} timed out while ${what}`,
          );
        case "protocol":
          return new SessionFailure(
            "protocol",
            "deferred",
            "4.5.0",
            `protocol error with ${this.label} while ${what}: ${err.message}`,
          );
        case "aborted":
          return new SessionFailure("aborted", "deferred", "4.3.0", "delivery aborted");
        default:
          return new SessionFailure(
            "lost",
            "deferred",
            "4.4.2",
            `lost connection with ${this.label} while ${what}`,
          );
      }
    }
    return new SessionFailure(
      "protocol",
      "deferred",
      "4.3.0",
      `internal error talking to ${this.label}: ${String(err)}`,
    );
  }

  private async command(line: string, phase: Phase, timeoutMs: number): Promise<SmtpReply> {
    this.phase = phase;
    const p = this.conn.write(line + CRLF, timeoutMs);
    if (p !== undefined) await p;
    return this.conn.read(timeoutMs);
  }

  /** "host X said: 550 ... (in reply to RCPT TO command)" */
  private said(reply: SmtpReply, phase: Phase): string {
    const ctx = IN_REPLY_TO[phase];
    return `host ${this.label} said: ${replyText(reply)}${ctx !== undefined ? ` (in reply to ${ctx})` : ""}`;
  }

  private async handshake(starttls: boolean, domain: string): Promise<void> {
    const t = this.sc.timeouts;
    this.phase = "greeting";
    const greeting = await this.conn.read(t.helo);
    if (greeting.code !== 220) {
      void this.quitQuietly();
      const text = `host ${this.label} refused to talk to me: ${replyText(greeting)}`;
      const hard = greeting.code >= 500 && !this.sc.skip5xxGreeting;
      throw new SessionFailure(
        "refused",
        hard ? "bounced" : "deferred",
        hard ? replyDsn(greeting) : softenDsn(replyDsn(greeting)),
        text,
      );
    }
    await this.hello();
    const level = this.sc.tls.level;
    if (!starttls || level === "none") return;
    if (!this.features.starttls) {
      if (level === "may") return;
      void this.quitQuietly();
      throw new SessionFailure(
        "tls",
        "deferred",
        "4.7.4",
        `TLS is required, but was not offered by host ${this.label}`,
      );
    }
    const reply = await this.command("STARTTLS", "starttls", t.helo);
    if (reply.code !== 220) {
      if (level === "may") return;
      void this.quitQuietly();
      throw new SessionFailure(
        "tls",
        "deferred",
        "4.7.5",
        `TLS is required, but host ${this.label} refused to start TLS: ${replyText(reply)}`,
      );
    }
    const hs = await this.conn.startTls(tlsOptions(this.sc.tls, this.target.host), t.starttls);
    if (!hs.ok || !acceptableProtocol(this.sc.tls, hs.protocol)) {
      const f = new SessionFailure(
        "tls",
        "deferred",
        "4.7.5",
        "Cannot start TLS: handshake failure",
      );
      throw Object.assign(f, { plainRetry: level === "may" });
    }
    if (!checkPeer(this.sc.tls, hs.authorized, hs.error, hs.peerCert, domain)) {
      throw new SessionFailure(
        "tls",
        "deferred",
        "4.7.5",
        `Server certificate not verified (${this.label}: ${hs.error ?? "no match"})`,
      );
    }
    this.tls = {
      protocol: hs.protocol,
      cipher: hs.cipher,
      verified: level === "verify" || level === "secure" ? true : hs.authorized,
      peer: hs.peerCn,
    };
    // RFC 3207 section 4.2: forget what was learnt before TLS and ask again.
    await this.hello();
  }

  private async hello(): Promise<void> {
    const t = this.sc.timeouts.helo;
    const name = this.sc.heloName;
    if (this.sc.lmtp) {
      const r = await this.command(`LHLO ${name}`, "lhlo", t);
      if (r.code !== 250) throw this.refused(r, "lhlo");
      this.features = parseEhlo(r);
      return;
    }
    if (!this.sc.neverEhlo) {
      const r = await this.command(`EHLO ${name}`, "ehlo", t);
      if (r.code === 250) {
        this.features = parseEhlo(r);
        return;
      }
      if (r.code < 500) throw this.refused(r, "ehlo");
    }
    // RFC 5321 section 3.2: a server that does not know EHLO still knows HELO.
    const r = await this.command(`HELO ${name}`, "helo", t);
    if (r.code !== 250) throw this.refused(r, "helo");
    this.features = NO_FEATURES;
  }

  private refused(r: SmtpReply, phase: Phase): SessionFailure {
    void this.quitQuietly();
    const hard = r.code >= 500;
    return new SessionFailure(
      "refused",
      hard ? "bounced" : "deferred",
      replyDsn(r),
      this.said(r, phase),
    );
  }

  /** One mail transaction for these recipients. Transport failures make every undecided one soft. */
  async transaction(input: TxInput, sc: SessionConfig): Promise<TxResult> {
    const { message, recipients } = input;
    const outcomes = new Map<number, TxOutcome>();
    const result: TxResult = { outcomes, retry: [] };
    const f = this.features;
    const all = (o: TxOutcome, list: RecipientRecord[] = recipients) => {
      for (const r of list) if (!outcomes.has(r.index)) outcomes.set(r.index, o);
    };
    if (f.size !== null && f.size > 0 && message.size > f.size) {
      all({
        status: "bounced",
        dsn: "5.3.4",
        diagnostic: `message size ${message.size} exceeds size limit ${f.size} of server ${this.label}`,
      });
      return result;
    }
    const utf8 = needsSmtputf8(message, recipients);
    if (utf8 && !f.smtputf8) {
      all({
        status: "bounced",
        dsn: "5.6.7",
        diagnostic: `SMTPUTF8 is required, but was not offered by host ${this.label}`,
      });
      return result;
    }
    const opt = { features: f, dsn: sc.dsnPassthrough, smtputf8: utf8 };
    const t = sc.timeouts;
    const fromReply = (reply: SmtpReply, phase: Phase): TxOutcome => ({
      status:
        reply.code >= 200 && reply.code < 300 ? "sent" : reply.code >= 500 ? "bounced" : "soft",
      dsn: replyDsn(reply),
      diagnostic:
        reply.code >= 200 && reply.code < 300 ? replyText(reply) : this.said(reply, phase),
    });
    const pipelined = f.pipelining && (sc.pipelining || sc.lmtp);
    const onAbort = () => this.conn.abort();
    input.signal?.addEventListener("abort", onAbort, { once: true });
    const accepted: RecipientRecord[] = [];
    const tooMany: Array<{ r: RecipientRecord; reply: SmtpReply }> = [];
    try {
      if (input.signal?.aborted) throw new ConnError("aborted", "delivery aborted");
      this.uses++;
      this.dirty = true;
      const mail = mailCommand(message, opt);
      let mailReply: SmtpReply;
      const rcptReplies: SmtpReply[] = [];
      let dataReply: SmtpReply | null = null;
      const rsetFirst = this.needsRset;
      this.needsRset = false;
      if (rsetFirst && !pipelined && !(await this.rset())) {
        throw new ConnError("lost", "cached connection unusable");
      }
      if (pipelined) {
        let batch = rsetFirst ? `RSET${CRLF}${mail}${CRLF}` : mail + CRLF;
        for (const r of recipients) batch += rcptCommand(r, opt) + CRLF;
        batch += `DATA${CRLF}`;
        this.phase = rsetFirst ? "rset" : "mail";
        const p = this.conn.write(batch, t.mail);
        if (p !== undefined) await p;
        if (rsetFirst && (await this.conn.read(sc.timeouts.rset)).code !== 250) {
          throw new ConnError("lost", "cached connection unusable");
        }
        this.phase = "mail";
        mailReply = await this.conn.read(t.mail);
        this.phase = "rcpt";
        for (let i = 0; i < recipients.length; i++) rcptReplies.push(await this.conn.read(t.rcpt));
        this.phase = "data";
        dataReply = await this.conn.read(t.dataInit);
      } else {
        mailReply = await this.command(mail, "mail", t.mail);
        if (mailReply.code >= 200 && mailReply.code < 300) {
          for (const r of recipients)
            rcptReplies.push(await this.command(rcptCommand(r, opt), "rcpt", t.rcpt));
          if (rcptReplies.some((r) => r.code >= 200 && r.code < 300))
            dataReply = await this.command("DATA", "data", t.dataInit);
        }
      }
      if (mailReply.code < 200 || mailReply.code >= 300) {
        all(fromReply(mailReply, "mail"));
        if (dataReply?.code === 354) await this.endEmptyData();
        if (mailReply.code === 421) this.conn.close();
        return result;
      }
      for (let i = 0; i < recipients.length; i++) {
        const r = recipients[i];
        const reply = rcptReplies[i];
        if (reply.code >= 200 && reply.code < 300) accepted.push(r);
        else if (reply.code === 452) tooMany.push({ r, reply });
        else outcomes.set(r.index, fromReply(reply, "rcpt"));
      }
      // RFC 5321 4.5.3.1.10: 452 for too many recipients; the rest go in another transaction
      // (their soft outcome stands if that cannot happen).
      for (const x of tooMany) outcomes.set(x.r.index, fromReply(x.reply, "rcpt"));
      if (accepted.length > 0) result.retry = tooMany.map((x) => x.r);
      if (accepted.length === 0) {
        if (dataReply?.code === 354) await this.endEmptyData();
        return result;
      }
      if (dataReply === null || dataReply.code !== 354) {
        const o =
          dataReply === null
            ? {
                status: "soft" as const,
                dsn: "4.5.0",
                diagnostic: `no DATA reply from ${this.label}`,
              }
            : fromReply(dataReply, "data");
        all(o, accepted);
        if (dataReply?.code === 421) this.conn.close();
        return result;
      }
      await this.sendBody(input, sc);
      this.phase = "dot";
      if (sc.lmtp) {
        // RFC 2033 section 4.2: one reply per accepted recipient, in RCPT order.
        for (const r of accepted)
          outcomes.set(r.index, fromReply(await this.conn.read(t.dataDone), "dot"));
      } else {
        const reply = await this.conn.read(t.dataDone);
        all(fromReply(reply, "dot"), accepted);
        if (reply.code === 421) this.conn.close();
      }
      this.dirty = false;
      return result;
    } catch (err) {
      const fail = this.failure(err);
      all({ status: "soft", dsn: fail.dsn, diagnostic: fail.message });
      result.retry = [];
      this.conn.abort();
      return result;
    } finally {
      input.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** DATA was accepted without a recipient (pipelining): send an empty message and ignore it. */
  private async endEmptyData(): Promise<void> {
    this.phase = "dot";
    const p = this.conn.write(`.${CRLF}`, this.sc.timeouts.dataDone);
    if (p !== undefined) await p;
    await this.conn.read(this.sc.timeouts.dataDone);
  }

  private async sendBody(input: TxInput, sc: SessionConfig): Promise<void> {
    this.phase = "body";
    const stuffer = new DotStuffer(sc.lineLimit);
    const xfer = sc.timeouts.dataXfer;
    // The last chunk goes out with the terminating ".": a small message is one write (on
    // loopback each write costs the receiver's TCP processing too).
    let held: Uint8Array | null = null;
    for await (const chunk of input.body()) {
      const out = stuffer.encode(chunk);
      if (out.length === 0) continue;
      if (held !== null) {
        const p = this.conn.write(held, xfer);
        if (p !== undefined) await p;
      }
      held = out.length <= JOIN_LIMIT ? out : null;
      if (held === null) {
        const p = this.conn.write(out, xfer);
        if (p !== undefined) await p;
      }
    }
    this.phase = "dot";
    const end = stuffer.finish();
    let last = end;
    if (held !== null) {
      last = new Uint8Array(held.length + end.length);
      last.set(held);
      last.set(end, held.length);
    }
    const p = this.conn.write(last, xfer);
    if (p !== undefined) await p;
  }

  /** RSET before the connection is cached or reused; false when the server is gone. */
  async rset(): Promise<boolean> {
    if (!this.conn.isOpen) return false;
    try {
      const r = await this.command("RSET", "rset", this.sc.timeouts.rset);
      if (r.code !== 250) return false;
      this.dirty = false;
      return true;
    } catch {
      return false;
    }
  }

  /**
   * QUIT and close. Callers need not wait: the reply is read in the background, for at most
   * five seconds.
   */
  quitQuietly(): Promise<void> {
    if (!this.conn.isOpen || this.quitting) return Promise.resolve();
    this.quitting = true;
    this.phase = "quit";
    try {
      const p = this.conn.write(`QUIT${CRLF}`, this.sc.timeouts.quit);
      return (p ?? Promise.resolve())
        .then(() => this.conn.read(Math.min(this.sc.timeouts.quit || 5000, 5000)))
        .then(
          () => this.conn.close(),
          () => this.conn.close(),
        );
    } catch {
      this.conn.close();
      return Promise.resolve();
    }
  }
}
