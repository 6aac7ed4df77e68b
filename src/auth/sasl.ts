/**
 * SASL PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login) as the server side of SMTP AUTH
 * (RFC 4954): a pure state machine that turns the AUTH arguments and the client's response lines
 * into challenges, credentials to check, or a failure reply, plus the password check against the
 * user table (argon2id hashes made by Bun.password).
 *
 * Replies are Postfix's (smtpd_sasl_glue.c): "334 VXNlcm5hbWU6", "501 5.7.0 Authentication
 * aborted" for "*", "535 5.7.8 Error: authentication failed: authentication failure",
 * "454 4.7.0 Temporary authentication failure: ..." and "500 5.5.6 SASL response limit
 * exceeded"; a response that is not base64 gets 501 5.5.2 (RFC 4954 section 4) and an unknown
 * mechanism 504 5.5.4 (RFC 4954 section 4; Postfix's backends say 535 there).
 */
import type { Reply } from "../smtpd/reply.ts";

export const SASL_MECHANISMS = ["PLAIN", "LOGIN"] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** Postfix's smtpd_sasl_response_limit default: longer responses end the exchange. */
export const SASL_RESPONSE_LIMIT = 12288;

/** The one failure text for wrong names, passwords and authorization identities (privacy). */
export const AUTH_FAILURE = "authentication failure";

const USERNAME_CHALLENGE = "VXNlcm5hbWU6"; // "Username:"
const PASSWORD_CHALLENGE = "UGFzc3dvcmQ6"; // "Password:"

export type SaslStep =
  /** Send "334 <challenge>" and feed the client's next line to next(). */
  | { kind: "challenge"; challenge: string }
  /** The exchange is complete: check these credentials (verifyCredentials). */
  | { kind: "credentials"; authcid: string; authzid: string; password: string }
  | {
      kind: "fail";
      reply: Reply;
      /** Text for the log line ("authentication failure", "aborted"...). */
      reason: string;
      /** Whether this attempt counts toward the lockout (a guessed password, not a typo). */
      counts: boolean;
      /** Postfix logs "SASL X authentication aborted" instead of "... failed: reason". */
      aborted?: boolean;
    };

function failure(reply: Reply, reason: string, counts: boolean): SaslStep {
  return { kind: "fail", reply, reason, counts };
}

