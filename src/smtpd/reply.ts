/**
 * SMTP replies and the one error type of the SMTP server.
 *
 * A Reply is what a verb function returns; session.ts sends every one of them through a single
 * path that formats it, logs the transcript and counts errors. Enhanced status codes follow
 * RFC 2034 / RFC 3463: every 2xx/4xx/5xx reply carries one, except the greeting and the replies
 * to HELO/EHLO (RFC 2034 section 3).
 */

export interface Reply {
  code: number;
  /** RFC 3463 enhanced status code ("5.7.1"); omitted for the greeting, HELO and EHLO. */
  enhanced?: string;
  /** One line, or the lines of a multi-line reply. */
  text: string | string[];
  /** Close the connection after this reply (421, 521, bare newline, QUIT). */
  close?: boolean;
  /**
   * Whether the command counts as successful (session statistics, error limits); by default a
   * reply below 400 does. Postfix's 452 for the first recipients over the limit does too.
   */
  success?: boolean;
}

/**
 * An SMTP-level failure: what the client is told (code, enhanced, text) and, separately, the
 * internal reason that goes to the log only (STYLE.md habit 6).
 */
export class SmtpError extends Error {
  constructor(
    readonly code: number,
    readonly enhanced: string,
    /** Client-safe text. */
    readonly text: string,
    /** Internal reason for the log; never sent to the client. */
    readonly reason?: string,
  ) {
    super(`${code} ${enhanced} ${text}${reason ? ` (${reason})` : ""}`);
  }

  get temporary(): boolean {
    return this.code >= 400 && this.code < 500;
  }

  toReply(): Reply {
    return { code: this.code, enhanced: this.enhanced, text: this.text };
  }
}

export function reply(code: number, enhanced: string | undefined, text: string | string[]): Reply {
  return enhanced === undefined ? { code, text } : { code, enhanced, text };
}

/**
 * Parse a reply that restriction code or access tables produce as one string
 * ("554 5.7.1 <x@y>: Relay access denied"); the enhanced code is optional.
 */
export function parseReplyText(s: string): Reply | null {
  const m = /^([2-5]\d\d)(?: (\d\.\d{1,3}\.\d{1,3}))?(?: (.*))?$/s.exec(s);
  if (!m) return null;
  const r: Reply = { code: Number(m[1]), text: m[3] ?? "" };
  if (m[2]) r.enhanced = m[2];
  return r;
}

/** The reply as it goes on the wire: CRLF-terminated lines, "-" on all but the last. */
export function formatReply(r: Reply): string {
  const lines = typeof r.text === "string" ? splitLines(r.text) : r.text;
  const prefix = r.enhanced ? ` ${r.enhanced}` : "";
  if (lines.length <= 1) return `${`${r.code}${prefix} ${lines[0] ?? ""}`.trimEnd()}\r\n`;
  let out = "";
  for (let i = 0; i < lines.length; i++) {
    const sep = i === lines.length - 1 ? " " : "-";
    // RFC 2034: the enhanced code starts the text of every line of a multi-line reply.
    out += `${r.code}${sep}${r.enhanced ? `${r.enhanced} ` : ""}${lines[i]}\r\n`;
  }
  return out;
}

/** Reply text must never smuggle a line ending (a table entry or a client string could). */
function splitLines(text: string): string[] {
  if (text.indexOf("\n") === -1 && text.indexOf("\r") === -1) return [text];
  return text.split(/\r?\n|\r/);
}

/** One line of the reply for logs ("554 5.7.1 <x@y>: Relay access denied"). */
export function replyLine(r: Reply): string {
  const text = typeof r.text === "string" ? r.text : r.text.join(" ");
  return `${r.code}${r.enhanced ? ` ${r.enhanced}` : ""} ${text}`;
}
