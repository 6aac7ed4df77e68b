/**
 * Inbound sender authentication with mailauth: SPF (RFC 7208) for the client address, HELO and
 * MAIL FROM, DKIM (RFC 6376, RFC 8463), DMARC (RFC 7489) and ARC (RFC 8617), all resolved through
 * our DNS module, and one Authentication-Results header (RFC 8601) with authserv-id
 * $smtpd_authentication_authserv_id. The message is streamed through (mailauth hashes the body
 * as it goes; only the header section is held), so a 50 MB message costs no 50 MB.
 *
 * A DNS failure is a temperror, never a pass: mailauth reports temperror for SERVFAIL and
 * timeouts (our resolver's error codes say which is which), and decideAction() defers instead of
 * rejecting when a DMARC failure may come from a temporary error.
 *
 * main.cf: myhostname (mta in comments), smtpd_authentication_authserv_id, smtpd_dmarc_enforce,
 * smtpd_spf_reject_fail.
 */
import { PassThrough, Readable } from "node:stream";
import { type AuthenticateResult, authenticate } from "mailauth";
import type { Config } from "../config/types.ts";
import type { MailauthResolver } from "../dns/index.ts";
import type { Reply } from "../smtpd/reply.ts";

export type AuthCode =
  | "pass"
  | "fail"
  | "softfail"
  | "neutral"
  | "none"
  | "temperror"
  | "permerror"
  | "policy";

export interface DkimSignatureResult {
  result: AuthCode;
  /** d= */
  domain: string;
  /** s= */
  selector: string;
  /** Whether d= aligns with the From domain (relaxed, RFC 7489 3.1.1). */
  aligned: boolean;
  algorithm?: string;
}

export interface SenderAuthResult {
  /**
   * "Authentication-Results: id;\r\n dkim=...;\r\n spf=...;\r\n dmarc=..." without the final CRLF:
   * one header field, folded, to prepend to the message.
   */
  header: string;
  /** A Received-SPF field (RFC 7208 section 9.1), also without the final CRLF. */
  receivedSpf: string | null;
  spf: { result: AuthCode; domain: string | null };
  /** The best DKIM result: "pass" if any signature passed, else the first one's, else "none". */
  dkim: AuthCode;
  signatures: DkimSignatureResult[];
  dmarc: {
    result: AuthCode;
    /** The policy that applies to the From domain (sp= for subdomains), null without a record. */
    policy: "reject" | "quarantine" | "none" | null;
    domain: string | null;
    /** pct= (RFC 7489 6.3), 100 when absent. */
    pct: number;
  };
  arc: AuthCode;
  /** The From header domain(s) mailauth saw. */
  headerFrom: string[];
}

export interface VerifyOptions {
  /** Client IP address. */
  ip: string;
  /** HELO/EHLO name; null when the client gave none. */
  helo: string | null;
  /** MAIL FROM address without brackets; "" for the null sender. */
  sender: string;
  /** mailauthResolver(resolver) from src/dns. */
  resolver: MailauthResolver;
  /** $myhostname: named in SPF comments. */
  mta: string;
  /** $smtpd_authentication_authserv_id. */
  authservId: string;
  /** Smallest RSA key accepted for DKIM/ARC (default 1024). */
  minBitLength?: number;
}

export type MessageSource =
  | Uint8Array
  | string
  | Iterable<Uint8Array>
  | AsyncIterable<Uint8Array>
  | Readable;

const CODES = new Set<string>([
  "pass",
  "fail",
  "softfail",
  "neutral",
  "none",
  "temperror",
  "permerror",
  "policy",
]);

function code(v: string | undefined): AuthCode {
  if (v === "temperr") return "temperror";
  return v !== undefined && CODES.has(v) ? (v as AuthCode) : "none";
}

/** A folded header value must not let a hostile message add header lines of its own. */
function safeLine(s: string): string {
  return s.replace(/\r?\n(?![ \t])/g, " ");
}

