/**
 * The main.cf parameters the SMTP server reads, taken from a Config once and cached per Config,
 * so a session does not parse parameters on every command. A reload makes a new Config and
 * so new settings; sessions in flight keep the object they started with.
 */
import type { Config, LookupTable, NetworkMatcher } from "../config/types.ts";

export interface SmtpdSettings {
  readonly cfg: Config;
  readonly myhostname: string;
  readonly banner: string;
  readonly timeoutMs: number;
  /** $smtpd_per_request_deadline: the timeout bounds a whole request, not each read. */
  readonly perRequestDeadline: boolean;
  /** $smtpd_min_data_rate in bytes per millisecond (content extends the deadline at this rate). */
  readonly minDataRatePerMs: number;
  readonly hardErrorLimit: number;
  readonly softErrorLimit: number;
  readonly errorSleepMs: number;
  readonly recipientLimit: number;
  readonly recipientOvershootLimit: number;
  readonly junkCommandLimit: number;
  readonly lineLengthLimit: number;
  readonly heloRequired: boolean;
  readonly delayReject: boolean;
  readonly messageSizeLimit: number;
  readonly forbidBareNewline: boolean;
  readonly bareNewlineExclusions: NetworkMatcher;
  readonly forbidUnauthPipelining: boolean;
  /** Lower-case EHLO keywords not to announce (and, for DSN/SMTPUTF8/CHUNKING, not to accept). */
  readonly discardEhlo: ReadonlySet<string>;
  readonly vrfyEnabled: boolean;
  readonly dsn: boolean;
  readonly smtputf8: boolean;
  readonly chunking: boolean;
  readonly binarymime: boolean;
  readonly strictEnvelopes: boolean;
  readonly noopCommands: ReadonlySet<string>;
  /** $smtpd_command_filter: tables that rewrite a command line before it is parsed. */
  readonly commandFilter: readonly LookupTable[];
  readonly mynetworks: NetworkMatcher;
  readonly debugPeers: NetworkMatcher;
  readonly debugPeersEmpty: boolean;
  readonly peernameLookup: boolean;
  readonly connectionCountLimit: number;
  readonly connectionRateLimit: number;
  readonly messageRateLimit: number;
  readonly recipientRateLimit: number;
  readonly rateUnitMs: number;
  readonly eventLimitExceptions: NetworkMatcher;
  /** $smtpd_tls_security_level: none (no STARTTLS), may, encrypt. */
  readonly tlsLevel: "none" | "may" | "encrypt";
  /** smtpd_tls_security_level = encrypt: only the pre-TLS commands before STARTTLS. */
  readonly tlsRequired: boolean;
  /** $smtpd_tls_wrappermode: TLS from the first byte (port 465). */
  readonly wrapperMode: boolean;
  readonly starttlsTimeoutMs: number;
  /** $smtpd_tls_loglevel: 0 logs no TLS session lines. */
  readonly tlsLogLevel: number;
  readonly saslEnabled: boolean;
  readonly tlsAuthOnly: boolean;
}

const cache = new WeakMap<Config, SmtpdSettings>();

export function smtpdSettings(cfg: Config): SmtpdSettings {
  let s = cache.get(cfg);
  if (!s) {
    s = build(cfg);
    cache.set(cfg, s);
  }
  return s;
}

function build(cfg: Config): SmtpdSettings {
  const discard = new Set(cfg.list("smtpd_discard_ehlo_keywords").map((k) => k.toLowerCase()));
  const myhostname = cfg.str("myhostname") || "localhost";
  return {
    cfg,
    myhostname,
    banner: cfg.str("smtpd_banner"),
    timeoutMs: cfg.time("smtpd_timeout") * 1000,
    perRequestDeadline: cfg.bool("smtpd_per_request_deadline"),
    minDataRatePerMs: Math.max(1, cfg.int("smtpd_min_data_rate")) / 1000,
    hardErrorLimit: cfg.int("smtpd_hard_error_limit"),
    softErrorLimit: cfg.int("smtpd_soft_error_limit"),
    errorSleepMs: cfg.time("smtpd_error_sleep_time") * 1000,
    recipientLimit: cfg.int("smtpd_recipient_limit"),
    recipientOvershootLimit: cfg.int("smtpd_recipient_overshoot_limit"),
    junkCommandLimit: cfg.int("smtpd_junk_command_limit"),
    lineLengthLimit: Math.max(512, cfg.int("line_length_limit")),
    heloRequired: cfg.bool("smtpd_helo_required"),
    delayReject: cfg.bool("smtpd_delay_reject"),
    messageSizeLimit: cfg.size("message_size_limit"),
    forbidBareNewline: cfg.bool("smtpd_forbid_bare_newline"),
    bareNewlineExclusions: cfg.networks("smtpd_forbid_bare_newline_exclusions"),
    forbidUnauthPipelining: cfg.bool("smtpd_forbid_unauth_pipelining"),
    discardEhlo: discard,
    vrfyEnabled: !cfg.bool("disable_vrfy_command"),
    dsn: cfg.bool("smtpd_dsn_enable") && !discard.has("dsn"),
    smtputf8: cfg.bool("smtputf8_enable") && !discard.has("smtputf8"),
    chunking: cfg.bool("smtpd_chunking_enable") && !discard.has("chunking"),
    binarymime:
      cfg.bool("smtpd_binarymime_enable") &&
      cfg.bool("smtpd_chunking_enable") &&
      !discard.has("chunking") &&
      !discard.has("binarymime"),
    strictEnvelopes: cfg.bool("strict_rfc821_envelopes"),
    noopCommands: new Set(cfg.list("smtpd_noop_commands").map((c) => c.toUpperCase())),
    commandFilter: cfg.tables("smtpd_command_filter"),
    mynetworks: cfg.networks("mynetworks"),
    debugPeers: cfg.networks("debug_peer_list"),
    debugPeersEmpty: cfg.list("debug_peer_list").length === 0,
    peernameLookup: cfg.bool("smtpd_peername_lookup"),
    connectionCountLimit: cfg.int("smtpd_client_connection_count_limit"),
    connectionRateLimit: cfg.int("smtpd_client_connection_rate_limit"),
    messageRateLimit: cfg.int("smtpd_client_message_rate_limit"),
    recipientRateLimit: cfg.int("smtpd_client_recipient_rate_limit"),
    rateUnitMs: Math.max(1, cfg.time("anvil_rate_time_unit")) * 1000,
    eventLimitExceptions: cfg.networks("smtpd_client_event_limit_exceptions"),
    tlsLevel: tlsLevel(cfg.str("smtpd_tls_security_level")),
    tlsRequired: tlsLevel(cfg.str("smtpd_tls_security_level")) === "encrypt",
    wrapperMode: cfg.bool("smtpd_tls_wrappermode"),
    starttlsTimeoutMs: cfg.time("smtpd_starttls_timeout") * 1000,
    tlsLogLevel: cfg.int("smtpd_tls_loglevel"),
    saslEnabled: cfg.bool("smtpd_sasl_auth_enable"),
    tlsAuthOnly: cfg.bool("smtpd_tls_auth_only"),
  };
}

function tlsLevel(v: string): SmtpdSettings["tlsLevel"] {
  const l = v.trim().toLowerCase();
  // Postfix's smtpd knows no stronger levels; "verify"/"secure" there mean encrypt.
  if (l === "none" || l === "") return "none";
  return l === "may" ? "may" : "encrypt";
}
