/**
 * The API's contract with the daemon: what master hands to startApi(), and what it gets back.
 */
import type { CleanupOptions } from "../cleanup/index.ts";
import type { CleanupInput, CleanupSession } from "../cleanup/types.ts";
import type { Config } from "../config/types.ts";
import type { QueueStore } from "../queue/index.ts";

export interface ApiContext {
  queue: QueueStore;
  /** The configuration in force (changes on reload). */
  config(): Config;
  /** A cleanup session, as smtpd and sendmail get one (signing, logging, one durable commit). */
  newCleanup(input: CleanupInput, options?: CleanupOptions): CleanupSession;
  /** The scheduler should look at the queue now (after release, requeue, injection). */
  wake(): void;
  /** postqueue -f / -s SITE: deferred mail due now; returns the number of messages. */
  flush(site?: string): number;
  /** posteix reload: re-read main.cf and master.cf; false when the new files are bad. */
  reload(): Promise<boolean>;
  /** True once the daemon is stopping: requests are answered 503. */
  stopping(): boolean;
  /** Scheduler figures for /stats and /metrics (qmgr's stats), when there is a scheduler. */
  stats?(): Record<string, number>;
  /** The smtpd certificate for $api_tls (PEM), or null when there is none. */
  tls?(): { cert: string; key: string } | null;
}

export interface ApiServer {
  /** Listening port (the real one when $api_listen asked for port 0); 0 when disabled. */
  readonly port: number;
  /** Base URL, e.g. "http://127.0.0.1:8025"; null when $api_listen is empty. */
  readonly url: string | null;
  /** Where the bearer tokens are read from. */
  readonly tokenFile: string;
  /**
   * After a reload: re-read the tokens, restart the listener when $api_listen, $api_tls or the
   * certificate changed, and apply the webhook settings.
   */
  reconfigure(ctx?: ApiContext): Promise<void>;
  /** Close the listener (connections in flight, SSE streams included, are ended) and webhooks. */
  stop(): Promise<void>;
}
