/**
 * Assembles one notice: RFC 6522 multipart/report with the human-readable text, the RFC 3464
 * delivery status and the original (full or headers only), streamed as a generator.
 */
import { hostname as osHostname } from "node:os";
import { externalForm } from "../rewrite/address.ts";
import { containsBytes, excerpt } from "./original.ts";
import { messageFields, type ReportContext, recipientFields, recipientLines } from "./report.ts";
import { boilerplate, FROM_NAME, MAILER_DAEMON, subject } from "./templates.ts";
import { amount, mailDate, printable } from "./text.ts";
import type { Notice, NoticeInput, NoticeRecipient, NoticeRoute } from "./types.ts";

export type SendRoute = Extract<NoticeRoute, { send: true }>;

const encoder = new TextEncoder();
const CRLF = "\r\n";
const MSGID = /^<[^<>\s]+>$/;
/** RFC 2046 section 5.1.1 bchars (without space), at most 70 of them. */
const NOT_BCHAR = /[^0-9A-Za-z'()+_,\-./:=?]/g;
const MAX_BOUNDARY_TRIES = 16;

interface Plan {
  returnPath: string;
  texts: string; // text that ends up in the body, for the boundary check
  boundary: string;
  original: () => Iterable<Uint8Array>;
  headersOnly: boolean;
  limit: number;
}

function randomSuffix(): string {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString("hex");
}

function boundaryBase(input: NoticeInput, hostname: string, now: Date): string {
  // Postfix's form: queue ID, time and host name.
  const raw =
    input.boundaryHint ?? `${input.message.id}.${Math.floor(now.getTime() / 1000)}/${hostname}`;
  const clean = raw.replace(NOT_BCHAR, "_").slice(0, 56);
  return clean === "" ? "posteix-boundary" : clean;
}

/** Build the notice for a route and the recipients it reports (at least one). */
export function buildNotice(
  input: NoticeInput,
  route: SendRoute,
  recipients: readonly NoticeRecipient[],
): Notice {
  const { cfg, message, kind } = input;
  const now = input.now ?? new Date();
  const hostname = cfg.str("myhostname") || osHostname() || "localhost";
  const utf8 = message.smtputf8;
  const eightBit = utf8 || message.bodyType === "8BITMIME" || message.bodyType === "BINARYMIME";

  const limit = Math.max(0, cfg.size("bounce_size_limit"));
  // Postfix bounce_original(): rather than cut a large message (and its MIME structure), return
  // the headers only; a message of unknown size gets the same treatment.
  const headersOnly =
    route.ret === "HDRS" || (limit > 0 && (message.size <= 0 || message.size > limit));

  const lifetime = cfg.time(
    message.sender === "" ? "bounce_queue_lifetime" : "maximal_queue_lifetime",
  );
  const retryUntil = message.arrivalTime + lifetime * 1000;
  const warnTime = cfg.time("delay_warning_time");
  const delayHours =
    warnTime > 0 ? warnTime / 3600 : (now.getTime() - message.arrivalTime) / 3_600_000;

  const ctx: ReportContext = { kind, message, hostname, utf8, retryUntil };

  const human: string[] = route.boilerplate
    ? boilerplate(kind, {
        hostname,
        delayHours: amount(Math.max(0, delayHours)),
        lifetimeDays: amount(lifetime / 86400),
        retryUntil: mailDate(retryUntil),
      })
    : [];
  for (const r of recipients) human.push("", ...recipientLines(ctx, r));

  const dsn = messageFields(ctx);
  for (const r of recipients) dsn.push("", ...recipientFields(ctx, r));

  const to = printable(externalForm(route.recipient), utf8);
  const seconds = Math.floor(now.getTime() / 1000);
  const idTag = route.postmasterCopy ? `${kind}.postmaster` : kind;
  const top = [
    `From: ${MAILER_DAEMON}@${hostname} (${FROM_NAME})`,
    `Subject: ${subject(kind, route.postmasterCopy)}`,
    `To: ${to}`,
    `Date: ${mailDate(now)}`,
    `Message-Id: <${message.id}.${seconds}.${idTag}@${hostname}>`,
  ];
  const origId = message.messageId?.trim();
  if (origId && MSGID.test(origId)) top.push(`References: ${origId}`, `In-Reply-To: ${origId}`);
  // RFC 3834 section 5.
  top.push(`Auto-Submitted: ${route.postmasterCopy ? "auto-generated" : "auto-replied"}`);

  const undelivered = kind !== "success";
  const originalPartHeader = [
    `Content-Description: ${undelivered ? "Undelivered " : ""}${headersOnly ? "Message Headers" : "Message"}`,
    `Content-Type: ${
      headersOnly
        ? utf8
          ? "message/global-headers"
          : "text/rfc822-headers"
        : utf8
          ? "message/global"
          : "message/rfc822"
    }`,
  ];
  if (eightBit) originalPartHeader.push("Content-Transfer-Encoding: 8bit");

  const humanPart = [
    "Content-Description: Notification",
    `Content-Type: text/plain; charset=${utf8 ? "utf-8" : "us-ascii"}`,
    ...(utf8 ? ["Content-Transfer-Encoding: 8bit"] : []),
    "",
    ...human,
  ];
  const dsnPart = [
    "Content-Description: Delivery report",
    `Content-Type: message/${utf8 ? "global-" : ""}delivery-status`,
    ...(utf8 ? ["Content-Transfer-Encoding: 8bit"] : []),
    "",
    ...dsn,
  ];
  // Postfix prepends Return-Path, which cleanup removed when the message came in.
  const returnPath = `Return-Path: <${printable(externalForm(message.sender), utf8)}>${CRLF}`;

  const plan: Plan = {
    returnPath,
    texts: `${humanPart.join(CRLF)}\n${dsnPart.join(CRLF)}\n${originalPartHeader.join(CRLF)}`,
    boundary: boundaryBase(input, hostname, now),
    original: input.originalContent,
    headersOnly,
    limit,
  };

  const render = (boundary: string): string =>
    [
      ...top,
      "MIME-Version: 1.0",
      "Content-Type: multipart/report; report-type=delivery-status;",
      `\tboundary="${boundary}"`,
      `Content-Transfer-Encoding: ${eightBit ? "8bit" : "7bit"}`,
      "",
      "This is a MIME-encapsulated message.",
      "",
      `--${boundary}`,
      ...humanPart,
      "",
      `--${boundary}`,
      ...dsnPart,
      "",
      `--${boundary}`,
      ...originalPartHeader,
      "",
      "",
    ].join(CRLF);

  return {
    sender: route.sender,
    recipient: route.recipient,
    postmasterCopy: route.postmasterCopy,
    content: { [Symbol.iterator]: () => stream(plan, render) },
    bodyType: eightBit ? "8BITMIME" : "7BIT",
    smtputf8: utf8,
    label: route.label,
    reported: recipients.length,
  };
}

/** The returned part of the original, as it will appear in the notice. */
function* originalPart(plan: Plan): Generator<Uint8Array, void, undefined> {
  yield encoder.encode(plan.returnPath);
  yield* excerpt(plan.original(), { headersOnly: plan.headersOnly, limit: plan.limit });
}

/**
 * Choose a boundary that occurs nowhere in the body: neither in the report texts nor in the
 * returned part of the original, which is read once for this (it is bounded by
 * $bounce_size_limit or by the header section). `available` is false when the original
 * cannot be read.
 */
function chooseBoundary(plan: Plan): { boundary: string; available: boolean } {
  let boundary = plan.boundary;
  let available = true;
  for (let attempt = 0; attempt < MAX_BOUNDARY_TRIES; attempt++) {
    let clash = plan.texts.includes(boundary) || plan.returnPath.includes(boundary);
    if (!clash && available) {
      try {
        clash = containsBytes(originalPart(plan), encoder.encode(boundary));
      } catch {
        // Postfix sends a placeholder when the original is gone; a notice is best effort.
        available = false;
      }
    }
    if (!clash) return { boundary, available };
    boundary = `${plan.boundary}.${randomSuffix()}`;
  }
  throw new Error("bounce: no MIME boundary found that is absent from the content");
}

function* stream(
  plan: Plan,
  render: (boundary: string) => string,
): Generator<Uint8Array, void, undefined> {
  const { boundary, available } = chooseBoundary(plan);
  yield encoder.encode(render(boundary));
  if (available) yield* originalPart(plan);
  else yield encoder.encode(`--- The original message is not available ---${CRLF}`);
  yield encoder.encode(`${CRLF}--${boundary}--${CRLF}`);
}
