/**
 * master.cf (master(5)): `service type private unpriv chroot wakeup maxproc command [args]`,
 * continuation lines, `-o name=value` and `-o { name = value with spaces }` overrides. Also the
 * built-in master.cf used when there is none, and the `postconf -M` line format.
 */
import { logicalLines } from "./lines.ts";
import type { ConfigDiagnostic, MasterService } from "./types.ts";
import { matchingBrace, splitNameValue } from "./values.ts";

/** A parsed service, with its normalized fields for `postconf -M`. */
export interface MasterEntry extends MasterService {
  /** Normalized words: 8 fields, then options (`-o` `name=value`) and arguments. */
  readonly argv: readonly string[];
  /** maxproc was "-" (filled from $default_process_limit). */
  readonly defaultMaxproc: boolean;
}

export const DEFAULT_MASTER_CF = `# posteix master.cf: the services posteix runs, in Postfix master(5) syntax.
# After a change, run "posteix reload". See "postconf -M" for what is in effect.
#
# An inet service name is [host:]port; a bare port (or smtp, submission, smtps)
# listens on every address in $inet_interfaces. Options: -o name=value, or
# -o { name = value with spaces }.
#
# ==========================================================================
# service type  private unpriv  chroot  wakeup  maxproc command + args
#               (yes)   (yes)   (no)    (never) (100)
# ==========================================================================
# SMTP, on the loopback interface. For mail from the Internet use:
# smtp      inet  n       -       n       -       -       smtpd
127.0.0.1:2525 inet n   -       n       -       -       smtpd
# Message submission (RFC 6409): STARTTLS, then AUTH, before relaying.
127.0.0.1:2587 inet n   -       n       -       -       smtpd
  -o syslog_name=posteix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
# Message submission over implicit TLS (RFC 8314).
127.0.0.1:2465 inet n   -       n       -       -       smtpd
  -o syslog_name=posteix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
# ==========================================================================
# Delivery agents. A transport name (default_transport, relay_transport,
# transport_maps results) is a service name below.
# ==========================================================================
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
  -o syslog_name=posteix/relay
lmtp      unix  -       -       n       -       -       lmtp
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
discard   unix  -       -       n       -       -       discard
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
`;

const TYPES = new Set(["inet", "unix", "unix-dgram", "fifo", "pass"]);
const PORTS: Record<string, number> = {
  smtp: 25,
  submission: 587,
  smtps: 465,
  submissions: 465,
  lmtp: 24,
};

/** Splits on blanks; `{ ... }` is one word (braces kept). */
function words(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    const start = i;
    let depth = 0;
    while (i < text.length) {
      const c = text[i]!;
      if (c === "{") depth++;
      else if (c === "}" && depth > 0) depth--;
      else if (depth === 0 && /\s/.test(c)) break;
      i++;
    }
    out.push(text.slice(start, i));
  }
  return out;
}

function unbrace(word: string): string | null {
  if (!word.startsWith("{")) return word;
  if (matchingBrace(word, 0) !== word.length - 1) return null;
  return word.slice(1, -1).trim();
}

/** host/port of an inet service name: "smtp", "2525", "127.0.0.1:2525", "[::1]:2525". */
export function parseInetName(name: string): { host: string; port: number } | { error: string } {
  let host = "";
  let port = name;
  const m = /^\[([^\]]*)\]:(.*)$/.exec(name);
  if (m) {
    host = m[1]!;
    port = m[2]!;
  } else {
    const colon = name.lastIndexOf(":");
    if (colon >= 0) {
      host = name.slice(0, colon);
      port = name.slice(colon + 1);
      if (host.includes(":")) return { error: `IPv6 address must be in [brackets]: "${name}"` };
    }
  }
  if (/^\d+$/.test(port)) {
    const n = Number(port);
    if (n > 65535) return { error: `bad port number "${port}"` };
    return { host, port: n };
  }
  const known = PORTS[port];
  if (known === undefined) return { error: `unknown service name "${port}"` };
  return { host, port: known };
}

export interface ParsedMasterCf {
  services: MasterEntry[];
  diagnostics: ConfigDiagnostic[];
}

