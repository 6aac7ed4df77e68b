/**
 * cleanup -- the one entry for every new message (Postfix cleanup(8)).
 *
 * smtpd, the sendmail command, the REST API and bounce all open a CleanupSession, add
 * recipients, stream the content, and call end(). cleanup:
 *   - rewrites the sender and recipients (canonical(5)), expands virtual aliases (virtual(5));
 *   - splits the header section from the body with bounded memory, applies header_checks(5);
 *   - prepends Received (RFC 5321 4.4), adds Date/Message-ID/From when the client is trusted
 *     ($mynetworks, SASL, local submission) or $always_add_missing_headers;
 *   - extracts recipients from To/Cc/Bcc and drops Bcc for `sendmail -t`;
 *   - enforces $message_size_limit and $hopcount_limit;
 *   - for SMTP mail from outside $mynetworks without a login: SPF, DKIM, DMARC and ARC
 *     (RFC 7208, 6376, 7489, 8617) while the message streams in, forged Authentication-Results
 *     claiming our authserv-id removed, one Authentication-Results field (RFC 8601) and
 *     Received-SPF prepended, DMARC p=reject / SPF fail refused and p=quarantine held as
 *     $smtpd_dmarc_enforce and $smtpd_spf_reject_fail say (sender-auth.ts);
 *   - DKIM-signs mail of trusted senders whose From domain has a key (RFC 6376, RFC 8463);
 *   - commits envelope, recipients and content in one durable transaction: only then is the
 *     client told 250 (DESIGN.md fixed point). Fields known only at the end (signatures,
 *     authentication results) are stored as the message's prefix in that same commit.
 *
 * Parameters: myhostname, mail_name, message_size_limit, header_size_limit, hopcount_limit,
 * header_checks, always_add_missing_headers, smtpd_tls_received_header,
 * smtpd_sasl_authenticated_header, myorigin, canonical/virtual maps (recipients.ts),
 * smtpd_sender_authentication, smtpd_authentication_authserv_id, smtpd_dmarc_enforce,
 * smtpd_spf_reject_fail, dkim_signing, dkim_key_directory.
 */
import { claimsAuthservId } from "../auth/auth-results.ts";
import { keysForDomain } from "../auth/dkim-keys.ts";
import type { Config } from "../config/types.ts";
import { logger } from "../log/index.ts";
import { metrics } from "../log/metrics.ts";
import { QueueError } from "../queue/errors.ts";
import type { MessageDraft } from "../queue/index.ts";
import type { NewRecipient } from "../queue/types.ts";
import { externalForm, parseMailbox } from "../rewrite/address.ts";
import { canonicalize } from "../rewrite/index.ts";
import { applyHeaderChecks } from "./header-checks.ts";
import {
  findHeader,
  type Header,
  HeaderSplitter,
  headerValue,
  serializeHeaders,
} from "./headers.ts";
import { messageId, nowDate, receivedHeader } from "./received.ts";
import { AliasExpansionError, expandRecipient, rewriteSender } from "./recipients.ts";
import {
  type InboundCheck,
  type Signing,
  startInboundCheck,
  startSigning,
  verdictSummary,
} from "./sender-auth.ts";
import type { CleanupContext, CleanupInput, CleanupOutcome, CleanupSession } from "./types.ts";

export type { CleanupContext, CleanupInput, CleanupOutcome, CleanupSession } from "./types.ts";

const log = logger("cleanup");
const CRLF = Buffer.from("\r\n");

/** Extra options for local submission (sendmail). */
export interface CleanupOptions {
  /** sendmail -t: take recipients from To/Cc/Bcc, then drop Bcc. */
  extractRecipients?: boolean;
  /** sendmail -F: full name for a From header cleanup adds. */
  fullName?: string;
}

export function openCleanup(
  ctx: CleanupContext,
  input: CleanupInput,
  options: CleanupOptions = {},
): CleanupSession {
  return new Cleanup(ctx, input, options);
}

