/**
 * The delivery contract: qmgr hands one message and a group of its recipients that share a
 * transport and next hop to a delivery agent; the agent reports one result per recipient.
 * Agents never schedule, never retry and never touch the queue: qmgr does (DESIGN.md).
 */
import type { CleanupInput, CleanupSession } from "../cleanup/types.ts";
import type { Config, MasterService } from "../config/types.ts";
import type { Resolver } from "../dns/index.ts";
import type { MessageRecord, RecipientRecord, RecipientResult } from "../queue/types.ts";

export interface DeliveryRequest {
  queueId: string;
  message: MessageRecord;
  /** The recipients of this delivery (a subset of message.recipients, all still pending). */
  recipients: RecipientRecord[];
  /** master.cf service name of the transport: "smtp", "relay", "lmtp", "local", "virtual", ... */
  transport: string;
  /**
   * Next hop as resolved: "example.com" (MX lookup), "[mx.example.com]:2525" (no MX lookup),
   * "inet:127.0.0.1:24" or "unix:/run/dovecot/lmtp" (LMTP), the local host name for local,
   * the domain for virtual, the error text for error.
   */
  nexthop: string;
  /** main.cf with the transport service's -o overrides applied. */
  cfg: Config;
  service: MasterService | null;
  /** The message content (CRLF line endings), streamed chunk by chunk from the queue. */
  body(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Aborted when posteix stops: give up quickly, report deferred. */
  signal?: AbortSignal;
}

export interface TlsSummary {
  protocol: string; // "TLSv1.3"
  cipher: string; // "TLS_AES_256_GCM_SHA384"
  verified: boolean; // certificate verified (level verify)
  peer?: string; // certificate subject CN / SAN that matched
}

export interface RecipientOutcome extends RecipientResult {
  /** "host[addr]:port" or "local" / "virtual" / "none" (Postfix relay= field). */
  relay: string;
}

export interface DeliveryResult {
  recipients: RecipientOutcome[];
  /** Seconds spent: connection set-up (incl. DNS, greeting, EHLO, TLS) and transmission. */
  setupTime: number;
  transmitTime: number;
  tls?: TlsSummary;
  /** Whether the agent reused a cached connection (for logs and tests). */
  reused?: boolean;
}

/** What an agent may use besides the request. */
export interface DeliveryContext {
  resolver: Resolver;
  /** Start a new message through cleanup (local alias/forward expansion re-queues this way). */
  newCleanup(input: CleanupInput): CleanupSession;
  hostname: string;
}

export interface DeliveryAgent {
  deliver(req: DeliveryRequest): Promise<DeliveryResult>;
  /** Close cached connections and timers. */
  close?(): Promise<void>;
}
