/**
 * Small text helpers for notices: RFC 5322 dates, Postfix-style line wrapping, and masking of
 * untrusted text (remote replies, ORCPT) before it goes into a header field or a report line.
 */

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** RFC 5322 section 3.3 date-time in local time, e.g. "Tue, 5 Nov 2024 10:30:41 +0100". */
export function mailDate(time: number | Date): string {
  const d = new Date(time);
  const offset = -d.getTimezoneOffset();
  const abs = Math.abs(offset);
  const zone = `${offset < 0 ? "-" : "+"}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
  return (
    `${DAYS[d.getDay()]}, ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${zone}`
  );
}

/**
 * Mask what must not reach a header field or a report line: control characters (a decoded
 * xtext ORCPT or a remote reply may hold CR/LF, which would inject fields) and, unless the
 * notice is SMTPUTF8, non-ASCII characters. Postfix's bounce log reader does the same.
 */
export function printable(text: string, utf8: boolean): string {
  const masked = text.replace(/[\t\r\n]+/g, " ").replace(/[\x00-\x1f\x7f]/g, "?");
  return utf8 ? masked : masked.replace(/[^\x20-\x7e]/g, "?");
}

/** Longest run without a space kept on one line (RFC 5322 section 2.1.1 allows 998). */
const HARD_WIDTH = 900;

/**
 * Break a long line at spaces into lines of at most `width` characters where possible;
 * continuation lines are indented by `indent` spaces, which also makes them valid folded
 * header-field lines (Postfix wraps report lines at 79 columns with an indent of 4).
 */
export function wrapLine(text: string, width = 79, indent = 4): string[] {
  if (text.length <= width) return [text];
  const lines: string[] = [];
  const pad = " ".repeat(indent);
  let rest = text;
  let first = true;
  for (let guard = 0; guard < 100_000; guard++) {
    const prefix = first ? "" : pad;
    const room = width - prefix.length;
    if (rest.length <= room) {
      lines.push(prefix + rest);
      break;
    }
    let cut = rest.lastIndexOf(" ", room);
    if (cut <= 0) cut = rest.indexOf(" ", room);
    if (cut <= 0 || cut > HARD_WIDTH) {
      // One word too long for any line: cut it, or the line would break RFC 5322's limit.
      if (rest.length <= HARD_WIDTH) {
        lines.push(prefix + rest);
        break;
      }
      lines.push(prefix + rest.slice(0, HARD_WIDTH));
      rest = rest.slice(HARD_WIDTH);
      first = false;
      continue;
    }
    lines.push(prefix + rest.slice(0, cut));
    rest = rest.slice(cut + 1).trimStart();
    first = false;
    if (rest === "") break;
  }
  return lines;
}

/** A duration as a whole number when it is one, else with one decimal: "4", "0.5". */
export function amount(value: number): string {
  const rounded = Math.round(value * 10) / 10;
  return Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(1);
}

/** True when the string has a character outside US-ASCII. */
export function hasNonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return true;
  return false;
}