class Cleanup implements CleanupSession {
  private readonly draft: MessageDraft;
  private readonly sender: string;
  private readonly recipients: NewRecipient[] = [];
  private readonly seen = new Set<string>();
  private readonly splitter: HeaderSplitter;
  private received = 0;
  private oversize = false;
  private verdict: CleanupOutcome | null = null;
  private holdReason: string | undefined;
  private discardReason: string | undefined;
  private msgId: string | undefined;
  private hops = 0;
  private finished = false;
  private readonly sizeLimit: number;
  /** Sender authentication of this message, when it is checked. */
  private check: InboundCheck | null = null;
  /** DKIM signing, when the sender is trusted and its From domain has keys. */
  private signing: Signing | null = null;

  constructor(
    private readonly ctx: CleanupContext,
    private readonly input: CleanupInput,
    private readonly options: CleanupOptions,
  ) {
    this.draft = ctx.queue.createDraft();
    this.sender =
      input.sender === "" ? "" : rewriteSender(ctx.cfg, canonicalize(ctx.cfg, input.sender));
    this.holdReason = input.hold;
    this.discardReason = input.discard;
    this.sizeLimit = ctx.cfg.size("message_size_limit");
    const fieldLimit = ctx.cfg.size("header_size_limit");
    const cfg = ctx.cfg;
    if (
      input.origin === "smtpd" &&
      !input.trusted &&
      ctx.dns !== undefined &&
      cfg.bool("smtpd_sender_authentication")
    ) {
      this.check = startInboundCheck(cfg, ctx.dns, {
        ip: input.client.addr,
        helo: input.client.helo ?? null,
        sender: input.sender,
      });
    }
    this.splitter = new HeaderSplitter(
      (ev) => {
        if (ev.kind === "headers") this.onHeaders(ev.headers);
        else this.store(ev.bytes);
      },
      // The whole header section is bounded too: 10 fields at the limit (1 MB by default).
      fieldLimit * 10,
      fieldLimit,
    );
  }

  get queueId(): string {
    return this.draft.id;
  }

  get size(): number {
    return this.received;
  }