function toReadable(input: MessageSource): Readable | Buffer | string {
  if (typeof input === "string") return input;
  if (input instanceof Readable) return input;
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.length);
  return Readable.from(input as AsyncIterable<Uint8Array>, { objectMode: false });
}

function summarize(r: AuthenticateResult, opts: VerifyOptions): SenderAuthResult {
  const rows: string[] = [];
  const signatures: DkimSignatureResult[] = [];
  for (const d of r.dkim?.results ?? []) {
    rows.push(safeLine(d.info));
    if (d.signingDomain) {
      signatures.push({
        result: code(d.status.result),
        domain: d.signingDomain,
        selector: d.selector ?? "",
        aligned: Boolean(d.status.aligned),
        algorithm: d.algorithm ?? d.status.header?.a,
      });
    }
  }
  const spf = r.spf || null;
  if (spf) rows.push(safeLine(spf.info));
  if (r.arc && r.arc.info !== undefined && r.arc.info !== "") rows.push(safeLine(r.arc.info));
  const dm = r.dmarc || null;
  if (dm?.info) rows.push(safeLine(dm.info));
  if (rows.length === 0) rows.push("none");
  const header = `Authentication-Results: ${opts.authservId};\r\n ${rows.join(";\r\n ")}`;
  const dkimCodes = (r.dkim?.results ?? []).map((d) => code(d.status.result));
  const policy = dm?.policy?.toLowerCase();
  return {
    header,
    receivedSpf: spf?.header ? safeLine(spf.header.replace(/\r?\n$/, "")) : null,
    spf: { result: code(spf?.status.result), domain: spf?.domain ?? null },
    dkim: dkimCodes.includes("pass") ? "pass" : (dkimCodes[0] ?? "none"),
    signatures,
    dmarc: {
      result: code(dm?.status.result),
      policy:
        policy === "reject" || policy === "quarantine" || policy === "none"
          ? policy
          : dm && dm.status.result !== "none" && dm.status.result !== "temperror"
            ? "none"
            : null,
      domain: dm?.domain ?? null,
      pct: typeof dm?.pct === "number" ? dm.pct : 100,
    },
    arc: code(r.arc ? r.arc.status.result : undefined),
    headerFrom: r.dkim?.headerFrom ?? [],
  };
}

/** Authenticates a whole message given as bytes, text, chunks or a stream. */
export async function verifyMessage(
  input: MessageSource,
  opts: VerifyOptions,
): Promise<SenderAuthResult> {
  const r = await authenticate(toReadable(input), {
    ip: opts.ip,
    helo: opts.helo ?? undefined,
    sender: opts.sender,
    mta: opts.mta,
    resolver: opts.resolver,
    minBitLength: opts.minBitLength,
    disableBimi: true,
  });
  return summarize(r, opts);
}

export interface StreamingVerification {
  /** Feed the next chunk of the message (CRLF line ends, as received). */
  write(chunk: Uint8Array): void;
  /** All chunks given: the DNS lookups finish and the result comes. */
  end(): Promise<SenderAuthResult>;
  /** The transaction was aborted: stop and forget. */
  abort(): void;
}

/**
 * Starts authentication while the message is still arriving (smtpd's DATA/BDAT): chunks are
 * hashed as they come, so end-of-data waits only for the DNS lookups.
 */
export function startVerification(opts: VerifyOptions): StreamingVerification {
  const input = new PassThrough();
  const done = verifyMessage(input, opts);
  done.catch(() => {}); // observed through end(); an abort must not be an unhandled rejection
  return {
    write(chunk) {
      input.write(chunk);
    },
    end() {
      input.end();
      return done;
    },
    abort() {
      input.destroy();
    },
  };
}

/** The options of one session from main.cf. */
export function verifyOptionsFromConfig(
  cfg: Config,
  resolver: MailauthResolver,
  client: { ip: string; helo: string | null; sender: string },
): VerifyOptions {
  return {
    ...client,
    resolver,
    mta: cfg.str("myhostname"),
    authservId: cfg.str("smtpd_authentication_authserv_id") || cfg.str("myhostname"),
  };
}

