/**
 * One MAIL transaction of an SMTP session: the envelope as accepted so far, the CleanupSession
 * it feeds, and the message size. The CleanupSession is opened at the first accepted RCPT
 * (that is when Postfix logs "QUEUEID: client=host[addr]"); recipients are handed to it when
 * the content starts, so that a REDIRECT access action can still replace them. Content is
 * passed through chunk by chunk and never held here, so memory per session stays bounded by
 * the chunk size whatever the message size. Over $message_size_limit the rest of the content
 * is read and dropped, and the client is told 552 at the end (RFC 1870 section 6.2).
 */
import type { CleanupInput, CleanupOutcome, CleanupSession } from "../cleanup/types.ts";
import { logger } from "../log/index.ts";
import type { NewRecipient } from "../queue/types.ts";
import type { MailParams } from "./params.ts";
import { type Reply, SmtpError } from "./reply.ts";
import type { MessageActions } from "./restrictions.ts";

const log = logger("smtpd");

export class Transaction {
  readonly recipients: NewRecipient[] = [];
  firstRecipient: string | null = null;
  rcptCount = 0;
  /** 452 replies beyond $smtpd_recipient_limit. */
  overshoot = 0;
  cleanup: CleanupSession | null = null;
  input: CleanupInput | null = null;
  /** Content bytes received (dot-unstuffed), including any dropped over the limit. */
  size = 0;
  tooBig = false;
  /** Content has started (DATA accepted or the first BDAT read). */
  started = false;
  /** BDAT: a chunk failed; later chunks are skipped until BDAT LAST or RSET (RFC 3030). */
  bdatFailed = false;
  bdatChunks = 0;

  constructor(
    readonly sender: string,
    readonly params: MailParams,
    private readonly sizeLimit: number,
  ) {}

  get queueId(): string | null {
    return this.cleanup?.queueId ?? null;
  }

  /** The first accepted recipient opens the cleanup session. */
  open(make: () => CleanupSession, input: CleanupInput): CleanupSession {
    if (!this.cleanup) {
      this.input = input;
      this.cleanup = make();
    }
    return this.cleanup;
  }

  addRecipient(r: NewRecipient): void {
    this.recipients.push(r);
    this.rcptCount++;
    this.firstRecipient ??= r.address;
  }

  /** Content begins: hand over the envelope, with the access actions decided so far. */
  begin(actions: MessageActions): void {
    if (this.started) return;
    this.started = true;
    const c = this.cleanup;
    if (!c) throw new SmtpError(451, "4.3.0", "Error: internal error", "content without cleanup");
    if (this.input) {
      if (actions.hold !== undefined) this.input.hold ??= actions.hold;
      if (actions.prepend.length > 0)
        this.input.prepend = [...(this.input.prepend ?? []), ...actions.prepend];
    }
    if (actions.redirect) c.addRecipient({ address: actions.redirect, original: actions.redirect });
    else for (const r of this.recipients) c.addRecipient(r);
    // BCC recipients get no DSN (Postfix writes them with NOTIFY=NEVER).
    for (const b of actions.bcc) c.addRecipient({ address: b, notify: ["NEVER"] });
  }

  write(bytes: Uint8Array): void {
    this.size += bytes.length;
    if (this.tooBig) return;
    if (this.sizeLimit > 0 && this.size > this.sizeLimit) {
      this.tooBig = true;
      log.warn(`${this.queueId ?? "NOQUEUE"}: queue file size limit exceeded`);
      // Keep reading to the end of the content, but store nothing more.
      this.cleanup?.abort();
      return;
    }
    this.cleanup?.write(bytes);
  }

  /**
   * End of content: commit through cleanup and map the outcome to the reply. `bdat` gives
   * RFC 3030's "Ok: N bytes queued as ID".
   */
  async finish(actions: MessageActions, bdat: boolean): Promise<Reply> {
    const c = this.cleanup;
    if (this.tooBig) return { code: 552, enhanced: "5.3.4", text: "Error: message file too big" };
    if (!c) return { code: 451, enhanced: "4.3.0", text: "Error: internal error" };
    if (this.input && actions.hold !== undefined) this.input.hold ??= actions.hold;
    const ok = (id: string): Reply => ({
      code: 250,
      enhanced: "2.0.0",
      text: bdat ? `Ok: ${this.size} bytes queued as ${id}` : `Ok: queued as ${id}`,
    });
    if (actions.discard !== undefined) {
      // DISCARD: claim delivery, keep nothing (Postfix's cleanup logs the same line).
      c.abort();
      log.info(`${c.queueId}: discard: ${actions.discard}`);
      return ok(c.queueId);
    }
    let outcome: CleanupOutcome;
    try {
      outcome = await c.end();
    } catch (err) {
      log.warn(`${c.queueId}: cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
      return { code: 451, enhanced: "4.3.0", text: "Error: queue file write error" };
    }
    switch (outcome.kind) {
      case "queued":
      case "discarded":
        return ok(outcome.queueId);
      case "rejected":
      case "failed":
        return { code: outcome.code, enhanced: outcome.enhanced, text: outcome.text };
    }
  }

  /** RSET, QUIT, a new EHLO or a lost connection in the middle: drop what cleanup has. */
  abort(): void {
    this.cleanup?.abort();
  }
}
