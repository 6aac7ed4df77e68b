/**
 * Text formats shared by the queue tools, byte for byte as Postfix prints them:
 *
 *   mailq / postqueue -p   Postfix's showq_compat.c (the Sendmail-style listing)
 *   postqueue -j           Postfix's showq_json.c (one JSON object per line, Postfix 3.1+)
 *   asctime()              the C library's asctime(localtime(t)), used by mailq and postcat
 *
 * Pure functions: the queue records come in, text goes out. Times are local unless a time zone
 * is given (tests pin one; the C tools use the TZ environment variable the same way).
 */
import type { MessageRecord, QueueState } from "../queue/types.ts";

export interface TimeOptions {
  /** IANA time zone such as "UTC" or "Europe/Paris"; undefined = the process's local time. */
  timeZone?: string;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

interface TimeParts {
  weekday: number; // 0 = Sunday
  month: number; // 0 = January
  day: number;
  hour: number;
  minute: number;
  second: number;
  year: number;
}

const zoneFormatters = new Map<string, Intl.DateTimeFormat>();

function zoneParts(ms: number, timeZone: string): TimeParts {
  let fmt = zoneFormatters.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      weekday: "short",
    });
    zoneFormatters.set(timeZone, fmt);
  }
  const p: TimeParts = { weekday: 0, month: 0, day: 1, hour: 0, minute: 0, second: 0, year: 1970 };
  for (const part of fmt.formatToParts(ms)) {
    switch (part.type) {
      case "weekday":
        p.weekday = DAYS.indexOf(part.value);
        break;
      case "month":
        p.month = Number(part.value) - 1;
        break;
      case "day":
        p.day = Number(part.value);
        break;
      case "hour":
        p.hour = Number(part.value);
        break;
      case "minute":
        p.minute = Number(part.value);
        break;
      case "second":
        p.second = Number(part.value);
        break;
      case "year":
        p.year = Number(part.value);
        break;
    }
  }
  return p;
}

function localParts(ms: number): TimeParts {
  const d = new Date(ms);
  return {
    weekday: d.getDay(),
    month: d.getMonth(),
    day: d.getDate(),
    hour: d.getHours(),
    minute: d.getMinutes(),
    second: d.getSeconds(),
    year: d.getFullYear(),
  };
}

const two = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * asctime(3) without its newline: "Sat Nov 28 10:00:00 2020", the day of the month padded
 * with a space ("Nov  8"), as the C library's "%.3s %.3s%3d %.2d:%.2d:%.2d %d" does.
 */
export function asctime(ms: number, opts: TimeOptions = {}): string {
  const p = opts.timeZone ? zoneParts(ms, opts.timeZone) : localParts(ms);
  const day = p.day < 10 ? `  ${p.day}` : ` ${p.day}`;
  return `${DAYS[p.weekday]} ${MONTHS[p.month]}${day} ${two(p.hour)}:${two(p.minute)}:${two(p.second)} ${p.year}`;
}

/** Postfix's printable(s, '?'): control characters become "?" (UTF-8 text is kept). */
export function printable(s: string): string {
  // Fast path: most addresses have no control characters at all.
  let clean = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) {
      clean = false;
      break;
    }
  }
  return clean ? s : s.replace(/[\x00-\x1f\x7f]/g, "?");
}

const SPECIALS = new Set(["(", ")", "<", ">", "@", ",", ";", ":", "\\", '"', "[", "]", " "]);

function isDotString(local: string): boolean {
  if (local === "" || local[0] === "." || local[local.length - 1] === ".") return false;
  for (let i = 0; i < local.length; i++) {
    const ch = local[i];
    const c = local.charCodeAt(i);
    if (ch === "." && local[i + 1] === ".") return false;
    if (c < 0x20 || c === 0x7f || SPECIALS.has(ch)) return false;
  }
  return true;
}

/**
 * Postfix's quote_822_local(): the local part is quoted when it is not an RFC 822 dot-string
 * (`"john doe"@example.com`); 8-bit text is left alone; a source route prefix is kept as is.
 */
export function quote822Local(address: string): string {
  let start = 0;
  if (address[0] === "@") {
    const colon = address.indexOf(":");
    if (colon >= 0) start = colon + 1;
  }
  const at = address.lastIndexOf("@");
  const end = at >= start ? at : address.length;
  const local = address.slice(start, end);
  if (isDotString(local)) return address;
  let quoted = '"';
  for (const ch of local) {
    if (ch === '"' || ch === "\\" || ch === "\r") quoted += "\\";
    quoted += ch;
  }
  return `${address.slice(0, start)}${quoted}"${address.slice(end)}`;
}

/** An address as showq reports it: quoted local part, control characters as "?". */
export function showqAddress(address: string, empty = "MAILER-DAEMON"): string {
  return printable(quote822Local(address === "" ? empty : address));
}

/** One recipient line of a showq report (Postfix's orcpt/recipient/log class/reason tuple). */
export interface ShowqRecipient {
  orig: string;
  address: string;
  /** "defer" for a delayed recipient, "bounce" for a failed one not yet returned, else "". */
  logClass: "defer" | "bounce" | "";
  why: string;
}

