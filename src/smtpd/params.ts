/**
 * ESMTP parameters of MAIL FROM and RCPT TO: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030),
 * SMTPUTF8 (RFC 6531), RET/ENVID/NOTIFY/ORCPT (RFC 3461, RFC 6533 for utf-8 ORCPT), AUTH
 * (RFC 4954 section 5). Pure functions: text in, parsed values or an SmtpError out. Reply texts
 * follow Postfix's smtpd.
 */
import type { DsnNotify } from "../queue/types.ts";
import { xtextDecode } from "../rewrite/address.ts";
import { SmtpError } from "./reply.ts";

export interface MailParams {
  /** SIZE=, the client's estimate; undefined when not given. */
  size?: number;
  body?: "7BIT" | "8BITMIME" | "BINARYMIME";
  smtputf8: boolean;
  ret?: "FULL" | "HDRS";
  /** ENVID, xtext-decoded. */
  envid?: string;
  /** AUTH=, xtext-decoded; "" for AUTH=<>. Accepted and passed to the auth seam only. */
  auth?: string;
}

export interface RcptParams {
  notify?: DsnNotify[];
  /** "type;address", the address decoded (xtext, or RFC 6533 unitext for utf-8). */
  orcpt?: string;
}

/** What the session offers, which decides which parameters exist. */
export interface ParamFeatures {
  dsn: boolean;
  smtputf8: boolean;
  binarymime: boolean;
}

function words(params: string): string[] {
  return params.split(/[ \t]+/).filter((w) => w.length > 0);
}

function keyOf(word: string): { key: string; value: string | undefined } {
  const eq = word.indexOf("=");
  return eq === -1
    ? { key: word.toUpperCase(), value: undefined }
    : { key: word.slice(0, eq).toUpperCase(), value: word.slice(eq + 1) };
}

const unsupported = (w: string) => new SmtpError(555, "5.5.4", `Unsupported option: ${w}`);
const dsnOff = () => new SmtpError(501, "5.7.1", "DSN support is disabled");
const duplicate = (key: string) => new SmtpError(501, "5.5.4", `Error: duplicate ${key} parameter`);

/** True when SMTPUTF8 is among the MAIL parameters (it decides the address syntax first). */
export function declaresSmtputf8(params: string, f: ParamFeatures): boolean {
  if (!f.smtputf8) return false;
  return words(params).some((w) => w.toUpperCase() === "SMTPUTF8");
}

export function parseMailParams(params: string, f: ParamFeatures): MailParams {
  const out: MailParams = { smtputf8: false };
  const seen = new Set<string>();
  for (const w of words(params)) {
    const { key, value } = keyOf(w);
    if (seen.has(key) && key !== "RET" && key !== "ENVID") throw duplicate(key);
    switch (key) {
      case "SIZE":
        if (value === undefined || !/^\d{1,20}$/.test(value))
          throw new SmtpError(501, "5.5.4", "Bad message size syntax");
        out.size = Number(value);
        if (!Number.isSafeInteger(out.size))
          throw new SmtpError(552, "5.3.4", "Message size exceeds file system imposed limit");
        break;
      case "BODY": {
        const v = value?.toUpperCase();
        if (v === "7BIT" || v === "8BITMIME") out.body = v;
        else if (v === "BINARYMIME" && f.binarymime) out.body = v;
        else throw unsupported(w);
        break;
      }
      case "SMTPUTF8":
        if (value !== undefined || !f.smtputf8) throw unsupported(w);
        out.smtputf8 = true;
        break;
      case "RET": {
        if (!f.dsn) throw dsnOff();
        const v = value?.toUpperCase();
        if (seen.has(key) || (v !== "FULL" && v !== "HDRS"))
          throw new SmtpError(501, "5.5.4", "Bad RET parameter syntax");
        out.ret = v;
        break;
      }
      case "ENVID": {
        if (!f.dsn) throw dsnOff();
        const v = value === undefined ? null : xtextDecode(value);
        // RFC 3461 4.4: at most 100 characters, printable ASCII after decoding.
        if (
          seen.has(key) ||
          v === null ||
          v.length === 0 ||
          v.length > 100 ||
          !/^[\x20-\x7e]*$/.test(v)
        )
          throw new SmtpError(501, "5.5.4", "Bad ENVID parameter syntax");
        out.envid = v;
        break;
      }
      case "AUTH": {
        const v = value === "<>" ? "" : value === undefined ? null : xtextDecode(value);
        if (v === null) throw new SmtpError(501, "5.5.4", "Bad AUTH parameter syntax");
        out.auth = v;
        break;
      }
      default:
        throw unsupported(w);
    }
    seen.add(key);
  }
  return out;
}

const NOTIFY_WORDS = new Set(["NEVER", "SUCCESS", "FAILURE", "DELAY"]);

export function parseRcptParams(params: string, f: ParamFeatures): RcptParams {
  const out: RcptParams = {};
  for (const w of words(params)) {
    const { key, value } = keyOf(w);
    if (key === "NOTIFY") {
      if (!f.dsn) throw dsnOff();
      const list = (value ?? "").toUpperCase().split(",");
      const ok =
        out.notify === undefined &&
        list.every((n) => NOTIFY_WORDS.has(n)) &&
        new Set(list).size === list.length &&
        (!list.includes("NEVER") || list.length === 1);
      if (!ok) throw new SmtpError(501, "5.5.4", "Error: Bad NOTIFY parameter syntax");
      out.notify = list as DsnNotify[];
    } else if (key === "ORCPT") {
      if (!f.dsn) throw dsnOff();
      const decoded = out.orcpt === undefined && value !== undefined ? decodeOrcpt(value) : null;
      if (decoded === null) throw new SmtpError(501, "5.5.4", "Error: Bad ORCPT parameter syntax");
      out.orcpt = decoded;
    } else throw unsupported(w);
  }
  return out;
}

/** `addr-type ";" xtext` (RFC 3461 4.2); utf-8 addresses use RFC 6533 `\x{HEX}` escapes. */
function decodeOrcpt(value: string): string | null {
  const semi = value.indexOf(";");
  if (semi <= 0) return null;
  const type = value.slice(0, semi);
  if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(type)) return null;
  const coded = value.slice(semi + 1);
  const addr = type.toLowerCase() === "utf-8" ? unitextDecode(coded) : xtextDecode(coded);
  if (addr === null || addr.length === 0 || addr.length > 500) return null;
  for (let i = 0; i < addr.length; i++) if (addr.charCodeAt(i) < 32) return null;
  return `${type};${addr}`;
}

/** RFC 6533 3.2 utf-8-addr-xtext / unitext: UTF-8 text with `\x{HEX}` escapes. */
function unitextDecode(s: string): string | null {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") {
      const m = /^\\x\{([0-9A-Fa-f]{1,6})\}/.exec(s.slice(i, i + 11));
      if (!m) return null;
      const cp = Number.parseInt(m[1], 16);
      if (cp > 0x10ffff) return null;
      out += String.fromCodePoint(cp);
      i += m[0].length - 1;
    } else if (c === "+" || c === "=" || c.charCodeAt(0) < 33) return null;
    else out += c;
  }
  return out;
}
