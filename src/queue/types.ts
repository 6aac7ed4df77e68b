/**
 * The queue's contract: the only types other components use to talk to the queue store.
 * Nothing here may assume SQLite (a PostgreSQL backend must be able to implement it).
 */

export type QueueState = "incoming" | "active" | "deferred" | "hold" | "bounce" | "corrupt";
export const QUEUE_STATES: readonly QueueState[] = [
  "incoming",
  "active",
  "deferred",
  "hold",
  "bounce",
  "corrupt",
];

/** Per-recipient delivery status. */
export type RecipientStatus = "pending" | "sent" | "deferred" | "bounced" | "expired";

/** RFC 3461 NOTIFY values; empty array = not given (default: FAILURE,DELAY behaviour). */
export type DsnNotify = "NEVER" | "SUCCESS" | "FAILURE" | "DELAY";

export interface NewRecipient {
  /** Final envelope address after rewriting (what delivery uses). */
  address: string;
  /** The address as the client gave it before rewriting/alias expansion (Postfix "original"). */
  original?: string;
  /** RFC 3461 ORCPT as given, e.g. "rfc822;bob@example.com" (xtext-decoded). */
  orcpt?: string;
  notify?: DsnNotify[];
}

/** How the message reached us; shown in logs, Received headers and the API. */
export interface ClientInfo {
  name: string; // reverse DNS name or "unknown" / "localhost"
  addr: string; // IP address, "" for local submission
  helo?: string;
  protocol: string; // SMTP, ESMTP, ESMTPS, ESMTPSA, LMTP, local, HTTP
  saslUser?: string;
}

export interface NewMessage {
  sender: string; // "" = null sender <>
  recipients: NewRecipient[];
  envid?: string; // RFC 3461 ENVID (xtext-decoded)
  ret?: "FULL" | "HDRS";
  bodyType?: "7BIT" | "8BITMIME" | "BINARYMIME";
  smtputf8?: boolean;
  client?: ClientInfo;
  messageId?: string; // Message-ID header value, for logs and the API
  /** Initial state: "incoming" (default) or "hold" (header_checks HOLD, DMARC quarantine). */
  state?: "incoming" | "hold";
  /** Reason kept with a held message (e.g. header_checks text). */
  reason?: string;
  /** Where it came from: smtpd, sendmail, api, bounce. */
  origin: string;
}

export interface RecipientRecord {
  index: number;
  address: string;
  original: string | null;
  orcpt: string | null;
  notify: DsnNotify[];
  status: RecipientStatus;
  dsn: string | null; // last enhanced status code, e.g. "4.4.1"
  diagnostic: string | null; // last reply text / reason
  relay: string | null; // last relay used
  updatedAt: number | null; // ms since epoch
}

export interface MessageRecord {
  id: string;
  state: QueueState;
  sender: string;
  size: number; // body bytes as stored (headers + body)
  arrivalTime: number; // ms since epoch
  nextAttempt: number | null; // ms since epoch
  attempts: number;
  reason: string | null; // last deferral / hold reason
  envid: string | null;
  ret: "FULL" | "HDRS" | null;
  bodyType: string | null;
  smtputf8: boolean;
  client: ClientInfo | null;
  messageId: string | null;
  origin: string;
  /** ms since epoch when a delay warning was sent, null if none. */
  warnedAt: number | null;
  recipients: RecipientRecord[];
}

export interface QueueEvent {
  seq: number; // strictly increasing across the queue
  id: string; // queue id
  time: number; // ms since epoch
  /** received, sent, deferred, bounced, expired, held, released, requeued, deleted, corrupt, delayed, ... */
  kind: string;
  detail: Record<string, unknown>;
}

export interface ListFilter {
  state?: QueueState | QueueState[];
  sender?: string; // substring match, case-insensitive
  recipient?: string; // substring match on any recipient, case-insensitive
  domain?: string; // recipient domain, exact, case-insensitive
  olderThan?: number; // arrival time strictly before this (ms since epoch)
  ids?: string[];
}

/** Result of one delivery attempt for one recipient, as reported by a delivery agent. */
export interface RecipientResult {
  index: number;
  /** "expired": set by qmgr when maximal_queue_lifetime ends (Postfix logs status=expired). */
  status: "sent" | "deferred" | "bounced" | "expired";
  dsn: string; // enhanced status code
  diagnostic: string;
  relay?: string;
}
