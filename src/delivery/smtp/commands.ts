/**
 * MAIL FROM and RCPT TO command lines with their ESMTP parameters: SIZE (RFC 1870),
 * BODY=8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), and the DSN parameters RET, ENVID, NOTIFY and
 * ORCPT (RFC 3461, xtext-encoded) passed on as received when the server offers DSN. Pure.
 */

import type { MessageRecord, RecipientRecord } from "../../queue/types.ts";
import { externalForm, isNonAscii } from "../../rewrite/address.ts";
import type { ServerFeatures } from "./ehlo.ts";

const encoder = new TextEncoder();

/** RFC 3461 section 4 xtext over the UTF-8 bytes of s: "+", "=" and non-printables as +XX. */
export function xtext(s: string): string {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126 || c === 43 || c === 61) {
      plain = false;
      break;
    }
  }
  if (plain) return s;
  let out = "";
  for (const b of encoder.encode(s)) {
    if (b < 33 || b > 126 || b === 43 || b === 61)
      out += `+${b.toString(16).toUpperCase().padStart(2, "0")}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

export interface CommandOptions {
  features: ServerFeatures;
  /** $smtp_dsn_passthrough */
  dsn: boolean;
  /** The message needs SMTPUTF8 and the server offers it. */
  smtputf8: boolean;
}

/** True when the message cannot be delivered without SMTPUTF8 (RFC 6531 section 3.2). */
export function needsSmtputf8(message: MessageRecord, recipients: RecipientRecord[]): boolean {
  if (message.smtputf8 || isNonAscii(message.sender)) return true;
  for (const r of recipients) if (isNonAscii(r.address)) return true;
  return false;
}

export function mailCommand(message: MessageRecord, opt: CommandOptions): string {
  let cmd = `MAIL FROM:<${externalForm(message.sender)}>`;
  const f = opt.features;
  if (f.size !== null) cmd += ` SIZE=${message.size}`;
  if (f.eightBitMime && (message.bodyType === "8BITMIME" || message.bodyType === "BINARYMIME"))
    cmd += " BODY=8BITMIME";
  if (opt.smtputf8) cmd += " SMTPUTF8";
  if (f.dsn && opt.dsn) {
    if (message.ret !== null) cmd += ` RET=${message.ret}`;
    if (message.envid !== null && message.envid !== "") cmd += ` ENVID=${xtext(message.envid)}`;
  }
  return cmd;
}

export function rcptCommand(rcpt: RecipientRecord, opt: CommandOptions): string {
  let cmd = `RCPT TO:<${externalForm(rcpt.address)}>`;
  if (opt.features.dsn && opt.dsn) {
    if (rcpt.notify.length > 0) cmd += ` NOTIFY=${rcpt.notify.join(",")}`;
    // As Postfix: the ORCPT as received, else the original recipient before rewriting.
    if (rcpt.orcpt !== null && rcpt.orcpt !== "") cmd += ` ORCPT=${xtext(rcpt.orcpt)}`;
    else if (rcpt.original !== null && rcpt.original !== "")
      cmd += ` ORCPT=${xtext(`rfc822;${externalForm(rcpt.original)}`)}`;
  }
  return cmd;
}