// Authentication-Results parsing lives in auth-results.ts (no mailauth there, so cleanup can use
// it before this module is loaded); re-exported for callers of this module.
export { authservIdOf, claimsAuthservId, stripOwnAuthResults } from "./auth-results.ts";

// ------------------------------------------------------------------ policy

export type SenderAuthAction =
  | { action: "accept" }
  /** DMARC p=quarantine: into the hold queue. */
  | { action: "hold"; reason: string }
  | { action: "reject" | "defer"; reply: Reply; reason: string };

export interface PolicyOptions {
  /** $smtpd_dmarc_enforce */
  dmarcEnforce: boolean;
  /** $smtpd_spf_reject_fail */
  spfRejectFail: boolean;
  /** For pct= sampling (RFC 7489 6.6.4); default Math.random. */
  random?: () => number;
}

export function policyOptionsFromConfig(cfg: Config): PolicyOptions {
  return {
    dmarcEnforce: cfg.bool("smtpd_dmarc_enforce"),
    spfRejectFail: cfg.bool("smtpd_spf_reject_fail"),
  };
}

/**
 * What to do with the message. The strongest outcome wins: reject, then defer, then hold.
 *
 * - SPF fail with $smtpd_spf_reject_fail: 550 5.7.23 (RFC 7372).
 * - DMARC fail with $smtpd_dmarc_enforce: p=reject gives 550 5.7.1, p=quarantine the hold queue;
 *   with pct below 100 a message outside the sample gets the next milder policy (6.6.4). When
 *   SPF or a DKIM signature had a temporary error the failure may be one too: 451 4.7.5 instead.
 * - DMARC temperror (its record could not be fetched) with enforcement: 451 4.7.5.
 */
export function decideAction(
  r: SenderAuthResult,
  policy: PolicyOptions | Config,
): SenderAuthAction {
  const opts = "bool" in policy ? policyOptionsFromConfig(policy) : policy;
  const random = opts.random ?? Math.random;
  const found: SenderAuthAction[] = [];
  if (opts.spfRejectFail && r.spf.result === "fail") {
    const domain = r.spf.domain ?? "the sender domain";
    found.push({
      action: "reject",
      reply: {
        code: 550,
        enhanced: "5.7.23",
        text: `SPF validation failed: ${domain} does not allow this client to send its mail`,
      },
      reason: `SPF fail for ${domain}`,
    });
  }
  if (opts.dmarcEnforce) {
    const domain = r.dmarc.domain ?? "the sender domain";
    const tempErrors =
      r.spf.result === "temperror" || r.signatures.some((s) => s.result === "temperror");
    if (r.dmarc.result === "temperror") {
      found.push({
        action: "defer",
        reply: {
          code: 451,
          enhanced: "4.7.5",
          text: `DMARC policy for ${domain} could not be checked; try again later`,
        },
        reason: `DMARC temperror for ${domain}`,
      });
    } else if (r.dmarc.result === "fail") {
      let policy = r.dmarc.policy;
      if (r.dmarc.pct < 100 && random() * 100 >= r.dmarc.pct) {
        policy = policy === "reject" ? "quarantine" : policy === "quarantine" ? "none" : policy;
      }
      if ((policy === "reject" || policy === "quarantine") && tempErrors) {
        found.push({
          action: "defer",
          reply: {
            code: 451,
            enhanced: "4.7.5",
            text: `DMARC check for ${domain} met a temporary DNS error; try again later`,
          },
          reason: `DMARC fail for ${domain} with temporary errors`,
        });
      } else if (policy === "reject") {
        found.push({
          action: "reject",
          reply: {
            code: 550,
            enhanced: "5.7.1",
            text: `Email rejected per DMARC policy for ${domain}`,
          },
          reason: `DMARC policy reject for ${domain}`,
        });
      } else if (policy === "quarantine") {
        found.push({ action: "hold", reason: `DMARC policy quarantine for ${domain}` });
      }
    }
  }
  for (const kind of ["reject", "defer", "hold"] as const) {
    const a = found.find((f) => f.action === kind);
    if (a !== undefined) return a;
  }
  return { action: "accept" };
}
