/**
 * RFC 5321 / RFC 6531 envelope addresses: parse a MAIL/RCPT path, quote and unquote local parts.
 *
 * Internal form (as Postfix's): the local part is unquoted (`"a b"@x` becomes `a b@x`), the domain
 * keeps its case here (lowercased by resolve), a source route is dropped (RFC 5321 4.1.1.3 says
 * MUST accept and SHOULD ignore it). External form re-quotes a local part that needs it.
 *
 * Pure functions, no I/O: fuzzed by test/rewrite.
 */

export interface ParsedPath {
  /** Internal form; "" for the null path <>. */
  address: string;
  /** Text after the path: ESMTP parameters. */
  params: string;
  /** The client put the address in angle brackets. */
  bracketed: boolean;
}

export class AddressError extends Error {
  constructor(
    /** SMTP reply code 501 (syntax) or 553 (mailbox name not allowed). */
    readonly code: 501 | 553,
    readonly enhanced: string,
    message: string,
  ) {
    super(message);
  }
}

// atext per RFC 5322 3.2.3, as a byte lookup table.
const ATEXT = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
  ATEXT[c.charCodeAt(0)] = 1;

function isAtext(code: number, utf8: boolean): boolean {
  return code < 128 ? ATEXT[code] === 1 : utf8;
}

/** Let-dig / Ldh-str sub-domain, or a U-label when SMTPUTF8 is on. */
function validDomain(domain: string, utf8: boolean): boolean {
  if (domain.length === 0 || domain.length > 255) return false;
  if (domain.startsWith("[")) return validAddressLiteral(domain);
  // A trailing dot (absolute name) is tolerated here and removed by resolve.
  const labels = (domain.endsWith(".") ? domain.slice(0, -1) : domain).split(".");
  for (const label of labels) {
    if (label.length === 0 || label.length > 63) return false;
    for (let i = 0; i < label.length; i++) {
      const c = label.charCodeAt(i);
      const ok =
        (c >= 48 && c <= 57) ||
        (c >= 65 && c <= 90) ||
        (c >= 97 && c <= 122) ||
        (c === 45 && i > 0 && i < label.length - 1) ||
        (c >= 128 && utf8);
      // Postfix accepts underscores in practice; so do we (many real hosts have them).
      if (!ok && c !== 95) return false;
    }
  }
  return true;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s: string): boolean {
  return IPV4.test(s);
}

export function isIPv6(s: string): boolean {
  if (s.length < 2 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  const dbl = s.indexOf("::");
  if (dbl !== s.lastIndexOf("::")) return false;
  let parts = s.split(":");
  let groups = 8;
  const last = parts[parts.length - 1];
  if (last.includes(".")) {
    if (!isIPv4(last)) return false;
    groups = 6;
    parts = parts.slice(0, -1);
    if (dbl !== -1 && s.endsWith(`::${last}`)) parts.push("");
  }
  if (dbl === -1)
    return parts.length === groups && parts.every((p) => /^[0-9a-fA-F]{1,4}$/.test(p));
  const nonEmpty = parts.filter((p) => p !== "");
  return nonEmpty.length < groups && nonEmpty.every((p) => /^[0-9a-fA-F]{1,4}$/.test(p));
}

function validAddressLiteral(lit: string): boolean {
  if (!lit.endsWith("]")) return false;
  const inner = lit.slice(1, -1);
  if (isIPv4(inner)) return true;
  if (inner.toLowerCase().startsWith("ipv6:")) return isIPv6(inner.slice(5));
  return false;
}

/** True when a local part can be sent as a Dot-string, unquoted. */
function isDotString(local: string, utf8: boolean): boolean {
  if (local.length === 0 || local.startsWith(".") || local.endsWith(".")) return false;
  for (let i = 0; i < local.length; i++) {
    const c = local.charCodeAt(i);
    if (c === 46) {
      if (local.charCodeAt(i + 1) === 46) return false;
    } else if (!isAtext(c, utf8)) return false;
  }
  return true;
}

/** External (RFC 5321) form of an internal address: quote the local part when needed. */
export function externalForm(address: string): string {
  if (address === "") return "";
  const at = address.lastIndexOf("@");
  const local = at === -1 ? address : address.slice(0, at);
  const domain = at === -1 ? "" : address.slice(at);
  if (isDotString(local, true)) return address;
  return `"${local.replace(/(["\\])/g, "\\$1")}"${domain}`;
}

/** Split an internal address at its last "@". */
export function splitAddress(address: string): { local: string; domain: string } {
  const at = address.lastIndexOf("@");
  if (at === -1) return { local: address, domain: "" };
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

/**
 * Parse the argument of MAIL FROM: / RCPT TO: (the text after the colon).
 * Accepts Postfix's common leniencies unless `strict`: white space after the colon and a path
 * without angle brackets. The null path is allowed only when `allowNull`.
 */
export function parsePath(
  arg: string,
  opts: { utf8: boolean; strict: boolean; allowNull: boolean },
): ParsedPath {
  let s = arg.replace(/^[ \t]+/, "");
  let bracketed = false;
  let pathText: string;
  if (s.startsWith("<")) {
    bracketed = true;
    const end = findPathEnd(s);
    if (end === -1) throw new AddressError(501, "5.1.7", "Bad address syntax");
    pathText = s.slice(1, end);
    s = s.slice(end + 1);
    if (s.length > 0 && s[0] !== " " && s[0] !== "\t")
      throw new AddressError(501, "5.5.4", "Syntax error in parameters");
  } else {
    if (opts.strict) throw new AddressError(501, "5.1.7", "Bad address syntax");
    const sp = s.search(/[ \t]/);
    pathText = sp === -1 ? s : s.slice(0, sp);
    s = sp === -1 ? "" : s.slice(sp);
    if (pathText.length === 0) throw new AddressError(501, "5.1.7", "Bad address syntax");
  }
  const params = s.trim();
  if (pathText === "") {
    if (!opts.allowNull) throw new AddressError(501, "5.1.3", "Bad recipient address syntax");
    return { address: "", params, bracketed };
  }
  return { address: parseMailbox(pathText, opts.utf8), params, bracketed };
}

/** Index of the ">" closing a path that starts at 0, honouring quoted strings. */
function findPathEnd(s: string): number {
  let quoted = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ">") return i;
    else if (c === "<") return -1;
  }
  return -1;
}

