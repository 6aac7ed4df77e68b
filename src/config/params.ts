/**
 * Every main.cf parameter posteix reads, declared once: type, default, one-line description.
 *
 * Defaults are raw main.cf text and are `$name`-expanded when read, as in Postfix. Where Postfix
 * has the parameter, the default is Postfix's unless the comment says why it differs. `postconf
 * -d` prints this table; a test fails when an entry lacks a default or a doc line.
 *
 * Types:
 *   string  free text            list   comma and/or white-space separated
 *   bool    yes/no               int    whole number
 *   time    number + unit s/m/h/d/w (bare number = the unit given, default s), read as seconds
 *   size    bytes (a bare number; k/m/g suffixes accepted as a posteix extension)
 *   tables  list of `type:name` lookup tables
 */

export type ParamType = "string" | "list" | "bool" | "int" | "time" | "size" | "tables";

export interface ParamDef {
  readonly type: ParamType;
  /** Raw default value (expanded when read); "" for empty. */
  readonly default: string;
  readonly doc: string;
  /** For time parameters: the unit of a bare number (Postfix's per-parameter default unit). */
  readonly unit?: "s" | "m" | "h" | "d";
  /** Allowed values for enumerations (string type). */
  readonly choices?: readonly string[];
}

const s = (def: string, doc: string): ParamDef => ({ type: "string", default: def, doc });
const list = (def: string, doc: string): ParamDef => ({ type: "list", default: def, doc });
const bool = (def: "yes" | "no", doc: string): ParamDef => ({ type: "bool", default: def, doc });
const int = (def: string, doc: string): ParamDef => ({ type: "int", default: def, doc });
const size = (def: string, doc: string): ParamDef => ({ type: "size", default: def, doc });
const tables = (def: string, doc: string): ParamDef => ({ type: "tables", default: def, doc });
const time = (def: string, doc: string, unit: ParamDef["unit"] = "s"): ParamDef => ({
  type: "time",
  default: def,
  doc,
  unit,
});
const choice = (def: string, choices: readonly string[], doc: string): ParamDef => ({
  type: "string",
  default: def,
  doc,
  choices,
});

