/**
 * The bounce contract: what qmgr hands the notice composer and what it gets back.
 * The composer is pure: no queue access, no sockets; qmgr injects the result through cleanup.
 */
import type { Config } from "../config/types.ts";
import type { MessageRecord, RecipientRecord } from "../queue/types.ts";

export type NoticeKind = "failure" | "delay" | "success";

/** RFC 3464 section 2.3.3 Action values. */
export type DsnAction = "failed" | "delayed" | "delivered" | "relayed" | "expanded";

/**
 * A recipient as reported in a notice: the queue's record (status, dsn, diagnostic and relay
 * filled in) plus what only the caller knows. Every extra field is optional, so a plain
 * RecipientRecord is accepted as is.
 */
export interface NoticeRecipient extends RecipientRecord {
  /**
   * Success notices only: "relayed" when the next hop did not offer DSN (RFC 3461 section 5.2.2),
   * "expanded" after alias or list expansion; default "delivered".
   */
  action?: DsnAction;
  /** Remote-MTA host name, when it is not in the diagnostic text or the relay. */
  remoteMta?: string;
  /** Exact Diagnostic-Code, e.g. { type: "smtp", text: "550 5.1.1 No such user" }. */
  diagnosticCode?: { type: string; text: string };
}

export interface NoticeInput {
  kind: NoticeKind;
  /** Envelope of the original message. */
  message: MessageRecord;
  /** The recipients this notice is about. */
  recipients: readonly NoticeRecipient[];
  /**
   * The original message bytes (CRLF), chunk by chunk. May be called more than once (the
   * composer reads the part it returns once to choose a MIME boundary, then again to emit it).
   */
  originalContent: () => Iterable<Uint8Array>;
  cfg: Config;
  now?: Date;
  /** Boundary to use unless it occurs in the content (deterministic tests). */
  boundaryHint?: string;
}

export interface Notice {
  /**
   * Envelope sender of the notice: "" (the null sender) for notices to the original sender;
   * $double_bounce_sender@$myorigin for notices to the postmaster, so that a postmaster notice
   * that cannot be delivered is recognised and discarded instead of bouncing in a loop.
   */
  sender: string;
  /** Who gets it: the original sender, or a $*_notice_recipient address. */
  recipient: string;
  /** True when this notice goes to the postmaster. */
  postmasterCopy: boolean;
  /** The complete RFC 5322 message, CRLF, streamed in chunks; each iteration starts afresh. */
  content: Iterable<Uint8Array>;
  /** ESMTP BODY= for the injection: 8BITMIME when the original was 8-bit. */
  bodyType: "7BIT" | "8BITMIME";
  /** SMTPUTF8 needed for the injection (the original requested it). */
  smtputf8: boolean;
  /** Postfix's log wording, for `QUEUEID: <label>: NEWID`, e.g. "sender non-delivery notification". */
  label: string;
  /** Number of recipients reported in the notice. */
  reported: number;
}

/** Where a notice goes, decided from the original sender and $notify_classes. */
export type NoticeRoute =
  | {
      send: true;
      recipient: string;
      sender: string;
      postmasterCopy: boolean;
      label: string;
      /** "notify": only recipients whose NOTIFY asks for this kind; "all": every recipient given. */
      filter: "notify" | "all";
      /** Include the original in full (subject to $bounce_size_limit) or its headers only. */
      ret: "FULL" | "HDRS";
      /** Human-readable boiler-plate text (Postfix leaves it out of postmaster notices). */
      boilerplate: boolean;
    }
  | {
      send: false;
      /** How Postfix logs the drop: a warning, an info line, or nothing at all (null). */
      severity: "warning" | "info" | null;
      reason: string;
    };
