/**
 * SMTP/LMTP server replies (RFC 5321 section 4.2): bytes in, complete replies out. A reply is
 * one or more lines "ddd-text" ended by a line "ddd text" (or "ddd"). Pure: no I/O.
 *
 * Enhanced status codes (RFC 3463) are taken from the reply text when present; otherwise the
 * code's class gives "X.0.0", as Postfix does.
 */

const LF = 0x0a;
const CR = 0x0d;

/** Longest reply line accepted (RFC 5321 4.5.3.1.5 says 512; servers send longer ones). */
export const MAX_REPLY_LINE = 64 * 1024;
/** Most lines in one reply (a defence against a server that never ends a reply). */
export const MAX_REPLY_LINES = 1000;

export interface SmtpReply {
  /** Three-digit reply code; 0 when the server sent something that is not a reply. */
  code: number;
  /** The lines as received, without CRLF ("250-PIPELINING", "250 OK"). */
  lines: string[];
}

export class ReplyError extends Error {}

const decoder = new TextDecoder("utf-8", { fatal: false });

function lineCode(line: string): number {
  if (line.length < 3) return 0;
  const a = line.charCodeAt(0) - 48;
  const b = line.charCodeAt(1) - 48;
  const c = line.charCodeAt(2) - 48;
  if (a < 2 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return 0;
  if (line.length > 3 && line[3] !== " " && line[3] !== "-") return 0;
  return a * 100 + b * 10 + c;
}

/** Splits a byte stream into replies. */
export class ReplyParser {
  private partial: Uint8Array | null = null;
  private lines: string[] = [];

  /** Feed received bytes; returns the replies completed by them (often none or one). */
  feed(chunk: Uint8Array): SmtpReply[] {
    const out: SmtpReply[] = [];
    let data = chunk;
    if (this.partial !== null) {
      const joined = new Uint8Array(this.partial.length + chunk.length);
      joined.set(this.partial, 0);
      joined.set(chunk, this.partial.length);
      data = joined;
      this.partial = null;
    }
    let pos = 0;
    while (pos < data.length) {
      const nl = data.indexOf(LF, pos);
      if (nl < 0) break;
      const end = nl > pos && data[nl - 1] === CR ? nl - 1 : nl;
      this.line(decoder.decode(data.subarray(pos, end)), out);
      pos = nl + 1;
    }
    if (pos < data.length) {
      if (data.length - pos > MAX_REPLY_LINE) throw new ReplyError("reply line too long");
      this.partial = data.slice(pos);
    }
    return out;
  }

  private line(text: string, out: SmtpReply[]): void {
    const code = lineCode(text);
    this.lines.push(text);
    if (this.lines.length > MAX_REPLY_LINES) throw new ReplyError("reply has too many lines");
    // A continuation line "ddd-" keeps the reply open; anything else ends it.
    if (code !== 0 && text[3] === "-") return;
    // The last line's code is the reply's (Postfix reads it the same way); 0 = malformed.
    out.push({ code, lines: this.lines });
    this.lines = [];
  }
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?= |$)/;

/** The text of a reply line after its code and separator. */
export function lineText(line: string): string {
  return line.length > 4 ? line.slice(4) : "";
}

/**
 * The enhanced status code of a reply: from the reply when given (its class forced to agree
 * with the reply code, as Postfix does), else derived from the reply code's class.
 */
export function replyDsn(reply: SmtpReply): string {
  const klass = reply.code >= 500 ? 5 : reply.code >= 400 ? 4 : reply.code >= 200 ? 2 : 4;
  const m = ENHANCED.exec(lineText(reply.lines[0] ?? ""));
  if (m !== null) return `${klass}.${m[2]}.${m[3]}`;
  return `${klass}.0.0`;
}

/** The whole reply on one line, as Postfix logs it: lines joined by a space. */
export function replyText(reply: SmtpReply): string {
  return reply.lines.join(" ");
}

/** The reply with its class changed from 5 to 4 (a 5xx treated as temporary). */
export function softenDsn(dsn: string): string {
  return dsn.startsWith("5.") ? `4${dsn.slice(1)}` : dsn;
}
