/**
 * The fixed texts of notices: subjects and the human-readable boiler-plate, in the style of
 * Postfix's built-in bounce templates (bounce_templates.c), worded for posteix.
 */
import { wrapLine } from "./text.ts";
import type { NoticeKind } from "./types.ts";

export const FROM_NAME = "Mail Delivery System";
export const MAILER_DAEMON = "MAILER-DAEMON";

export function subject(kind: NoticeKind, postmasterCopy: boolean): string {
  switch (kind) {
    case "failure":
      return postmasterCopy
        ? "Postmaster Copy: Undelivered Mail"
        : "Undelivered Mail Returned to Sender";
    case "delay":
      return postmasterCopy
        ? "Postmaster Warning: Delayed Mail"
        : "Delayed Mail (still being retried)";
    case "success":
      return "Successful Mail Delivery Report";
  }
}

export interface BoilerplateVars {
  hostname: string;
  /** How long delivery has been failing, in hours (delay notices). */
  delayHours: string;
  /** Queue lifetime in days, and the date when retries stop (delay notices). */
  lifetimeDays: string;
  retryUntil: string;
}

const SIGNATURE = "                   The mail system";

function helpLines(hostname: string): string[] {
  return wrapLine(
    `If you need help, write to the postmaster of this system (postmaster@${hostname}) ` +
      "and include this report. You may cut your own text from the returned message.",
    72,
    0,
  );
}

/** The boiler-plate that opens the text/plain part of a notice to the sender. */
export function boilerplate(kind: NoticeKind, v: BoilerplateVars): string[] {
  const intro = `This is the mail system at host ${v.hostname}.`;
  switch (kind) {
    case "failure":
      return [
        intro,
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients. A copy of it is attached.",
        "",
        ...helpLines(v.hostname),
        "",
        SIGNATURE,
      ];
    case "delay":
      return [
        intro,
        "",
        "####################################################################",
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #",
        "####################################################################",
        "",
        `Delivery of your message has been failing for more than ${v.delayHours} hour(s).`,
        `It will be retried until ${v.retryUntil},`,
        `when it is ${v.lifetimeDays} day(s) old.`,
        "",
        ...helpLines(v.hostname),
        "",
        SIGNATURE,
      ];
    case "success":
      return [
        intro,
        "",
        "Your message was successfully delivered to the destination(s)",
        "listed below. Where it went into a mailbox, no further notices will",
        "follow; where it was passed on to another system, that system may",
        "still report delivery problems to you.",
        "",
        SIGNATURE,
      ];
  }
}