/**
 * The recipients showq lists for a message, in showq's order: first those with a reason (the
 * defer logfile's, then the bounce logfile's), then the remaining recipients still to deliver.
 * Delivered recipients are not listed. A failed recipient is only listed while its message
 * waits for its bounce (state "bounce"), as Postfix 3.11 lists its bounce logfile.
 */
export function showqRecipients(msg: MessageRecord): ShowqRecipient[] {
  const withReason: ShowqRecipient[] = [];
  const bounced: ShowqRecipient[] = [];
  const rest: ShowqRecipient[] = [];
  for (const r of msg.recipients) {
    const address = showqAddress(r.address);
    const orig = r.original ? showqAddress(r.original) : address;
    if (r.status === "deferred" && r.diagnostic) {
      withReason.push({ orig, address, logClass: "defer", why: printable(r.diagnostic) });
    } else if (r.status === "pending" || r.status === "deferred") {
      rest.push({ orig, address, logClass: "", why: "" });
    } else if (msg.state === "bounce" && (r.status === "bounced" || r.status === "expired")) {
      bounced.push({ orig, address, logClass: "bounce", why: printable(r.diagnostic ?? "") });
    }
  }
  return withReason.concat(bounced, rest);
}

/** Postfix's queue names for our states (the same words: incoming, active, deferred, hold). */
export function postfixQueueName(state: QueueState): string {
  return state;
}

// showq_compat.c, short queue IDs: "%-11s %7s %-20s %s\n" and "%-11s %7ld %20.20s %s\n".
export const MAILQ_HEADER = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n";
const RECIPIENT_INDENT = " ".repeat(41);

/** The mailq lines of one message (no blank separator line). */
export function formatMailqEntry(msg: MessageRecord, opts: TimeOptions = {}): string {
  let idStatus = msg.id;
  if (msg.state === "active") idStatus += "*";
  else if (msg.state === "hold") idStatus += "!";
  else if (msg.state === "corrupt") idStatus += "#";
  // %20.20s of asctime(): the first 20 characters, which end with the space before the year.
  const when = asctime(msg.arrivalTime, opts).slice(0, 20);
  let out = `${idStatus.padEnd(11)} ${String(msg.size).padStart(7)} ${when} ${showqAddress(msg.sender)}\n`;
  let savedReason = "";
  if (msg.state === "corrupt") {
    // Ours, not Postfix's (its showq skips corrupt/): say why the message is set aside.
    const why = printable(msg.reason ? `corrupt: ${msg.reason}` : "corrupt");
    out += `${" ".repeat(Math.max(0, 76 - why.length))}(${why})\n`;
  }
  for (const r of showqRecipients(msg)) {
    // A "(reason)" line when the reason changes; "(reason unavailable)" after one with reason.
    if (r.why !== savedReason) {
      savedReason = r.why;
      const show = savedReason !== "" ? savedReason : "reason unavailable";
      out += `${" ".repeat(Math.max(0, 76 - show.length))}(${show})\n`;
    }
    out += `${RECIPIENT_INDENT}${r.address}\n`;
  }
  return out;
}

/** The last line of a mailq listing ("Mail queue is empty" when there was nothing). */
export function formatMailqSummary(totalBytes: number, count: number): string {
  if (count === 0) return "Mail queue is empty\n";
  return `\n-- ${Math.floor(totalBytes / 1024)} Kbytes in ${count} Request${count === 1 ? "" : "s"}.\n`;
}

/**
 * Postfix's quote_for_json(): backslash before `"` and `\`, the usual short escapes, \uXXXX
 * for other control characters; everything else (UTF-8 included) as is.
 */
export function quoteForJson(s: string): string {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x22 || c === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) {
      if (ch === "\b") out += "\\b";
      else if (ch === "\f") out += "\\f";
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (ch === "\t") out += "\\t";
      else out += `\\u${c.toString(16).toUpperCase().padStart(4, "0")}`;
    } else if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

const REASON_KEY = { defer: "delay_reason", bounce: "bounce_reason", "": "other_reason" } as const;

/** One line of `postqueue -j` (showq_json.c), with its newline. */
export function formatJsonEntry(msg: MessageRecord): string {
  let out =
    `{"queue_name": "${quoteForJson(postfixQueueName(msg.state))}", ` +
    `"queue_id": "${quoteForJson(msg.id)}", ` +
    `"arrival_time": ${Math.floor(msg.arrivalTime / 1000)}, ` +
    `"message_size": ${msg.size}, ` +
    `"forced_expire": false, ` +
    `"sender": "${quoteForJson(showqAddress(msg.sender))}", ` +
    `"recipients": [`;
  let n = 0;
  for (const r of showqRecipients(msg)) {
    if (n++ > 0) out += ", ";
    out += `{"orig_address": "${quoteForJson(r.orig)}", "address": "${quoteForJson(r.address)}"`;
    if (r.why !== "") out += `, "${REASON_KEY[r.logClass]}": "${quoteForJson(r.why)}"`;
    out += "}";
  }
  return `${out}]}\n`;
}

/** Postfix's showq scan order: active first, then incoming, deferred, hold; ours last. */
export const SHOWQ_ORDER: readonly QueueState[] = [
  "active",
  "incoming",
  "deferred",
  "hold",
  "bounce",
  "corrupt",
];