  addRecipient(r: NewRecipient): void {
    if (this.finished) return;
    let expanded: NewRecipient[];
    try {
      expanded = expandRecipient(this.ctx.cfg, r);
    } catch (err) {
      if (!(err instanceof AliasExpansionError)) throw err;
      log.warn(`${this.queueId}: ${err.message}`);
      this.verdict ??= {
        kind: "rejected",
        code: 451,
        enhanced: "4.3.0",
        text: "Error: virtual alias expansion failed",
      };
      return;
    }
    for (const e of expanded) {
      // Postfix drops exact duplicates (same address, same original, same DSN options).
      const key = `${e.address.toLowerCase()}\0${e.original ?? ""}\0${(e.notify ?? []).join(",")}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      this.recipients.push(e);
    }
  }

  write(bytes: Uint8Array): void {
    if (this.finished) return;
    this.received += bytes.byteLength;
    if (this.oversize) return;
    if (this.received > this.sizeLimit && this.sizeLimit > 0) {
      // Keep reading (smtpd must still find the end of data) but store nothing more.
      this.oversize = true;
      this.stopTaps();
      return;
    }
    this.check?.write(bytes);
    this.splitter.write(bytes);
  }

  /** Bytes of the message as stored: into the draft, and through the DKIM signer. */
  private store(bytes: Uint8Array): void {
    this.draft.write(bytes);
    this.signing?.write(bytes);
  }

  private stopTaps(): void {
    this.check?.abort();
    this.check = null;
    this.signing?.abort();
    this.signing = null;
  }

  private onHeaders(headers: Header[]): void {
    const cfg = this.ctx.cfg;
    const checked = applyHeaderChecks(cfg.tables("header_checks"), headers);
    for (const n of checked.notes) {
      log.info(
        `${this.queueId}: ${n.action}: header ${n.header} ${this.clientTrail()}${n.text ? `: ${n.text}` : ""}`,
      );
    }
    if (checked.verdict?.kind === "reject") {
      const v = checked.verdict;
      log.info(
        `${this.queueId}: reject: header ${v.header} ${this.clientTrail()}: ${v.enhanced} ${v.text}`,
      );
      this.verdict ??= { kind: "rejected", code: v.code, enhanced: v.enhanced, text: v.text };
    } else if (checked.verdict?.kind === "hold")
      this.holdReason ??= checked.verdict.text || "header_checks HOLD";
    else if (checked.verdict?.kind === "discard")
      this.discardReason ??= checked.verdict.text || "header_checks DISCARD";
    if (checked.redirect) {
      const to = canonicalize(cfg, checked.redirect);
      this.recipients.length = 0;
      this.seen.clear();
      this.recipients.push({ address: to, original: to });
    }
    for (const b of checked.bcc) this.addRecipient({ address: b });

    let out = checked.headers;
    this.hops = out.filter((h) => h.name.toLowerCase() === "received").length;
    if (this.check) {
      // RFC 8601 section 5: results claiming to be ours can only be forged here.
      const id = authservId(cfg);
      out = out.filter(
        (h) => h.name.toLowerCase() !== "authentication-results" || !claimsAuthservId(h.raw, id),
      );
    }

    if (this.options.extractRecipients) {
      for (const name of ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"]) {
        for (const h of out) {
          if (h.name.toLowerCase() !== name) continue;
          for (const addr of headerAddresses(headerValue(h))) this.addRecipient({ address: addr });
        }
      }
      out = out.filter((h) => !["bcc", "resent-bcc"].includes(h.name.toLowerCase()));
    }

    const trusted = this.input.trusted || cfg.bool("always_add_missing_headers");
    const hostname = cfg.str("myhostname");
    const added: Header[] = [];
    if (trusted) {
      if (!findHeader(out, "date")) added.push({ name: "Date", raw: `Date: ${nowDate()}` });
      if (!findHeader(out, "message-id")) {
        added.push({ name: "Message-ID", raw: `Message-ID: ${messageId(this.queueId, hostname)}` });
      }
      if (!findHeader(out, "from")) {
        const from = this.sender === "" ? `MAILER-DAEMON@${hostname}` : externalForm(this.sender);
        const name = this.options.fullName ? `${quotePhrase(this.options.fullName)} ` : "";
        added.push({ name: "From", raw: `From: ${name}<${from}>` });
      }
    }
    const mid = findHeader(out, "message-id") ?? added.find((h) => h.name === "Message-ID");
    if (mid) this.msgId = headerValue(mid);

    const received: Header = {
      name: "Received",
      raw: receivedHeader({
        input: this.input,
        hostname,
        mailName: cfg.str("mail_name"),
        queueId: this.queueId,
        forRecipient:
          this.recipients.length === 1 ? externalForm(this.recipients[0].address) : undefined,
        tlsHeader: cfg.bool("smtpd_tls_received_header"),
        saslHeader: cfg.bool("smtpd_sasl_authenticated_header"),
        date: nowDate(),
      }),
    };
    const prepend: Header[] = (this.input.prepend ?? []).map((raw) => ({
      name: raw.slice(0, Math.max(0, raw.indexOf(":"))),
      raw,
    }));
    const final = [...prepend, received, ...out, ...added];
    this.signing = this.signingFor(final);
    this.store(serializeHeaders(final));
    // The empty line ending the header section. When the client's first body line came
    // without one (missingSeparator), this supplies it (RFC 5322 2.1), as Postfix's cleanup
    // does, so the body is not mistaken for headers downstream.
    this.store(CRLF);
  }

  /**
   * DKIM signing for mail of trusted senders (in $mynetworks, logged in, or local and API
   * submissions and our own bounces) whose From domain has keys; the signature covers the
   * message as stored, our Received field included.
   */
  private signingFor(headers: Header[]): Signing | null {
    const cfg = this.ctx.cfg;
    if (this.check || !cfg.bool("dkim_signing")) return null;
    if (this.input.origin === "smtpd" && !this.input.trusted) return null;
    const from = findHeader(headers, "from");
    if (!from) return null;
    const [address] = headerAddresses(headerValue(from));
    const at = address?.lastIndexOf("@") ?? -1;
    if (at < 0) return null;
    const keys = keysForDomain(cfg.path("dkim_key_directory"), address.slice(at + 1));
    return startSigning(keys);
  }

  private clientTrail(): string {
    const c = this.input.client;
    const to = this.recipients[0] ? externalForm(this.recipients[0].address) : "";
    return `from ${c.name}[${c.addr}]; from=<${externalForm(this.sender)}> to=<${to}> proto=${this.input.protocol ?? c.protocol} helo=<${c.helo ?? ""}>`;
  }

  async end(): Promise<CleanupOutcome> {
    if (this.finished) throw new Error("cleanup: end() called twice");
    this.splitter.end();
    this.finished = true;
    try {
      return await this.finish();
    } finally {
      this.stopTaps();
    }
  }

  private async finish(): Promise<CleanupOutcome> {
    const cfg = this.ctx.cfg;
    if (this.oversize) {
      this.draft.abort();
      log.info(`${this.queueId}: reject: size ${this.received} exceeds limit ${this.sizeLimit}`);
      return {
        kind: "rejected",
        code: 552,
        enhanced: "5.3.4",
        text: "Error: message file too big",
      };
    }
    if (this.verdict) {
      this.draft.abort();
      return this.verdict;
    }
    if (this.hops > cfg.int("hopcount_limit")) {
      this.draft.abort();
      log.info(`${this.queueId}: reject: too many hops (${this.hops})`);
      return { kind: "rejected", code: 554, enhanced: "5.4.6", text: "Error: too many hops" };
    }
    if (this.recipients.length === 0) {
      this.draft.abort();
      return {
        kind: "rejected",
        code: 554,
        enhanced: "5.5.1",
        text: "Error: no recipients specified",
      };
    }
    if (this.msgId) log.info(`${this.queueId}: message-id=${this.msgId}`);
    if (this.discardReason !== undefined) {
      this.draft.abort();
      return { kind: "discarded", queueId: this.queueId, reason: this.discardReason };
    }
    let prefix = "";
    if (this.check) {
      const check = this.check;
      this.check = null;
      const verdict = await this.authVerdict(check);
      if (verdict !== null && "kind" in verdict) return verdict;
      if (verdict !== null) prefix += verdict.prefix;
    }
    if (this.signing) {
      const signing = this.signing;
      this.signing = null;
      try {
        const signed = await signing.end();
        for (const e of signed.errors)
          log.warn(`${this.queueId}: DKIM signing for ${signing.domain}: ${e}`);
        prefix = signed.headers + prefix;
      } catch (err) {
        // Unsigned mail still goes out; a receiver then treats it as it would any unsigned mail.
        log.warn(`${this.queueId}: DKIM signing for ${signing.domain} failed: ${errText(err)}`);
      }
    }
    // smtpd may learn of a HOLD action after opening (a later RCPT, DATA, end of data).
    this.holdReason ??= this.input.hold;
    const held = this.holdReason !== undefined;
    try {
      const commitOptions = prefix === "" ? {} : { prefix: Buffer.from(prefix, "utf8") };
      await this.draft.commit(
        {
          sender: this.sender,
          recipients: this.recipients,
          envid: this.input.envid,
          ret: this.input.ret,
          bodyType: this.input.bodyType,
          smtputf8: this.input.smtputf8,
          client: this.input.client,
          messageId: this.msgId,
          state: held ? "hold" : "incoming",
          reason: this.holdReason,
          origin: this.input.origin,
        },
        commitOptions,
      );
    } catch (err) {
      const qe = err instanceof QueueError ? err : null;
      log.warn(
        `${this.queueId}: queue commit failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      if (qe?.code === "QUEUE_FULL")
        return {
          kind: "failed",
          code: 452,
          enhanced: "4.3.1",
          text: "Error: insufficient system storage",
        };
      return {
        kind: "failed",
        code: 451,
        enhanced: "4.3.0",
        text: "Error: queue file write error",
      };
    }
    if (this.input.origin !== "bounce") {
      metrics.inc("accepted");
      metrics.inc("accepted_bytes", this.received);
    }
    if (!held) this.ctx.onQueued?.(this.queueId);
    return { kind: "queued", queueId: this.queueId, held };
  }

