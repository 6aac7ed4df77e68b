/**
 * auth -- who may send: SMTP AUTH for submission, and sender authentication of incoming mail.
 *
 * SASL (sasl.ts, smtpd-auth.ts): PLAIN (RFC 4616) and LOGIN for SMTP AUTH (RFC 4954) against
 * the user table in the queue database (argon2id hashes); createSmtpdAuth() is smtpd's AUTH
 * seam, logging failures as Postfix does ("SASL LOGIN authentication failed: ..."), with
 * per-client lockout (lockout.ts) after $smtpd_auth_failure_limit failures for
 * $smtpd_auth_lockout_time (421 4.7.0).
 *
 * Sender ownership (login-maps.ts): $smtpd_sender_login_maps and the reject_*_sender_login_
 * mismatch restrictions, Postfix's semantics plus "a login owns its own address" without a map.
 *
 * Inbound checks (verify.ts): SPF (RFC 7208), DKIM (RFC 6376, RFC 8463), DMARC (RFC 7489) and
 * ARC (RFC 8617) with mailauth through our resolver, one Authentication-Results header
 * (RFC 8601) with authserv-id $smtpd_authentication_authserv_id, removal of forged ones claiming
 * it, and the action ($smtpd_dmarc_enforce, $smtpd_spf_reject_fail).
 *
 * DKIM signing (dkim-keys.ts, dkim-sign.ts): keys in $dkim_key_directory, relaxed/relaxed
 * rsa-sha256 plus ed25519-sha256 when the domain has an Ed25519 key.
 *
 * main.cf: smtpd_tls_auth_only, smtpd_auth_failure_limit, smtpd_auth_lockout_time,
 * smtpd_sender_login_maps, recipient_delimiter, mydestination, myhostname,
 * smtpd_authentication_authserv_id, smtpd_dmarc_enforce, smtpd_spf_reject_fail,
 * dkim_key_directory, dkim_selector.
 *
 * verify.ts and dkim-sign.ts load mailauth, one of the slowest imports: they are not re-exported
 * here, so that smtpd sessions that only need AUTH do not pay for it. Import them directly (or
 * with a dynamic import where the start-up time matters).
 */
export {
  type DkimKey,
  DkimKeyError,
  type DkimKeyInfo,
  type DkimKeyType,
  type GenerateOptions,
  generateKey,
  keyFileName,
  keysForDomain,
  listKeys,
  txtStrings,
} from "./dkim-keys.ts";
export {
  AuthLockout,
  DEFAULT_MAX_CLIENTS,
  type LockoutOptions,
  lockoutKey,
  lockoutReply,
} from "./lockout.ts";
export {
  checkSenderLogin,
  SENDER_LOGIN_CHECKS,
  type SenderLoginCheck,
  type SenderLoginMaps,
  type SenderLoginOptions,
  senderLoginMaps,
  senderLoginMapsFromTables,
} from "./login-maps.ts";
export {
  AUTH_FAILURE,
  authFailedReply,
  type CredentialCheck,
  SASL_MECHANISMS,
  SASL_RESPONSE_LIMIT,
  SaslExchange,
  type SaslMechanism,
  type SaslStep,
  type UserLookup,
  verifyCredentials,
} from "./sasl.ts";
export { createSmtpdAuth, type SmtpdAuthOptions } from "./smtpd-auth.ts";
