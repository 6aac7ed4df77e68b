/**
 * smtpd -- the posteix SMTP server (Postfix smtpd(8)).
 *
 * Receives mail over SMTP on the address of a master.cf `inet ... smtpd` service, applies the
 * access restrictions, and hands each message to cleanup, replying 250 only after cleanup
 * committed it durably. Also serves `sendmail -bs` on standard input/output.
 *
 * Standards: RFC 5321 (SMTP), RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 2920 (PIPELINING),
 * RFC 3030 (CHUNKING, BINARYMIME), RFC 3461 (DSN), RFC 6531 (SMTPUTF8), RFC 2034 and RFC 3463
 * (enhanced status codes), RFC 1985 (ETRN), RFC 3207 (STARTTLS: plaintext pipelined after it is
 * discarded and the session starts over), RFC 8314 (implicit TLS with $smtpd_tls_wrappermode),
 * RFC 4954 (AUTH, offered per service with $smtpd_sasl_auth_enable, only inside TLS with
 * $smtpd_tls_auth_only). Certificates and SASL checks plug in through the seams in types.ts
 * (the master gives src/tls's TlsManager and src/auth's createSmtpdAuth).
 *
 * Defences: SMTP smuggling (only <CRLF>.<CRLF> ends DATA; a bare LF or CR is refused with
 * 550 5.5.2 and the connection closed, except for $smtpd_forbid_bare_newline_exclusions);
 * unauthorized pipelining (554 5.5.0 and disconnect); HTTP requests (221 2.7.0 and disconnect);
 * every limit with its reply code: 552 5.3.4 size, 452 4.5.3 recipients, 500 5.5.2 line
 * length, 421 4.4.2 timeout, 421 4.7.0 errors and connections per client.
 *
 * main.cf parameters read: myhostname, smtpd_banner, smtpd_timeout, smtpd_hard_error_limit,
 * smtpd_soft_error_limit, smtpd_error_sleep_time, smtpd_recipient_limit,
 * smtpd_recipient_overshoot_limit, smtpd_junk_command_limit, line_length_limit,
 * message_size_limit, smtpd_helo_required, smtpd_delay_reject, smtpd_client_restrictions,
 * smtpd_helo_restrictions, smtpd_sender_restrictions, smtpd_relay_restrictions,
 * smtpd_recipient_restrictions, smtpd_data_restrictions, smtpd_end_of_data_restrictions,
 * smtpd_restriction_classes, smtpd_reject_unlisted_recipient, smtpd_reject_unlisted_sender,
 * smtpd_null_access_lookup_key, smtpd_forbid_bare_newline,
 * smtpd_forbid_bare_newline_exclusions, smtpd_forbid_unauth_pipelining,
 * smtpd_discard_ehlo_keywords, smtpd_client_connection_count_limit,
 * smtpd_client_connection_rate_limit, smtpd_client_message_rate_limit,
 * smtpd_client_recipient_rate_limit, smtpd_client_event_limit_exceptions,
 * anvil_rate_time_unit, smtpd_peername_lookup, disable_vrfy_command, smtpd_noop_commands,
 * smtputf8_enable, smtpd_dsn_enable, smtpd_chunking_enable, smtpd_binarymime_enable,
 * strict_rfc821_envelopes, mynetworks, debug_peer_list, inet_interfaces, inet_protocols,
 * smtpd_tls_security_level, smtpd_tls_wrappermode, smtpd_starttls_timeout, smtpd_tls_loglevel,
 * smtpd_sasl_auth_enable, smtpd_tls_auth_only, smtpd_sender_login_maps (with the
 * reject_*_sender_login_mismatch restrictions), the *_reject_code parameters and default_rbl_reply (see
 * restrictions.ts), and through rewrite: mydestination, relay_domains, virtual_*_domains,
 * local_recipient_maps, virtual_alias_maps, virtual_mailbox_maps, relay_recipient_maps.
 *
 * Talks to: cleanup (SmtpdContext.newCleanup), dns (client names, DNS restrictions), anvil
 * (per-client counts, shared by every smtpd service of the process).
 */
import type { Config } from "../config/types.ts";
import { SmtpSession } from "./session.ts";
import type { PeerInfo, SmtpdContext } from "./types.ts";

export { Anvil, type AnvilOptions, createAnvil } from "./anvil.ts";
export { lookupPeer, normalizeAddr } from "./peer.ts";
export { type ReaderEvent, SmtpReader } from "./reader.ts";
export { parseReplyText, type Reply, SmtpError } from "./reply.ts";
export { type SmtpdServer, type StartSmtpdOptions, startSmtpd } from "./server.ts";
export { type SessionOptions, SmtpSession } from "./session.ts";
export type {
  AuthResult,
  NameStatus,
  PeerInfo,
  SessionTransport,
  SessionView,
  SmtpdAuth,
  SmtpdContext,
  SmtpdTls,
  TlsInfo,
} from "./types.ts";

export interface StdioSessionOptions {
  cfg: Config;
  ctx: SmtpdContext;
  /** The client's input (standard input). */
  input: AsyncIterable<Uint8Array>;
  /** Where replies go (standard output). */
  write: (text: string) => void;
  /** The local client as logged; default localhost[127.0.0.1]. */
  client?: PeerInfo;
}

/**
 * `sendmail -bs`: one SMTP session on standard input/output, in Postfix's stand-alone mode
 * (no restrictions, no connection limits, no pipelining checks, no STARTTLS). Resolves when
 * the session has ended.
 */
export async function serveStdio(opts: StdioSessionOptions): Promise<void> {
  const session = new SmtpSession({
    cfg: opts.cfg,
    ctx: opts.ctx,
    service: "sendmail",
    client: opts.client ?? {
      addr: "127.0.0.1",
      port: 0,
      name: "localhost",
      nameStatus: "ok",
      reverseName: "localhost",
      reverseStatus: "ok",
    },
    transport: { write: opts.write, close: () => {} },
    standalone: true,
  });
  await session.start();
  for await (const chunk of opts.input) {
    if (session.ended) break;
    session.feed(chunk);
  }
  session.peerClosed();
  await session.closed;
}
