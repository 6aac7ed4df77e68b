/**
 * The cleanup contract: the one entry for every new message (smtpd, sendmail, API, bounce).
 */
import type { Config } from "../config/types.ts";
import type { Resolver } from "../dns/index.ts";
import type { QueueStore } from "../queue/index.ts";
import type { ClientInfo, NewRecipient } from "../queue/types.ts";

export interface CleanupContext {
  cfg: Config;
  queue: QueueStore;
  /** DNS, for sender authentication (SPF/DKIM/DMARC) at end of data; absent = skip. */
  dns?: Resolver;
  /** Called after a message was committed (the scheduler wakes up at once). */
  onQueued?: (queueId: string) => void;
}

export interface CleanupInput {
  /** Envelope sender in internal form as received ("" = null sender). */
  sender: string;
  origin: "smtpd" | "sendmail" | "api" | "bounce";
  client: ClientInfo;
  /** Client in $mynetworks or authenticated: missing headers are added and mail is DKIM-signed. */
  trusted: boolean;
  envid?: string;
  ret?: "FULL" | "HDRS";
  bodyType?: "7BIT" | "8BITMIME" | "BINARYMIME";
  smtputf8?: boolean;
  /** TLS of the inbound session, for the Received header. */
  tls?: { protocol: string; cipher: string; bits?: number };
  /** Put the message on hold (smtpd HOLD action), with this reason. */
  hold?: string;
  /** Accept and drop the message (smtpd DISCARD action), with this reason. */
  discard?: string;
  /** Header lines (without CRLF) added on top by smtpd PREPEND actions. */
  prepend?: string[];
  /** Received-header "by" protocol, e.g. ESMTPSA; defaults to client.protocol. */
  protocol?: string;
}

export type CleanupOutcome =
  | { kind: "queued"; queueId: string; held: boolean }
  | { kind: "discarded"; queueId: string; reason: string }
  /** Permanent or temporary refusal decided by content (header_checks, size, loop, DMARC). */
  | { kind: "rejected"; code: number; enhanced: string; text: string }
  /** The queue could not commit (disk full: 452 4.3.1; other: 451 4.3.0). */
  | { kind: "failed"; code: number; enhanced: string; text: string };

export interface CleanupSession {
  readonly queueId: string;
  /** Add one envelope recipient (internal form); cleanup rewrites and expands it. */
  addRecipient(r: NewRecipient): void;
  /** Message content, CRLF line endings, already dot-unstuffed; any chunking. */
  write(bytes: Uint8Array): void;
  /** Bytes written so far (for the size limit while receiving). */
  readonly size: number;
  /** End of message: checks, final headers, one durable commit. */
  end(): Promise<CleanupOutcome>;
  /** Drop everything written (RSET, QUIT or lost connection mid-DATA). */
  abort(): void;
}
