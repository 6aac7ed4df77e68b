/**
 * The SMTP server's contract: what the master gives it (SmtpdContext), what a session needs
 * from its connection (SessionTransport), and the seams where STARTTLS and AUTH plug in.
 */
import type { TLSOptions } from "bun";
import type { CleanupInput, CleanupSession } from "../cleanup/types.ts";
import type { Resolver } from "../dns/index.ts";
import type { Anvil } from "./anvil.ts";
import type { Reply } from "./reply.ts";

/** Negotiated TLS of a session, for logs and the Received header. */
export interface TlsInfo {
  protocol: string;
  cipher: string;
  bits?: number;
}

/** What a session shows of itself to restrictions and seams. */
export interface SessionView {
  readonly service: string;
  readonly client: PeerInfo;
  readonly helo: string | null;
  readonly tls: TlsInfo | null;
  readonly saslUser: string | null;
}

/**
 * STARTTLS seam (RFC 3207): the master supplies it from its TlsManager; absent, STARTTLS is not
 * offered and $smtpd_tls_wrappermode services cannot serve.
 */
export interface SmtpdTls {
  /**
   * Announce STARTTLS to this session (it is not encrypted yet, and its
   * $smtpd_tls_security_level is may or encrypt).
   */
  offer(view: SessionView): boolean;
  /**
   * Certificate, key and protocols for the next handshake (read per connection, so a renewed
   * certificate is used without a restart). The socket listener needs it; a session driven
   * by a test transport that fakes startTls() does not.
   */
  serverOptions?(): TLSOptions;
}

export type AuthResult = { ok: true; user: string; method: string } | { ok: false; reply: Reply };

/** AUTH seam (RFC 4954): the AUTH issue supplies it; absent, AUTH is "not implemented". */
export interface SmtpdAuth {
  /** SASL mechanisms to announce to this session; [] = none. */
  mechanisms(view: SessionView): string[];
  /**
   * Run one AUTH exchange. `exchange` sends a 334 challenge (base64 text) and resolves with
   * the client's next line (the session keeps it out of the transcript).
   */
  authenticate(
    view: SessionView,
    mechanism: string,
    initial: string | undefined,
    exchange: (challenge: string) => Promise<string>,
  ): Promise<AuthResult>;
}

export interface SmtpdContext {
  /** Opens the cleanup session of one message (at the first accepted RCPT). */
  newCleanup(input: CleanupInput): CleanupSession;
  /** DNS for the client name and DNS-based restrictions; absent = those checks are skipped. */
  resolver?: Resolver;
  /** Per-client connection counts and rates, shared by every smtpd service of the process. */
  anvil: Anvil;
  /** Overrides $myhostname in replies (tests). */
  hostname?: string;
  tls?: SmtpdTls;
  auth?: SmtpdAuth;
  /**
   * Whether a SASL login of this name exists (the user table): without $smtpd_sender_login_maps
   * a login owns its own address, and such an address "has an owner" (src/auth/login-maps.ts).
   */
  isLogin?(name: string): boolean;
  /** ETRN (RFC 1985): ask the scheduler to retry deferred mail for a domain now. */
  flush?(domain: string): boolean | Promise<boolean>;
}

export type NameStatus = "ok" | "temp" | "perm" | "forged";

/** The SMTP client as smtpd sees it (Postfix's name/addr/reverse_name). */
export interface PeerInfo {
  /** IP address as text ("192.0.2.1", "2001:db8::1"); "127.0.0.1" for local submission. */
  addr: string;
  port: number;
  /** Verified host name (PTR confirmed by A/AAAA), else "unknown"; "localhost" for loopback. */
  name: string;
  nameStatus: NameStatus;
  /** The PTR name even when not confirmed, else "unknown". */
  reverseName: string;
  reverseStatus: NameStatus;
}

/** The connection under a session: a Bun socket, stdin/stdout, or a test harness. */
export interface SessionTransport {
  /** Send bytes; the transport buffers what the peer cannot take yet. */
  write(data: string): void;
  /** Close after everything written has been sent. */
  close(): void;
  /** Flow control: stop / restart reading while the session is busy. */
  pause?(): void;
  resume?(): void;
  /** STARTTLS: upgrade after the 220 reply was written; rejects when the handshake fails. */
  startTls?(): Promise<TlsInfo>;
}