export const PARAMS = {
  // ---------------------------------------------------------------- identity and paths
  mail_name: s("posteix", "Mail system name, used in the SMTP greeting and Received headers."),
  mail_version: s("0.1.0", "posteix version (read-only)."),
  config_directory: s("", "Directory of main.cf and master.cf (set by -c or POSTEIX_CONFIG_DIR)."),
  queue_directory: s(
    "data",
    "Directory of the queue database; relative paths are resolved against the configuration directory, or the working directory without one.",
  ),
  data_directory: s(
    "$queue_directory",
    "Directory for generated keys, certificates, API tokens and caches.",
  ),
  pid_file: s("$queue_directory/posteix.pid", "PID file written by `posteix start`/`run`."),
  myhostname: s("", "Fully-qualified host name of this system (default: the system host name)."),
  mydomain: s("", "Internet domain of this system (default: $myhostname minus its first label)."),
  myorigin: s("$myhostname", "Domain that locally-posted mail appears to come from."),
  mydestination: list(
    "$myhostname, localhost.$mydomain, localhost",
    "Domains delivered locally by $local_transport.",
  ),
  mynetworks: list(
    "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128",
    "Trusted client networks (CIDR, host names, /file, type:table).",
  ),
  inet_interfaces: list("all", "Addresses that master.cf services without a host part listen on."),
  inet_protocols: choice("all", ["all", "ipv4", "ipv6"], "Internet protocols used."),
  mail_owner: s("posteix", "Account posteix runs as after binding its ports when started as root."),
  default_privs: s("nobody", "Account used for deliveries to files and commands."),
  syslog_name: s("posteix", "Prefix of program names in the log (posteix/smtpd)."),
  maillog_file: s("", "File that receives the log (empty: standard error)."),
  log_format: choice("postfix", ["postfix", "json"], "Log line format: postfix or json."),
  debug_peer_list: list("", "Clients whose SMTP sessions are traced (C:/S: lines) in the log."),
  debug_peer_level: int("2", "Verbosity added for clients in $debug_peer_list."),
  parent_domain_matches_subdomains: list(
    "debug_peer_list, mynetworks, relay_domains",
    "Lists where example.com also matches subdomains (Postfix also lists smtpd_access_maps; posteix does not: there only .example.com matches subdomains).",
  ),
  dns_servers: list(
    "",
    "DNS servers to query (host or host:port); empty: the nameservers in /etc/resolv.conf.",
  ),
  dns_timeout: time("2s", "Timeout of one DNS query attempt."),
  queue_database_size_limit: size(
    "0",
    "Largest the queue database may grow, in bytes (0: the disk's size); past it new mail gets 452 4.3.1.",
  ),
  event_history_time: time(
    "7d",
    "How long message events and API idempotency keys are kept in the queue database (0: for ever).",
  ),
  runtime_memory_size: size(
    "1073741824",
    "Memory the daemon's JavaScript runtime sizes its heap for (at most the machine's; 0: the machine's).",
  ),
  queue_body_chunk_size: size(
    "262144",
    "Bytes of message body buffered per session before a chunk is written to the queue.",
  ),

  // ---------------------------------------------------------------- address rewriting and routing
  append_at_myorigin: bool("yes", "Append @$myorigin to bare local sender addresses."),
  append_dot_mydomain: bool("no", "Append .$mydomain to addresses with a domain without a dot."),
  allow_percent_hack: bool("yes", "Rewrite user%domain@$mydomain to user@domain."),
  swap_bangpath: bool("yes", "Rewrite site!user to user@site."),
  recipient_delimiter: s("", "Separators between the user name and an address extension."),
  canonical_maps: tables("", "Address mapping for sender and recipient addresses (canonical(5))."),
  sender_canonical_maps: tables("", "Address mapping for sender addresses."),
  recipient_canonical_maps: tables("", "Address mapping for recipient addresses."),
  virtual_alias_maps: tables("", "Alias expansion for any domain (virtual(5))."),
  virtual_alias_domains: list(
    "$virtual_alias_maps",
    "Domains whose mail is only aliased elsewhere.",
  ),
  virtual_alias_recursion_limit: int("1000", "Maximal nesting depth of virtual alias expansion."),
  virtual_alias_expansion_limit: int("1000", "Maximal addresses one virtual alias expands to."),
  virtual_mailbox_domains: list(
    "",
    "Domains delivered by $virtual_transport to virtual mailboxes.",
  ),
  virtual_mailbox_maps: tables(
    "users:",
    "Virtual mailbox lookup: address to Maildir path under $virtual_mailbox_base (users: is the posteix user table).",
  ),
  virtual_mailbox_base: s("$queue_directory/vmail", "Directory prefix of virtual mailbox paths."),
  relay_domains: list("", "Domains that posteix relays mail to (besides local and virtual)."),
  relay_recipient_maps: tables("", "Valid recipients in $relay_domains (empty: any)."),
  relayhost: s("", "Next-hop for non-local mail: [host]:port skips the MX lookup."),
  relay_transport: s("relay", "Transport for $relay_domains."),
  default_transport: s("smtp", "Transport for mail that is neither local, virtual nor relay."),
  local_transport: s("local:$myhostname", "Transport for $mydestination."),
  virtual_transport: s("virtual", "Transport for $virtual_mailbox_domains."),
  transport_maps: tables("", "Per-address or per-domain transport overrides (transport(5))."),
  smtp_fallback_relay: list("", "Hosts tried when the primary destination is unreachable."),
  alias_maps: tables(
    "inline:{postmaster=root, mailer-daemon=postmaster, abuse=postmaster}",
    "Local alias tables (aliases(5) format for texthash:/hash:).",
  ),
  alias_database: tables("", "Alias databases rebuilt by newaliases (kept for compatibility)."),
  local_recipient_maps: tables(
    "unix:passwd.byname $alias_maps",
    "Valid local recipients; empty disables the check.",
  ),
  home_mailbox: s("", "Mailbox path relative to the home directory (Maildir/ ends with a slash)."),
  mail_spool_directory: s(
    "$queue_directory/mail/",
    "Directory of local mailboxes; a trailing slash means Maildir format.",
  ),
  allow_mail_to_commands: list("alias, forward", "Which local deliveries may pipe to commands."),
  allow_mail_to_files: list("alias, forward", "Which local deliveries may append to files."),
  mailbox_size_limit: size("51200000", "Maximal size of one mbox file or one Maildir message."),
  owner_request_special: bool("yes", "Special treatment of owner-list aliases."),
  propagate_unmatched_extensions: list("canonical, virtual", "Where address extensions are kept."),

  // ---------------------------------------------------------------- cleanup
  header_checks: tables("", "Header lines checked against regexp tables (header_checks(5))."),
  body_checks: tables("", "Body lines checked against regexp tables."),
  header_size_limit: size("102400", "Maximal bytes of one (folded) header."),
  message_size_limit: size("10240000", "Maximal message size in bytes (headers included)."),
  hopcount_limit: int("50", "Maximal Received headers before the message is bounced as a loop."),
  always_add_missing_headers: bool(
    "no",
    "Add Date/Message-ID/From for every client, not only local or authenticated ones.",
  ),
  enable_original_recipient: bool("yes", "Keep the original recipient address with each one."),
  dkim_signing: bool("yes", "Sign mail from $mynetworks and authenticated senders with DKIM."),
  dkim_key_directory: s(
    "$data_directory/dkim",
    "Directory of DKIM keys (DOMAIN.SELECTOR.rsa.key, DOMAIN.SELECTOR.ed25519.key).",
  ),
  dkim_selector: s("posteix", "Default DKIM selector for `posteix dkim keygen`."),

  // ---------------------------------------------------------------- smtpd
  smtpd_banner: s("$myhostname ESMTP $mail_name", "Text after 220 in the SMTP greeting."),
  smtpd_timeout: time("300s", "Time to wait for a client command or data."),
  smtpd_starttls_timeout: time("300s", "Time limit for the TLS handshake."),
  smtpd_per_request_deadline: bool(
    "yes",
    "smtpd_timeout bounds a whole command (DATA/BDAT: see smtpd_min_data_rate), not each read; yes here (Postfix: no) so that a byte-a-second client is cut.",
  ),
  smtpd_min_data_rate: int(
    "500",
    "With smtpd_per_request_deadline: bytes/s of DATA/BDAT that keep extending the deadline (never past smtpd_timeout).",
  ),
  smtpd_hard_error_limit: int("20", "Errors after which the session is ended with 421."),
  smtpd_soft_error_limit: int("10", "Errors after which each reply is delayed."),
  smtpd_error_sleep_time: time("1s", "Delay of replies once $smtpd_soft_error_limit is reached."),
  smtpd_recipient_limit: int("1000", "Maximal recipients per message (452 4.5.3 beyond)."),
  smtpd_recipient_overshoot_limit: int("1000", "Recipients over the limit that count as errors."),
  smtpd_junk_command_limit: int("100", "NOOP/VRFY/RSET/ETRN commands before they count as errors."),
  smtpd_history_flush_threshold: int("100", "Commands kept for the session summary."),
  line_length_limit: int("2048", "Maximal length of an SMTP command line (500 5.5.2 beyond)."),
  smtpd_helo_required: bool("no", "Require HELO or EHLO before MAIL."),
  smtpd_delay_reject: bool("yes", "Apply client/helo/sender restrictions at RCPT time."),
  smtpd_client_restrictions: list("", "Restrictions applied to the client (at connect or RCPT)."),
  smtpd_helo_restrictions: list("", "Restrictions applied to the HELO/EHLO name."),
  smtpd_sender_restrictions: list("", "Restrictions applied to MAIL FROM."),
  smtpd_relay_restrictions: list(
    "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
    "Relay control, applied to RCPT TO before $smtpd_recipient_restrictions.",
  ),
  smtpd_recipient_restrictions: list("", "Restrictions applied to RCPT TO (spam policy)."),
  smtpd_data_restrictions: list("", "Restrictions applied to DATA."),
  smtpd_end_of_data_restrictions: list("", "Restrictions applied at end of data."),
  smtpd_restriction_classes: list("", "Names of user-defined restriction classes."),
  smtpd_reject_unlisted_recipient: bool(
    "yes",
    "Reject unknown recipients in local/virtual domains.",
  ),
  smtpd_reject_unlisted_sender: bool("no", "Reject unknown senders in local/virtual domains."),
  smtpd_null_access_lookup_key: s("<>", "Lookup key used for the null sender in access tables."),
  smtpd_forbid_bare_newline: bool("yes", "Reject a bare LF or CR in the session and disconnect."),
  smtpd_forbid_bare_newline_exclusions: list(
    "",
    "Clients excluded from $smtpd_forbid_bare_newline (Postfix: $mynetworks; empty here: safer).",
  ),
  smtpd_forbid_unauth_pipelining: bool(
    "yes",
    "Disconnect clients that pipeline before EHLO allows it.",
  ),
  smtpd_discard_ehlo_keywords: list("", "EHLO keywords not to announce."),
  smtpd_client_connection_count_limit: int("50", "Simultaneous connections per client IP."),
  smtpd_client_connection_rate_limit: int(
    "0",
    "Connections per client IP per $anvil_rate_time_unit (0 = no limit).",
  ),
  smtpd_client_message_rate_limit: int("0", "Messages per client IP per time unit (0 = none)."),
  smtpd_client_recipient_rate_limit: int("0", "Recipients per client IP per time unit."),
  smtpd_client_auth_rate_limit: int("0", "AUTH commands per client IP per time unit."),
  smtpd_client_event_limit_exceptions: list("$mynetworks", "Clients exempt from rate limits."),
  anvil_rate_time_unit: time("60s", "Time unit of the per-client rate limits."),
  smtpd_peername_lookup: bool("yes", "Look up the client's name (PTR, confirmed by A/AAAA)."),
  disable_vrfy_command: bool("yes", "Disable VRFY (Postfix: no; posteix: yes, as DESIGN says)."),
  smtpd_noop_commands: list("", "Commands treated as NOOP."),
  smtpd_command_filter: tables("", "Rewrite of client commands before parsing."),
  smtputf8_enable: bool("yes", "Announce and accept SMTPUTF8 (RFC 6531)."),
  smtpd_dsn_enable: bool(
    "yes",
    "Announce and accept DSN (RFC 3461) (Postfix: smtpd_discard_ehlo_keywords).",
  ),
  smtpd_chunking_enable: bool("yes", "Announce CHUNKING/BDAT (RFC 3030)."),
  smtpd_binarymime_enable: bool("no", "Announce BINARYMIME with CHUNKING."),
  strict_rfc821_envelopes: bool("no", "Require <> around MAIL/RCPT addresses."),
  resolve_null_domain: bool("no", "Treat user@ as user@$myhostname instead of rejecting it."),
  unknown_local_recipient_reject_code: int("550", "Reply code for unknown local recipients."),
  unknown_virtual_mailbox_reject_code: int("550", "Reply code for unknown virtual mailboxes."),
  unknown_virtual_alias_reject_code: int("550", "Reply code for unknown virtual aliases."),
  unknown_relay_recipient_reject_code: int("550", "Reply code for unknown relay recipients."),
  unknown_address_reject_code: int("450", "Reply code when a domain has no DNS records."),
  unknown_hostname_reject_code: int("450", "Reply code for a HELO name without DNS records."),
  invalid_hostname_reject_code: int("501", "Reply code for a malformed HELO name."),
  non_fqdn_reject_code: int("504", "Reply code for a non-FQDN HELO name or address."),
  relay_domains_reject_code: int("554", "Reply code for reject_unauth_destination."),
  access_map_reject_code: int("554", "Reply code for REJECT in access tables."),
  access_map_defer_code: int("450", "Reply code for DEFER in access tables."),
  reject_code: int("554", "Reply code for the reject restriction."),
  defer_code: int("450", "Reply code for the defer restriction."),
  maps_rbl_reject_code: int("554", "Reply code for reject_rbl_client."),
  default_rbl_reply: s(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Postfix's ${name?text} syntax, not JS.
    "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}",
    "Reply template for DNSBL rejects.",
  ),
  smtpd_sasl_auth_enable: bool("no", "Offer SASL AUTH (set per service in master.cf)."),
  smtpd_tls_auth_only: bool("yes", "Offer AUTH only over TLS (Postfix: no)."),
  smtpd_sasl_authenticated_header: bool("no", "Name the SASL login in the Received header."),
  smtpd_sender_login_maps: tables("", "Sender address to the SASL logins that may use it."),
  smtpd_auth_failure_limit: int("5", "Failed AUTH attempts per client IP before lockout."),
  smtpd_auth_lockout_time: time("600s", "How long a client that failed AUTH too often is refused."),
  smtpd_tls_security_level: choice(
    "may",
    ["none", "may", "encrypt"],
    "Server TLS: none, may, encrypt.",
  ),
  smtpd_tls_wrappermode: bool("no", "Implicit TLS on connect (SMTPS, port 465)."),
  smtpd_tls_cert_file: s("", "Server certificate (PEM); empty: a generated self-signed one."),
  smtpd_tls_key_file: s("$smtpd_tls_cert_file", "Server private key (PEM)."),
  smtpd_tls_chain_files: list("", "Files with key and certificate chain, in that order."),
  smtpd_tls_protocols: list(">=TLSv1.2", "TLS protocol versions accepted by the server."),
  smtpd_tls_received_header: bool(
    "yes",
    "Record TLS protocol and cipher in Received (Postfix: no).",
  ),
  smtpd_tls_loglevel: int("1", "TLS logging: 0 none, 1 summary per session."),
  smtpd_spf_reject_fail: bool("no", "Reject SPF fail results with 550 5.7.23."),
  smtpd_dmarc_enforce: bool("no", "Apply DMARC p=reject (550 5.7.1) and p=quarantine (hold)."),
  smtpd_sender_authentication: bool(
    "yes",
    "Evaluate SPF, DKIM, DMARC and ARC for mail from outside $mynetworks.",
  ),
  smtpd_authentication_authserv_id: s("$myhostname", "authserv-id of Authentication-Results."),

  // ---------------------------------------------------------------- qmgr
  qmgr_message_active_limit: int("20000", "Maximal messages in the active queue."),
  qmgr_message_recipient_limit: int("20000", "Maximal recipients held in memory by qmgr."),
  default_destination_concurrency_limit: int("20", "Parallel deliveries per destination."),
  default_destination_recipient_limit: int("50", "Recipients per delivery transaction."),
  initial_destination_concurrency: int("5", "Initial concurrency of a new destination."),
  default_process_limit: int("100", "Default maxproc of master.cf services."),
  local_destination_concurrency_limit: int("2", "Parallel deliveries to one local recipient."),
  local_destination_recipient_limit: int("1", "Recipients per local delivery."),
  virtual_destination_concurrency_limit: int(
    "$default_destination_concurrency_limit",
    "Parallel virtual deliveries.",
  ),
  virtual_destination_recipient_limit: int("1", "Recipients per virtual delivery."),
  minimal_backoff_time: time("300s", "Minimal time between attempts to deliver deferred mail."),
  maximal_backoff_time: time("4000s", "Maximal time between attempts to deliver deferred mail."),
  queue_run_delay: time("300s", "Time between scans of the deferred queue."),
  maximal_queue_lifetime: time("5d", "Time after which undeliverable mail is returned.", "d"),
  bounce_queue_lifetime: time("5d", "Lifetime of undeliverable bounce messages.", "d"),
  delay_warning_time: time("0h", "Time after which a delay notice is sent (0 = never).", "h"),
  transport_retry_time: time("60s", "Time between attempts to use a failed transport."),
  destination_dead_time: time(
    "60s",
    "How long a next hop that failed every recent attempt is skipped (Postfix's dead destination).",
  ),
  default_destination_concurrency_failed_cohort_limit: int(
    "1",
    "Failed connections in a row that mark a destination dead.",
  ),
  default_destination_rate_delay: time("0s", "Delay between deliveries to one destination."),
  command_time_limit: time(
    "1000s",
    "Time limit of deliveries to external commands; default of $<transport>_time_limit.",
  ),

  // ---------------------------------------------------------------- smtp / lmtp client
  smtp_helo_name: s("$myhostname", "Name sent in EHLO/HELO by the SMTP client."),
  lmtp_lhlo_name: s("$myhostname", "Name sent in LHLO by the LMTP client."),
  smtp_connect_timeout: time("30s", "Time limit for connecting to a server."),
  smtp_helo_timeout: time("300s", "Time limit for the greeting and the EHLO reply."),
  smtp_mail_timeout: time("300s", "Time limit for the MAIL FROM reply."),
  smtp_rcpt_timeout: time("300s", "Time limit for a RCPT TO reply."),
  smtp_data_init_timeout: time("120s", "Time limit for the DATA reply."),
  smtp_data_xfer_timeout: time("180s", "Time limit for sending message content."),
  smtp_data_done_timeout: time("600s", "Time limit for the reply to end of data."),
  smtp_quit_timeout: time("300s", "Time limit for the QUIT reply."),
  smtp_starttls_timeout: time("300s", "Time limit for the client TLS handshake."),
  lmtp_connect_timeout: time("0s", "Time limit for connecting to an LMTP server (0 = OS)."),
  smtp_tcp_port: s("smtp", "TCP port of next hops given without a port (service name or number)."),
  lmtp_tcp_port: s("lmtp", "TCP port of LMTP next hops given without a port."),
  smtp_never_send_ehlo: bool("no", "Send HELO instead of EHLO."),
  smtp_mx_address_limit: int("5", "Maximal MX addresses tried per delivery."),
  smtp_mx_session_limit: int("2", "Maximal SMTP sessions per delivery attempt."),
  smtp_connection_cache_on_demand: bool("yes", "Reuse connections to busy destinations."),
  smtp_connection_cache_time_limit: time("2s", "How long an idle cached connection is kept."),
  smtp_connection_reuse_count_limit: int("0", "Deliveries per cached connection (0 = no limit)."),
  smtp_connection_cache_destinations: list("", "Destinations whose connections are always cached."),
  smtp_host_lookup: list("dns", "How the SMTP client finds addresses: dns, native."),
  smtp_address_preference: choice("any", ["any", "ipv4", "ipv6"], "Preferred address family."),
  smtp_bind_address: s("", "Local IPv4 address of outgoing SMTP connections."),
  smtp_line_length_limit: int("998", "Long lines are folded at this length when sending."),
  smtp_tls_security_level: choice(
    "may",
    ["none", "may", "encrypt", "verify", "secure"],
    "Client TLS: none, may, encrypt, verify.",
  ),
  smtp_tls_CAfile: s("", "CA certificates for verifying servers (empty: system store)."),
  smtp_tls_loglevel: int("1", "TLS logging of the SMTP client."),
  smtp_tls_protocols: list(">=TLSv1.2", "TLS protocol versions used by the SMTP client."),
  smtp_skip_5xx_greeting: bool("yes", "Try the next MX when a server greets with 5xx."),
  smtp_dsn_passthrough: bool("yes", "Pass DSN parameters on to next hops that offer DSN."),
  smtp_pipelining_enable: bool("yes", "Use PIPELINING when the server offers it."),

  // ---------------------------------------------------------------- bounce
  bounce_notice_recipient: s("postmaster", "Recipient of postmaster copies of bounces."),
  "2bounce_notice_recipient": s("postmaster", "Recipient of undeliverable bounces."),
  delay_notice_recipient: s("postmaster", "Recipient of postmaster delay notices."),
  error_notice_recipient: s("postmaster", "Recipient of protocol/resource error notices."),
  notify_classes: list("resource, software", "Problems reported to the postmaster."),
  bounce_size_limit: size("50000", "Maximal original message bytes returned in a bounce."),
  double_bounce_sender: s("double-bounce", "Sender address of postmaster notices; never bounced."),
  empty_address_recipient: s("MAILER-DAEMON", "Recipient of mail addressed to the null sender."),

  // ---------------------------------------------------------------- REST API
  api_listen: s("127.0.0.1:8025", "Address of the REST API (empty disables it)."),
  api_tls: bool("no", "Serve the API over TLS with the smtpd certificate."),
  api_token_file: s(
    "$data_directory/api-tokens",
    "File of API bearer tokens, one per line (generated on first start).",
  ),
  api_body_limit: size("52428800", "Largest request body the API accepts."),
  metrics_public: bool("no", "Serve /metrics without a token."),
  webhook_url: s("", "URL that receives each delivery event as a signed JSON POST."),
  webhook_secret: s("", "HMAC-SHA256 key of the X-Posteix-Signature webhook header."),
  webhook_events: list(
    "received, sent, deferred, bounced, expired, held, released, deleted",
    "Delivery events POSTed to $webhook_url (also: requeued, delayed, removed, corrupt).",
  ),
  webhook_timeout: time("10s", "Time limit of one webhook POST; a timeout is retried."),
  webhook_max_attempts: int(
    "8",
    "Attempts per webhook event (exponential backoff from 1s, at most 5m apart) before it is dropped.",
  ),
} as const satisfies Record<string, ParamDef>;

export type ParamName = keyof typeof PARAMS;

export function isParamName(name: string): name is ParamName {
  return Object.hasOwn(PARAMS, name);
}