/** Parse `[@route,@route:]local@domain` (or a bare local part) into internal form. */
export function parseMailbox(text: string, utf8: boolean): string {
  let s = text;
  // Source route (RFC 5321 4.1.2 A-d-l): drop it, keep the mailbox.
  if (s.startsWith("@")) {
    const colon = s.indexOf(":");
    if (colon === -1) throw new AddressError(501, "5.1.7", "Bad address syntax");
    for (const hop of s.slice(0, colon).split(",")) {
      if (!hop.startsWith("@") || !validDomain(hop.slice(1), utf8))
        throw new AddressError(501, "5.1.7", "Bad address syntax");
    }
    s = s.slice(colon + 1);
  }
  let local: string;
  let rest: string;
  if (s.startsWith('"')) {
    let i = 1;
    let out = "";
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 34) break;
      if (c === 92) {
        const n = s.charCodeAt(i + 1);
        if (!(n >= 32 && n <= 126)) throw new AddressError(501, "5.1.7", "Bad address syntax");
        out += s[i + 1];
        i++;
      } else if ((c >= 32 && c <= 126) || (c >= 128 && utf8)) out += s[i];
      else throw new AddressError(501, "5.1.7", "Bad address syntax");
    }
    if (i >= s.length) throw new AddressError(501, "5.1.7", "Bad address syntax");
    local = out;
    rest = s.slice(i + 1);
    if (rest !== "" && !rest.startsWith("@"))
      throw new AddressError(501, "5.1.7", "Bad address syntax");
  } else {
    const at = s.lastIndexOf("@");
    local = at === -1 ? s : s.slice(0, at);
    rest = at === -1 ? "" : s.slice(at);
    // Postfix accepts unquoted local parts with "@" (user@remote@us) and resolves them like
    // quoted ones; relay control must then look at the whole thing, so keep it.
    for (const part of local.split("@")) {
      if (!isDotString(part, utf8)) throw new AddressError(501, "5.1.7", "Bad address syntax");
    }
  }
  if (local.length > 64 * 4) throw new AddressError(501, "5.1.7", "Bad address syntax");
  if (rest === "") {
    // <"user@remote"> with no domain: its internal form would read as another address.
    if (local.includes("@")) throw new AddressError(501, "5.1.7", "Bad address syntax");
    return local;
  }
  const domain = rest.slice(1);
  if (!validDomain(domain, utf8)) throw new AddressError(501, "5.1.7", "Bad address syntax");
  return `${local}@${domain}`;
}

/** True when an address contains non-ASCII characters (needs SMTPUTF8 on the next hop). */
export function isNonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return true;
  return false;
}

/**
 * Decode RFC 3461 xtext (`+2B` escapes), as used by ORCPT and ENVID.
 * Returns null on malformed input.
 */
export function xtextDecode(s: string): string | null {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 43) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return null;
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 2;
    } else if (c < 33 || c > 126 || c === 61) return null;
    else out += s[i];
  }
  return out;
}

export function xtextEncode(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126 || c === 43 || c === 61)
      out += `+${c.toString(16).toUpperCase().padStart(2, "0")}`;
    else out += s[i];
  }
  return out;
}