  /**
   * The sender authentication verdict: header fields to prepend (a hold recorded), or the
   * refusal to give the client. null when the check itself broke (logged): the message then goes
   * on without results, unless a policy is enforced, which must never fail open.
   */
  private async authVerdict(
    check: InboundCheck,
  ): Promise<{ prefix: string } | CleanupOutcome | null> {
    const cfg = this.ctx.cfg;
    let v: Awaited<ReturnType<InboundCheck["end"]>>;
    try {
      v = await check.end();
    } catch (err) {
      log.warn(`${this.queueId}: sender authentication failed: ${errText(err)}`);
      if (!cfg.bool("smtpd_dmarc_enforce") && !cfg.bool("smtpd_spf_reject_fail")) return null;
      this.draft.abort();
      return {
        kind: "rejected",
        code: 451,
        enhanced: "4.7.5",
        text: "Error: sender authentication is not possible now; try again later",
      };
    }
    log.info(`${this.queueId}: sender authentication: ${verdictSummary(v.result)}`);
    const a = v.action;
    if (a.action === "reject" || a.action === "defer") {
      this.draft.abort();
      const r = a.reply;
      const enhanced = r.enhanced ?? (r.code >= 500 ? "5.7.1" : "4.7.1");
      const text = Array.isArray(r.text) ? r.text.join(" ") : r.text;
      log.info(
        `${this.queueId}: ${a.action === "reject" ? "reject" : "defer"}: END-OF-MESSAGE ${this.clientTrail()}: ${r.code} ${enhanced} ${text} (${a.reason})`,
      );
      return { kind: "rejected", code: r.code, enhanced, text };
    }
    if (a.action === "hold") {
      this.holdReason ??= a.reason;
      log.info(`${this.queueId}: hold: ${a.reason} ${this.clientTrail()}`);
    }
    return { prefix: v.prefix };
  }

  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopTaps();
    this.draft.abort();
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** $smtpd_authentication_authserv_id, $myhostname when empty. */
function authservId(cfg: Config): string {
  return cfg.str("smtpd_authentication_authserv_id") || cfg.str("myhostname");
}

/** RFC 5322 display name: quote it unless it is plain atoms. */
function quotePhrase(name: string): string {
  if (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/.test(name)) return name;
  return `"${name.replace(/(["\\])/g, "\\$1")}"`;
}

/**
 * Addresses in an address-list header value (To/Cc/Bcc), for sendmail -t. Handles display
 * names, angle addresses, groups and comments; invalid entries are skipped.
 */
export function headerAddresses(value: string): string[] {
  const out: string[] = [];
  // Remove comments (not nested-aware beyond one level; enough for headers people write).
  const text = value.replace(/\((?:[^()\\]|\\.)*\)/g, " ");
  let depthQuote = false;
  let start = 0;
  const parts: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' && text[i - 1] !== "\\") depthQuote = !depthQuote;
    else if (!depthQuote && (c === "," || c === ";" || c === ":")) {
      if (c === ":") {
        // group name: everything before the colon is a display name
        start = i + 1;
        continue;
      }
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  for (const p of parts) {
    const trimmed = p.trim();
    if (!trimmed) continue;
    const angle = /<([^<>]*)>/.exec(trimmed);
    const raw = (angle ? angle[1] : trimmed).trim();
    if (!raw) continue;
    try {
      out.push(parseMailbox(raw, true));
    } catch {
      // Not an address: ignore, as Postfix's -t extraction does for unparsable tokens.
    }
  }
  return out;
}
