/**
 * The AUTH seam of smtpd (SmtpdAuth in src/smtpd/types.ts) built from the SASL state machine,
 * the user table and the lockout: mechanisms to announce, one exchange per AUTH command, and
 * Postfix's log lines:
 *
 *   warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: authentication failure
 *   warning: unknown[192.0.2.1]: SASL PLAIN authentication aborted
 *
 * (the first is what fail2ban's postfix-sasl filter matches). Passwords never reach the log.
 */
import { type Logger, logger } from "../log/index.ts";
import { metrics } from "../log/metrics.ts";
import type { Reply } from "../smtpd/reply.ts";
import type { AuthResult, SessionView, SmtpdAuth } from "../smtpd/types.ts";
import { type AuthLockout, lockoutReply } from "./lockout.ts";
import {
  AUTH_FAILURE,
  authFailedReply,
  SASL_MECHANISMS,
  SaslExchange,
  type UserLookup,
  verifyCredentials,
} from "./sasl.ts";

export interface SmtpdAuthOptions {
  users: UserLookup;
  lockout?: AuthLockout;
  /** $smtpd_tls_auth_only: announce (and accept) AUTH only over TLS. */
  tlsAuthOnly: boolean;
  /** $myhostname, for the 421 lockout reply. */
  hostname: string;
  log?: Logger;
}

function namaddr(view: SessionView): string {
  return `${view.client.name}[${view.client.addr}]`;
}

export function createSmtpdAuth(opts: SmtpdAuthOptions): SmtpdAuth {
  const log = opts.log ?? logger("smtpd");

  const failed = (view: SessionView, mech: string, reason: string, counts: boolean): Reply => {
    log.warn(`${namaddr(view)}: SASL ${mech} authentication failed: ${reason}`);
    metrics.inc("auth_failures");
    if (counts && opts.lockout) {
      const { locked, failures } = opts.lockout.recordFailure(view.client.addr);
      if (locked) {
        log.warn(
          `${namaddr(view)}: too many AUTH failures (${failures} within ${opts.lockout.windowMs / 1000}s): AUTH refused for ${opts.lockout.lockoutMs / 1000}s`,
        );
        return lockoutReply(opts.hostname);
      }
    }
    return authFailedReply(reason);
  };

  return {
    mechanisms(view: SessionView): string[] {
      if (opts.tlsAuthOnly && !view.tls) return [];
      return [...SASL_MECHANISMS];
    },

    async authenticate(view, mechanism, initial, exchange): Promise<AuthResult> {
      const mech = mechanism.toUpperCase().slice(0, 40);
      if (opts.lockout?.lockedUntil(view.client.addr) != null) {
        log.warn(`${namaddr(view)}: AUTH refused: too many AUTH failures`);
        return { ok: false, reply: lockoutReply(opts.hostname) };
      }
      if (opts.tlsAuthOnly && !view.tls) {
        // RFC 4954 section 4, Postfix's words.
        return {
          ok: false,
          reply: {
            code: 504,
            enhanced: "5.5.4",
            text: "Encryption required for requested authentication mechanism",
          },
        };
      }
      const sasl = new SaslExchange(mech);
      let step = sasl.start(initial);
      while (step.kind === "challenge") step = sasl.next(await exchange(step.challenge));
      if (step.kind === "fail") {
        if (step.aborted) {
          log.warn(`${namaddr(view)}: SASL ${mech} authentication aborted`);
          return { ok: false, reply: step.reply };
        }
        if (step.reply.code === 535) {
          return { ok: false, reply: failed(view, mech, step.reason, step.counts) };
        }
        log.warn(`${namaddr(view)}: SASL ${mech} authentication failed: ${step.reason}`);
        return { ok: false, reply: step.reply };
      }
      const check = await verifyCredentials(opts.users, step);
      if (check.ok) {
        opts.lockout?.recordSuccess(view.client.addr);
        return { ok: true, user: check.user, method: mech };
      }
      if (check.temporary) {
        log.warn(`${namaddr(view)}: SASL ${mech} authentication failed: ${check.reason}`);
        return {
          ok: false,
          reply: {
            code: 454,
            enhanced: "4.7.0",
            text: "Temporary authentication failure: user table unavailable",
          },
        };
      }
      return { ok: false, reply: failed(view, mech, AUTH_FAILURE, true) };
    },
  };
}
