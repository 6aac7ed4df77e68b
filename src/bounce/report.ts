/**
 * The two report texts of a notice: the human-readable recipient lines (Postfix style,
 * `<rcpt>: host x said: ...`) and the RFC 3464 message/delivery-status fields.
 */

import type { MessageRecord } from "../queue/types.ts";
import { externalForm } from "../rewrite/address.ts";
import { hasNonAscii, mailDate, printable, wrapLine } from "./text.ts";
import type { DsnAction, NoticeKind, NoticeRecipient } from "./types.ts";

export interface ReportContext {
  kind: NoticeKind;
  message: MessageRecord;
  hostname: string;
  /** SMTPUTF8 notice: UTF-8 addresses get address type "utf-8" and are not masked. */
  utf8: boolean;
  /** Will-Retry-Until (delay notices), ms since epoch. */
  retryUntil: number;
}

export interface Diagnostic {
  /** RFC 3464 diagnostic-type ("smtp") and text, e.g. "550 5.1.1 No such user". */
  type: string;
  text: string;
  /** Remote-MTA host name, or null when unknown (local delivery, connection failure). */
  remoteMta: string | null;
}

// Postfix's SMTP/LMTP client wording: "host mx.example.com[192.0.2.1] said: 550 5.1.1 ...
// (in reply to RCPT TO command)". posteix's delivery agents report the same.
const HOST_SAID = /^host ([^\s[\]]+)(?:\[[^\]]*\])?(?::\d+)? said: ([2-5]\d\d(?:[ -][\s\S]*)?)$/;
const IN_REPLY_TO = / \(in reply to [^()]* command\)$/;
const REPLY = /^[2-5]\d\d(?:[ -]|$)/;
// Postfix's relay= form: host[address]:port (local deliveries report "local", "virtual", ...).
const RELAY = /^([^\s[\]]+)\[[^\]]*\](?::\d+)?$/;
const STATUS = /^[245]\.\d{1,3}\.\d{1,3}$/;

const DEFAULT_STATUS: Record<NoticeKind, string> = {
  failure: "5.0.0",
  delay: "4.0.0",
  success: "2.0.0",
};

const DEFAULT_REASON: Record<NoticeKind, string> = {
  failure: "undeliverable",
  delay: "delivery temporarily suspended",
  success: "delivered",
};

/** The relay's host name when the relay was a remote host. */
export function relayHost(relay: string | null): string | null {
  if (!relay) return null;
  const m = RELAY.exec(relay);
  return m ? m[1] : null;
}

/** Diagnostic-Code and Remote-MTA of a recipient, from what the delivery agent reported. */
export function diagnosticOf(r: NoticeRecipient, kind: NoticeKind): Diagnostic {
  const explicitMta = r.remoteMta ?? null;
  if (r.diagnosticCode) {
    return {
      type: r.diagnosticCode.type,
      text: r.diagnosticCode.text,
      remoteMta: explicitMta ?? relayHost(r.relay),
    };
  }
  const reason = r.diagnostic ?? "";
  const said = HOST_SAID.exec(reason);
  if (said) {
    return {
      type: "smtp",
      text: said[2].replace(IN_REPLY_TO, ""),
      remoteMta: explicitMta ?? said[1],
    };
  }
  const host = explicitMta ?? relayHost(r.relay);
  if (host && REPLY.test(reason)) return { type: "smtp", text: reason, remoteMta: host };
  return { type: "X-Posteix", text: reason || DEFAULT_REASON[kind], remoteMta: host };
}

function action(kind: NoticeKind, r: NoticeRecipient): DsnAction {
  if (kind === "failure") return "failed";
  if (kind === "delay") return "delayed";
  return r.action === "relayed" || r.action === "expanded" ? r.action : "delivered";
}

function addressType(address: string, utf8: boolean): string {
  return utf8 && hasNonAscii(address) ? "utf-8" : "rfc822";
}

/** The human-readable line of one recipient, wrapped (Postfix bounce_recipient_log). */
export function recipientLines(ctx: ReportContext, r: NoticeRecipient): string[] {
  const address = printable(externalForm(r.address), ctx.utf8);
  const reason = printable(r.diagnostic || DEFAULT_REASON[ctx.kind], ctx.utf8);
  const original = r.original && r.original.toLowerCase() !== r.address.toLowerCase();
  const who = original
    ? `<${address}> (expanded from <${printable(externalForm(r.original ?? ""), ctx.utf8)}>)`
    : `<${address}>`;
  return wrapLine(`${who}: ${reason}`);
}

/** RFC 3464 section 2.2: per-message fields. */
export function messageFields(ctx: ReportContext): string[] {
  const m = ctx.message;
  const lines = [`Reporting-MTA: dns; ${ctx.hostname}`];
  if (m.envid) lines.push(`Original-Envelope-Id: ${printable(m.envid, false)}`);
  lines.push(`X-Posteix-Queue-ID: ${m.id}`);
  // Postfix shows the null sender as MAILER-DAEMON here.
  const sender = m.sender === "" ? "MAILER-DAEMON" : externalForm(m.sender);
  lines.push(`X-Posteix-Sender: ${addressType(sender, ctx.utf8)}; ${printable(sender, ctx.utf8)}`);
  if (m.arrivalTime > 0) lines.push(`Arrival-Date: ${mailDate(m.arrivalTime)}`);
  return lines;
}

/** RFC 3464 section 2.3: per-recipient fields. */
export function recipientFields(ctx: ReportContext, r: NoticeRecipient): string[] {
  const final = externalForm(r.address);
  const lines = [`Final-Recipient: ${addressType(final, ctx.utf8)}; ${printable(final, ctx.utf8)}`];
  // Like Postfix, report the original recipient also without ORCPT: it is what the sender
  // wrote, and down-stream MTAs get it as ORCPT anyway (RFC 3461 section 4.2).
  if (r.orcpt) {
    lines.push(`Original-Recipient: ${printable(r.orcpt, ctx.utf8)}`);
  } else if (r.original) {
    const original = externalForm(r.original);
    lines.push(
      `Original-Recipient: ${addressType(original, ctx.utf8)}; ${printable(original, ctx.utf8)}`,
    );
  }
  lines.push(`Action: ${action(ctx.kind, r)}`);
  lines.push(`Status: ${r.dsn && STATUS.test(r.dsn) ? r.dsn : DEFAULT_STATUS[ctx.kind]}`);
  const diag = diagnosticOf(r, ctx.kind);
  if (diag.remoteMta)
    lines.push(...wrapLine(`Remote-MTA: dns; ${printable(diag.remoteMta, ctx.utf8)}`));
  lines.push(
    ...wrapLine(
      `Diagnostic-Code: ${printable(diag.type, false)}; ${printable(diag.text, ctx.utf8)}`,
    ),
  );
  if (r.updatedAt) lines.push(`Last-Attempt-Date: ${mailDate(r.updatedAt)}`);
  if (ctx.kind === "delay") lines.push(`Will-Retry-Until: ${mailDate(ctx.retryUntil)}`);
  return lines;
}
