/**
 * access(5) tables for the SMTP server: the actions a table value can hold, parsed into a
 * typed action, and the tables named in restriction lists, opened once per configuration.
 * The effects of an action (reject, hold, recursion into restrictions) are restrictions.ts's.
 */

import { openTable } from "../config/tables.ts";
import type { Config, LookupTable } from "../config/types.ts";

export type AccessAction =
  /** OK, RELAY, or an all-numeric value (Postfix: "some out-of-band authentication"). */
  | { kind: "ok"; name: string }
  | { kind: "dunno" }
  /** REJECT [text]: $access_map_reject_code. */
  | { kind: "reject"; dsn: string; text: string }
  /** DEFER [text]: $access_map_defer_code. */
  | { kind: "defer"; dsn: string; text: string }
  /** "4NN text" / "5NN text". */
  | { kind: "code"; code: number; dsn: string; text: string }
  | { kind: "defer_if_permit"; dsn: string; text: string }
  | { kind: "defer_if_reject"; dsn: string; text: string }
  | { kind: "hold"; text: string }
  | { kind: "discard"; text: string }
  | { kind: "prepend"; header: string }
  | { kind: "warn"; text: string }
  | { kind: "info"; text: string }
  | { kind: "filter"; destination: string }
  | { kind: "redirect"; address: string }
  | { kind: "bcc"; address: string }
  /** Anything else: restriction names (a restriction class, "permit_mynetworks reject"...). */
  | { kind: "restrictions"; list: string[] }
  /** A value that cannot be used (logged as a configuration error; replies 451 4.3.5). */
  | { kind: "error"; reason: string };

const DSN_RE = /^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)/;

/** Postfix's dsn_split(): an optional leading RFC 3463 code, else the default. */
export function splitDsn(defaultDsn: string, text: string): { dsn: string; text: string } {
  const m = DSN_RE.exec(text);
  if (!m) return { dsn: defaultDsn, text };
  return { dsn: `${m[1]}.${m[2]}.${m[3]}`, text: text.slice(m[0].length) };
}

/** A header line as PREPEND needs it: "Name: value". */
function isHeader(text: string): boolean {
  return /^[!-9;-~]+:/.test(text);
}

/** Parse one access(5) value (check_table_result in Postfix's smtpd_check.c). */
export function parseAccessValue(value: string): AccessAction {
  const v = value.trim();
  const sp = v.search(/[ \t]/);
  const cmd = sp === -1 ? v : v.slice(0, sp);
  const rest = sp === -1 ? "" : v.slice(sp).trim();
  const word = cmd.toUpperCase();
  switch (word) {
    case "DUNNO":
      return { kind: "dunno" };
    case "OK":
    case "RELAY":
      return { kind: "ok", name: word };
    case "REJECT":
      return { kind: "reject", ...splitDsn("5.7.1", rest) };
    case "DEFER":
      return { kind: "defer", ...splitDsn("4.7.1", rest) };
    case "DEFER_IF_PERMIT":
      return { kind: "defer_if_permit", ...splitDsn("4.7.1", rest) };
    case "DEFER_IF_REJECT":
      return { kind: "defer_if_reject", ...splitDsn("4.7.1", rest) };
    case "HOLD":
      return { kind: "hold", text: rest };
    case "DISCARD":
      return { kind: "discard", text: rest };
    case "WARN":
      return { kind: "warn", text: rest };
    case "INFO":
      return { kind: "info", text: rest };
    case "PREPEND":
      if (!isHeader(rest))
        return { kind: "error", reason: `PREPEND requires header: text: "${v}"` };
      return { kind: "prepend", header: rest };
    case "FILTER":
      if (!rest.includes(":"))
        return { kind: "error", reason: `FILTER requires transport:destination: "${v}"` };
      return { kind: "filter", destination: rest };
    case "REDIRECT":
    case "BCC":
      if (!rest.includes("@"))
        return { kind: "error", reason: `${word} requires user@domain target: "${v}"` };
      return word === "REDIRECT"
        ? { kind: "redirect", address: rest }
        : { kind: "bcc", address: rest };
  }
  if (/^\d+$/.test(v)) return { kind: "ok", name: v };
  if (/^[45]\d\d$/.test(cmd) && rest !== "") {
    return { kind: "code", code: Number(cmd), ...splitDsn(`${cmd[0]}.7.1`, rest) };
  }
  // Postfix refuses tables inside access values: restriction classes are the way to do that.
  if (v.includes(":"))
    return { kind: "error", reason: `access table value with lookup table: ${v}` };
  const list = v.split(/[\s,]+/).filter((x) => x !== "");
  if (list.length === 0) return { kind: "ok", name: "" };
  return { kind: "restrictions", list };
}

/**
 * Postfix's smtpd_dsn_fix(): an address DSN (X.1.Y) from a table is made to fit what is
 * being rejected, so a sender reject never says "bad destination mailbox".
 */
export function fixDsn(status: string, replyClass: string): string {
  if (!/^\d\.1\.\d+$/.test(status)) return status;
  const micro = status.slice(4);
  const sender: Record<string, string> = {
    "1": "4.1.7",
    "2": "4.1.8",
    "3": "4.1.7",
    "4": "4.1.7",
    "5": "4.1.0",
    "6": "4.1.7",
    "7": "4.1.7",
    "8": "4.1.8",
  };
  const rcpt: Record<string, string> = {
    "1": "4.1.1",
    "2": "4.1.2",
    "3": "4.1.3",
    "4": "4.1.4",
    "5": "4.1.5",
    "6": "4.1.6",
    "7": "4.1.3",
    "8": "4.1.2",
  };
  let fixed: string;
  if (replyClass === "Sender address") fixed = sender[micro] ?? "4.1.0";
  else if (replyClass === "Recipient address") fixed = rcpt[micro] ?? "4.1.0";
  else fixed = "4.0.0";
  return `${status[0]}${fixed.slice(1)}`;
}

const tableCache = new WeakMap<Config, Map<string, LookupTable>>();

/** A table named in a restriction list, opened once per Config. Throws on a bad spec. */
export function restrictionTable(cfg: Config, spec: string): LookupTable {
  let m = tableCache.get(cfg);
  if (!m) {
    m = new Map();
    tableCache.set(cfg, m);
  }
  let t = m.get(spec);
  if (!t) {
    t = openTable(spec, { baseDir: cfg.configDir ?? process.cwd(), config: cfg });
    m.set(spec, t);
  }
  return t;
}
