/**
 * Defaults that are computed rather than written in params.ts (myhostname, mydomain,
 * config_directory), and the commented main.cf that `posteix init` writes.
 */
import { hostname } from "node:os";

/** The system host name, as Postfix's default myhostname. */
export function systemHostname(): string {
  return hostname() || "localhost";
}

/** $myhostname minus its first label, or "localdomain" (Postfix's default mydomain). */
export function domainOf(host: string): string {
  const dot = host.indexOf(".");
  return dot > 0 && dot < host.length - 1 ? host.slice(dot + 1) : "localdomain";
}

/** A commented main.cf: the parameters people change, mostly as commented-out defaults. */
export function defaultMainCf(queueDirectory: string): string {
  return `# posteix main.cf, in Postfix main.cf syntax: "name = value", a line that
# starts with white space continues the previous one, "#" starts a comment line,
# $name inserts another parameter. "posteix postconf -d" lists every parameter
# with its default, "posteix postconf -n" what this file sets, and
# "posteix postconf -e name=value" edits this file.

# Where the queue database, keys, certificates and API tokens are kept.
queue_directory = ${queueDirectory}

# ---------------------------------------------------------------- identity
# Fully-qualified name of this host (default: the system host name).
#myhostname = mail.example.com
# Domain of this host (default: $myhostname minus its first label).
#mydomain = example.com
# Domain that locally-posted mail appears to come from.
#myorigin = $myhostname

# ---------------------------------------------------------------- receiving
# Domains delivered to local accounts (Maildir under $mail_spool_directory).
#mydestination = $myhostname, localhost.$mydomain, localhost
# Domains with virtual mailboxes ("posteix user add alice@example.com").
#virtual_mailbox_domains =
#virtual_mailbox_base = $queue_directory/vmail
# Domains relayed to another server (see transport_maps).
#relay_domains =
# Aliases (aliases(5) format with texthash:/path).
#alias_maps = inline:{postmaster=root, mailer-daemon=postmaster, abuse=postmaster}
#virtual_alias_maps =

# ---------------------------------------------------------------- relaying
# Clients allowed to relay without logging in.
#mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
#smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination
# Send all outgoing mail through a smarthost ([host]:port skips the MX lookup).
#relayhost = [smtp.example.net]:587

# ---------------------------------------------------------------- limits
#message_size_limit = 10240000
#smtpd_recipient_limit = 1000
#maximal_queue_lifetime = 5d

# ---------------------------------------------------------------- TLS
# Certificate and key in PEM (default: a self-signed certificate made on first start).
#smtpd_tls_cert_file = /etc/posteix/cert.pem
#smtpd_tls_key_file = $smtpd_tls_cert_file
#smtpd_tls_security_level = may
#smtp_tls_security_level = may

# ---------------------------------------------------------------- REST API
# Address of the REST API (empty disables it); tokens are in $api_token_file.
#api_listen = 127.0.0.1:8025
#api_token_file = $data_directory/api-tokens

# ---------------------------------------------------------------- logging
# Log to a file (default: standard error); log_format = json for JSON lines.
#maillog_file =
#log_format = postfix
`;
}