export function parseMasterCf(
  text: string,
  file: string,
  defaultProcessLimit: number,
): ParsedMasterCf {
  const services: MasterEntry[] = [];
  const diagnostics: ConfigDiagnostic[] = [];
  const seen = new Set<string>();
  for (const l of logicalLines(text)) {
    const err = (message: string): void => {
      diagnostics.push({ severity: "error", file, line: l.line, message });
    };
    if (l.indented) {
      err(`logical line must not start with white space: "${l.text}"`);
      continue;
    }
    const w = words(l.text);
    if (w.length < 8) {
      err(
        `bad field count: need service type private unpriv chroot wakeup maxproc command: "${l.text}"`,
      );
      continue;
    }
    const [name, type, priv, unpriv, chroot, wakeup, maxproc, command] = w as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (!TYPES.has(type)) {
      err(`invalid type field "${type}" (use inet, unix, unix-dgram, fifo or pass)`);
      continue;
    }
    let bad = false;
    for (const [field, v] of [
      ["private", priv],
      ["unpriv", unpriv],
      ["chroot", chroot],
    ] as const) {
      if (!/^[yn-]$/.test(v)) {
        err(`invalid ${field} field "${v}" (use y, n or -)`);
        bad = true;
      }
    }
    if (!/^(-|\d+\??)$/.test(wakeup)) {
      err(`invalid wakeup field "${wakeup}"`);
      bad = true;
    }
    if (!/^(-|\d+)$/.test(maxproc)) {
      err(`invalid maxproc field "${maxproc}"`);
      bad = true;
    }
    if (type === "inet" && priv === "y") {
      err(`inet service cannot be private: "${name}"`);
      bad = true;
    }
    let host: string | undefined;
    let port: number | undefined;
    if (type === "inet") {
      const hp = parseInetName(name);
      if ("error" in hp) {
        err(hp.error);
        bad = true;
      } else {
        host = hp.host;
        port = hp.port;
      }
    }
    const argv: string[] = w.slice(0, 8);
    const args: string[] = [];
    const overrides: Record<string, string> = {};
    let i = 8;
    for (; i < w.length; i++) {
      const a = w[i]!;
      if (!a.startsWith("-") || a === "--") break;
      if (!a.startsWith("-o")) {
        args.push(a);
        argv.push(a);
        continue;
      }
      let v: string | undefined = a.length > 2 ? a.slice(2) : w[++i];
      if (v === undefined) {
        err("-o without name=value");
        bad = true;
        break;
      }
      const inner = unbrace(v);
      if (inner === null) {
        err(`bad -o "${v}": missing "}"`);
        bad = true;
        continue;
      }
      v = inner;
      const nv = splitNameValue(v);
      if ("error" in nv) {
        err(`bad -o "${v}": ${nv.error}`);
        bad = true;
        continue;
      }
      overrides[nv.name] = nv.value;
      argv.push("-o", `${nv.name}=${nv.value}`);
    }
    for (; i < w.length; i++) {
      const a = unbrace(w[i]!) ?? w[i]!;
      args.push(a);
      argv.push(a);
    }
    const key = `${name}/${type}`;
    if (!bad && seen.has(key)) {
      err(`duplicate service: ${key}`);
      bad = true;
    }
    if (bad) continue;
    seen.add(key);
    const flag = (v: string, def: boolean): boolean => (v === "-" ? def : v === "y");
    services.push({
      name,
      type: type as MasterService["type"],
      private: flag(priv, type !== "inet"),
      unpriv: flag(unpriv, true),
      chroot: flag(chroot, false),
      wakeup,
      maxproc: maxproc === "-" ? defaultProcessLimit : Number(maxproc),
      command,
      args,
      overrides,
      file,
      line: l.line,
      ...(type === "inet" ? { host, port } : {}),
      argv,
      defaultMaxproc: maxproc === "-",
    });
  }
  return { services, diagnostics };
}

const COLUMNS = [0, 11, 17, 25, 33, 41, 49, 57];
const LINE_LIMIT = 80;
const INDENT = "    ";

/**
 * One service as `postconf -M` prints it: the eight fields at Postfix's column positions, then
 * options and arguments; with fold, long lines wrap with an indent and each -o starts a line.
 * `expand` (postconf -Mx) is applied to -o values.
 */
export function formatMasterEntry(
  argv: readonly string[],
  fold = false,
  expand: (value: string) => string = (v) => v,
): string {
  let out = "";
  let len = 0;
  const add = (s: string): void => {
    out += s;
    len += s.length;
  };
  for (let f = 0; f < 8 && f < argv.length; f++) {
    if (len > 0) {
      do add(" ");
      while (len < COLUMNS[f]!);
    }
    add(argv[f]!);
  }
  let options = true;
  for (let f = 8; f < argv.length; f++) {
    const arg = argv[f]!;
    let argLen = arg.length;
    let aval: string | undefined;
    let parens = false;
    if (options && (!arg.startsWith("-") || arg === "--")) options = false;
    if (options && arg === "-o" && argv[f + 1] !== undefined) {
      len = LINE_LIMIT; // each -o starts a new line when folding
      aval = expand(argv[f + 1]!);
      argLen += aval.length + 3;
      parens = /\s/.test(aval);
      if (parens) argLen += 2;
    } else if (!options) {
      parens = /\s/.test(arg);
    }
    if (len > INDENT.length) {
      if (!fold || len + 1 + argLen < LINE_LIMIT) add(" ");
      else {
        out += `\n${INDENT}`;
        len = INDENT.length;
      }
    }
    add(!options && parens ? `{${arg}}` : arg);
    if (aval !== undefined) {
      add(parens ? ` {${aval}}` : ` ${aval}`);
      f++;
      len = LINE_LIMIT;
    }
  }
  return out;
}
