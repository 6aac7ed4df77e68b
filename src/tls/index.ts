/**
 * tls -- certificates and TLS sessions for smtpd (server) and the smtp client.
 *
 * Server: loadServerTls() reads smtpd_tls_chain_files (a private key followed by its
 * certificate chain, PEM, in one or several files) or smtpd_tls_cert_file + smtpd_tls_key_file
 * (RSA or ECDSA), checks that key and certificate match and that the chain is in order; with
 * none configured it makes a self-signed ECDSA P-256 certificate for $myhostname in
 * $data_directory (smtpd-cert.pem, smtpd-key.pem mode 0600), reuses it, and makes a new one
 * when it expires or $myhostname changes, saying in the log which happened. TlsManager holds the
 * current certificate and swaps it on reload (certbot renewals). upgradeServerSocket() is the
 * STARTTLS (RFC 3207) and implicit TLS (RFC 8314) recipe for Bun.listen sockets, with
 * gatePlainHandler() for the listener's handler; sessionInfo()/tlsLogText() give the negotiated
 * protocol and cipher for the Received header and the log.
 *
 * Client: clientTlsOptions() and verifyPeer() for smtp_tls_security_level none, may,
 * encrypt, verify and secure (RFC 3207, RFC 7435, Postfix TLS_README).
 *
 * Protocols: tlsProtocols() reads smtpd_tls_protocols / smtp_tls_protocols in Postfix's forms
 * (">=TLSv1.2", "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", "TLSv1.2 TLSv1.3").
 *
 * main.cf: smtpd_tls_chain_files, smtpd_tls_cert_file, smtpd_tls_key_file, smtpd_tls_protocols,
 * data_directory, myhostname, smtp_tls_CAfile, smtp_tls_protocols (smtpd_starttls_timeout is the
 * caller's handshakeTimeoutMs).
 */
export {
  type ClientTlsLevel,
  type ClientTlsOptions,
  clientTlsOptions,
  type PeerSocket,
  type PeerVerdict,
  verifyPeer,
} from "./client.ts";
export { TlsManager } from "./manager.ts";
export { parsePem, TlsConfigError } from "./pem.ts";
export {
  RUNTIME_FLOOR,
  TlsProtocolError,
  type TlsProtocolRange,
  type TlsVersion,
  tlsProtocols,
} from "./protocols.ts";
export {
  certificateChainPem,
  GENERATED_CERT_FILE,
  GENERATED_KEY_FILE,
  type LoadTlsOptions,
  loadServerTls,
  type ServerTls,
} from "./server-cert.ts";
export {
  gatePlainHandler,
  isUpgraded,
  logHandshakeFailure,
  serverTlsOptions,
  sessionInfo,
  TlsHandshakeError,
  type TlsSessionInfo,
  tlsLogText,
  type UpgradedSocket,
  type UpgradeOptions,
  upgradeServerSocket,
} from "./upgrade.ts";
