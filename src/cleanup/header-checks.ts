/**
 * header_checks(5): each logical header, unfolded, is looked up in the $header_checks tables
 * (normally regexp: or pcre:); the first result is an action. Supported actions: REJECT, DEFER,
 * HOLD, DISCARD, WARN, INFO, IGNORE, PREPEND, REPLACE, REDIRECT, BCC, DUNNO, OK.
 */
import type { LookupTable } from "../config/types.ts";
import type { Header } from "./headers.ts";

export type HeaderVerdict =
  | { kind: "reject"; code: number; enhanced: string; text: string; header: string }
  | { kind: "hold"; text: string; header: string }
  | { kind: "discard"; text: string; header: string };

export interface HeaderCheckResult {
  headers: Header[];
  /** The first final verdict (REJECT/DEFER win over HOLD/DISCARD, as they end the message). */
  verdict?: HeaderVerdict;
  /** Log lines ("warning: header ...", "info: header ...") for the caller to write. */
  notes: {
    action: "warning" | "info" | "hold" | "discard" | "redirect" | "bcc";
    header: string;
    text: string;
  }[];
  redirect?: string;
  bcc: string[];
}

/** Logical header text used as lookup key: folded lines joined (CRLF removed). */
export function unfold(raw: string): string {
  return raw.replace(/\r\n/g, "");
}

/** "REJECT 5.7.1 no spam here" -> {action, text}; numeric codes for REJECT/DEFER. */
function parseAction(value: string): { action: string; text: string } {
  const trimmed = value.trim();
  const sp = trimmed.search(/\s/);
  if (sp === -1) return { action: trimmed.toUpperCase(), text: "" };
  return { action: trimmed.slice(0, sp).toUpperCase(), text: trimmed.slice(sp + 1).trim() };
}

/** Split an optional leading enhanced status code off a text ("5.7.1 go away"). */
function splitEnhanced(text: string, fallback: string): { enhanced: string; text: string } {
  const m = /^([245]\.\d{1,3}\.\d{1,3})\s+(.*)$/s.exec(text);
  if (m) return { enhanced: m[1], text: m[2] };
  return { enhanced: fallback, text };
}

export function applyHeaderChecks(tables: LookupTable[], headers: Header[]): HeaderCheckResult {
  const result: HeaderCheckResult = { headers: [], notes: [], bcc: [] };
  if (tables.length === 0) {
    result.headers = headers;
    return result;
  }
  for (const h of headers) {
    const key = unfold(h.raw);
    let value: string | undefined;
    for (const t of tables) {
      value = t.lookup(key);
      if (value !== undefined) break;
    }
    if (value === undefined) {
      result.headers.push(h);
      continue;
    }
    const { action, text } = parseAction(value);
    const shown = key.length > 200 ? `${key.slice(0, 200)}...` : key;
    switch (action) {
      case "REJECT": {
        const e = splitEnhanced(text, "5.7.1");
        result.verdict ??= {
          kind: "reject",
          code: e.enhanced.startsWith("4") ? 450 : 550,
          enhanced: e.enhanced,
          text: e.text || "message content rejected",
          header: shown,
        };
        result.headers.push(h);
        break;
      }
      case "DEFER": {
        const e = splitEnhanced(text, "4.7.1");
        result.verdict ??= {
          kind: "reject",
          code: 450,
          enhanced: e.enhanced.replace(/^5/, "4"),
          text: e.text || "message content deferred",
          header: shown,
        };
        result.headers.push(h);
        break;
      }
      case "HOLD":
        if (!result.verdict) result.verdict = { kind: "hold", text, header: shown };
        result.notes.push({ action: "hold", header: shown, text });
        result.headers.push(h);
        break;
      case "DISCARD":
        if (!result.verdict || result.verdict.kind === "hold")
          result.verdict = { kind: "discard", text, header: shown };
        result.notes.push({ action: "discard", header: shown, text });
        result.headers.push(h);
        break;
      case "WARN":
        result.notes.push({ action: "warning", header: shown, text });
        result.headers.push(h);
        break;
      case "INFO":
        result.notes.push({ action: "info", header: shown, text });
        result.headers.push(h);
        break;
      case "IGNORE":
        break;
      case "PREPEND": {
        const colon = text.indexOf(":");
        if (colon > 0) result.headers.push({ name: text.slice(0, colon).trim(), raw: text });
        result.headers.push(h);
        break;
      }
      case "REPLACE": {
        const colon = text.indexOf(":");
        if (colon > 0) result.headers.push({ name: text.slice(0, colon).trim(), raw: text });
        else result.headers.push(h);
        break;
      }
      case "REDIRECT":
        result.redirect = text;
        result.notes.push({ action: "redirect", header: shown, text });
        result.headers.push(h);
        break;
      case "BCC":
        if (text) result.bcc.push(text);
        result.notes.push({ action: "bcc", header: shown, text });
        result.headers.push(h);
        break;
      default:
        // DUNNO, OK, FILTER and unknown actions leave the header alone (Postfix logs unknown ones).
        result.headers.push(h);
    }
  }
  return result;
}