/** The 535 Postfix gives for every wrong credential. */
export function authFailedReply(reason = AUTH_FAILURE): Reply {
  return { code: 535, enhanced: "5.7.8", text: `Error: authentication failed: ${reason}` };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Strict base64 (RFC 4648, padded) to UTF-8 text; null when it is not. "=" is empty (RFC 4954). */
function decode(text: string): string | null {
  if (text === "=") return "";
  if (!BASE64.test(text)) return null;
  try {
    return utf8.decode(Buffer.from(text, "base64"));
  } catch {
    return null;
  }
}

/**
 * One AUTH exchange. Create it with the mechanism named in the AUTH command, call start() with
 * the initial response (if any), then next() with each client line until the step is not a
 * challenge.
 */
export class SaslExchange {
  readonly mechanism: string;
  #state: "new" | "plain" | "login-user" | "login-pass" | "done" = "new";
  #username = "";

  constructor(mechanism: string) {
    this.mechanism = mechanism.toUpperCase();
  }

  static supports(mechanism: string): boolean {
    return (SASL_MECHANISMS as readonly string[]).includes(mechanism.toUpperCase());
  }

  start(initial?: string): SaslStep {
    if (this.#state !== "new") throw new Error("SaslExchange.start() called twice");
    if (!SaslExchange.supports(this.mechanism)) {
      this.#state = "done";
      return failure(
        { code: 504, enhanced: "5.5.4", text: "Unrecognized authentication type" },
        `unsupported mechanism ${this.mechanism.slice(0, 20)}`,
        false,
      );
    }
    if (initial === undefined) {
      this.#state = this.mechanism === "PLAIN" ? "plain" : "login-user";
      return { kind: "challenge", challenge: this.mechanism === "PLAIN" ? "" : USERNAME_CHALLENGE };
    }
    return this.#response(initial, "initial");
  }

  next(line: string): SaslStep {
    if (this.#state === "new" || this.#state === "done") {
      throw new Error("SaslExchange.next() without a pending challenge");
    }
    if (line.length > SASL_RESPONSE_LIMIT) {
      this.#state = "done";
      return failure(
        { code: 500, enhanced: "5.5.6", text: "SASL response limit exceeded" },
        "response limit exceeded",
        false,
      );
    }
    // RFC 4954 section 4: "*" cancels the exchange.
    if (line === "*") {
      this.#state = "done";
      return {
        kind: "fail",
        reply: { code: 501, enhanced: "5.7.0", text: "Authentication aborted" },
        reason: "aborted",
        counts: false,
        aborted: true,
      };
    }
    return this.#response(line, "continued");
  }

  #response(b64: string, where: "initial" | "continued"): SaslStep {
    const text = decode(b64.trim());
    if (text === null) {
      this.#state = "done";
      return failure(
        { code: 501, enhanced: "5.5.2", text: `Error: Invalid base64 data in ${where} response` },
        `invalid base64 data in ${where} response`,
        false,
      );
    }
    if (this.mechanism === "PLAIN") {
      this.#state = "done";
      return plainCredentials(text);
    }
    if (this.#state === "new" || this.#state === "login-user") {
      // LOGIN with an initial response carries the user name (as Postfix and Dovecot accept).
      if (text === "") {
        this.#state = "done";
        return failure(authFailedReply(), AUTH_FAILURE, true);
      }
      this.#username = text;
      this.#state = "login-pass";
      return { kind: "challenge", challenge: PASSWORD_CHALLENGE };
    }
    this.#state = "done";
    return { kind: "credentials", authcid: this.#username, authzid: "", password: text };
  }
}

/** RFC 4616 section 2: [authzid] NUL authcid NUL passwd. */
function plainCredentials(message: string): SaslStep {
  const parts = message.split("\0");
  if (parts.length !== 3 || parts[1] === "" || parts[2] === "") {
    return failure(authFailedReply(), AUTH_FAILURE, true);
  }
  return { kind: "credentials", authzid: parts[0], authcid: parts[1], password: parts[2] };
}

/** What the password check needs of the user table (QueueStore.users). */
export interface UserLookup {
  get(name: string): { name: string; hash: string } | null;
}

export type CredentialCheck =
  | { ok: true; user: string }
  | { ok: false; temporary: false }
  | { ok: false; temporary: true; reason: string };

let dummyHash: Promise<string> | undefined;

/**
 * Checks a login name and password against the user table. Unknown names cost the same hash
 * verification as known ones, so timing does not tell which names exist. The authorization
 * identity must be empty or the login itself (posteix has no proxy logins).
 */
export async function verifyCredentials(
  users: UserLookup,
  step: { authcid: string; authzid: string; password: string },
): Promise<CredentialCheck> {
  let record: { name: string; hash: string } | null = null;
  try {
    record = users.get(step.authcid);
  } catch (err) {
    // A name the table refuses (white space, control characters) is just a wrong name.
    const code = (err as { code?: string }).code;
    if (code !== "INVALID") {
      return {
        ok: false,
        temporary: true,
        reason: err instanceof Error ? err.message : String(err),
      };
    }
  }
  dummyHash ??= Bun.password.hash("posteix-no-such-user", { algorithm: "argon2id" });
  const hash = record?.hash ?? (await dummyHash);
  let match = false;
  try {
    match = await Bun.password.verify(step.password, hash);
  } catch {
    match = false; // an unreadable hash in the table is a failed login, not a crash
  }
  if (record === null || !match) return { ok: false, temporary: false };
  const authz = step.authzid.trim().toLowerCase();
  if (authz !== "" && authz !== record.name && authz !== step.authcid.toLowerCase()) {
    return { ok: false, temporary: false };
  }
  return { ok: true, user: record.name };
}
