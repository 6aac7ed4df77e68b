/**
 * regexp: tables (regexp_table(5)) and pcre: tables (pcre_table(5)), both run on JavaScript
 * regular expressions. A logical line is `/pattern/flags result` or `!/pattern/flags result`;
 * `if /pattern/flags` ... `endif` blocks nest; `$1`..`$9` (also `${1}`) in the result take the
 * matched groups, `$$` is a dollar. regexp: patterns are POSIX extended expressions translated
 * to JavaScript (bracket classes such as [[:digit:]], \< and \>, and with the x flag toggled, basic
 * expressions); pcre: patterns are taken as they are. The first matching rule wins; the whole
 * lookup key is matched.
 *
 * Deviations: `\d`/`\D` keep their JavaScript meaning in regexp: patterns (POSIX has no such
 * escape); matching is JavaScript's leftmost-first, not POSIX leftmost-longest; pcre's U and X
 * flags are not supported.
 */
import { configError } from "./errors.ts";
import { logicalLines } from "./lines.ts";
import type { TableContext } from "./table-types.ts";
import { readTableFile, tablePath } from "./table-types.ts";
import type { LookupTable } from "./types.ts";

type Flavor = "regexp" | "pcre";

interface Rule {
  readonly re: RegExp;
  readonly negate: boolean;
  /** For an `if`: index just after its block; -1 for a pattern with a result. */
  end: number;
  /** Result split into literal text and group numbers. */
  readonly result: readonly (string | number)[];
}

const POSIX_CLASSES: Record<string, string> = {
  alpha: "a-zA-Z",
  digit: "0-9",
  alnum: "a-zA-Z0-9",
  upper: "A-Z",
  lower: "a-z",
  space: " \\t\\n\\v\\f\\r",
  blank: " \\t",
  punct: "!-\\/:-@\\[-`{-~",
  print: "\\x20-\\x7e",
  graph: "\\x21-\\x7e",
  cntrl: "\\x00-\\x1f\\x7f",
  xdigit: "0-9A-Fa-f",
  word: "\\w",
};

const escapeChar = (c: string): string => (/[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c);

/** Translates a POSIX bracket expression starting at src[i] === "["; returns [js, next index]. */
function translateBracket(src: string, start: number): [string, number] {
  let i = start + 1;
  let out = "[";
  if (src[i] === "^") {
    out += "^";
    i++;
  }
  if (src[i] === "]") {
    out += "\\]";
    i++;
  }
  while (i < src.length && src[i] !== "]") {
    const c = src[i]!;
    if (c === "[" && (src[i + 1] === ":" || src[i + 1] === "=" || src[i + 1] === ".")) {
      const kind = src[i + 1]!;
      const close = src.indexOf(`${kind}]`, i + 2);
      if (close < 0) throw new Error(`unterminated [${kind} in bracket expression`);
      const body = src.slice(i + 2, close);
      if (kind === ":") {
        const cls = POSIX_CLASSES[body];
        if (cls === undefined) throw new Error(`unknown character class [:${body}:]`);
        out += cls;
      } else {
        out += [...body].map(escapeChar).join("");
      }
      i = close + 2;
      continue;
    }
    // In a POSIX bracket expression a backslash is an ordinary character.
    out += c === "\\" || c === "[" ? `\\${c}` : c;
    i++;
  }
  if (i >= src.length) throw new Error("brackets ([ ]) not balanced");
  return [`${out}]`, i + 1];
}

/** POSIX extended (or, with basic=true, basic) regular expression → JavaScript source. */
export function translatePosix(src: string, basic: boolean): string {
  let out = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "[") {
      const [js, next] = translateBracket(src, i);
      out += js;
      i = next;
      continue;
    }
    if (c === "\\") {
      const d = src[i + 1];
      i += 2;
      if (d === undefined) throw new Error("trailing backslash (\\)");
      if (basic && "(){}|+?".includes(d)) out += d;
      else if (d === "<") out += "\\b(?=\\w)";
      else if (d === ">") out += "\\b(?<=\\w)";
      else if (d === "`") out += "(?<![\\s\\S])";
      else if (d === "'") out += "(?![\\s\\S])";
      else if (/[wWsSbBdD1-9]/.test(d)) out += `\\${d}`;
      else out += escapeChar(d);
      continue;
    }
    if (basic && "(){}|+?".includes(c)) {
      out += `\\${c}`;
    } else if (c === "{") {
      // An interval only when well formed; otherwise a literal brace, as GNU regcomp.
      const m = /^\{\d+(,\d*)?\}/.exec(src.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length;
        continue;
      }
      out += "\\{";
    } else if (c === "}" || c === "/") {
      out += `\\${c}`;
    } else {
      out += c;
    }
    i++;
  }
  return out;
}

/** pcre x flag: drop white space and #-comments outside character classes. */
function stripExtended(src: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === "\\") {
      out += c + (src[i + 1] ?? "");
      i++;
    } else if (inClass) {
      if (c === "]") inClass = false;
      out += c;
    } else if (c === "[") {
      inClass = true;
      out += c;
    } else if (/\s/.test(c)) {
      // skipped
    } else if (c === "#") {
      while (i < src.length && src[i] !== "\n") i++;
    } else {
      out += c;
    }
  }
  return out;
}

interface ParsedPattern {
  re: RegExp;
  negate: boolean;
  rest: string;
}

function parsePattern(text: string, flavor: Flavor, fail: (msg: string) => never): ParsedPattern {
  let s = text;
  let negate = false;
  if (s.startsWith("!")) {
    negate = true;
    s = s.slice(1).trimStart();
  }
  const delim = s[0];
  if (delim === undefined || /[\sA-Za-z0-9\\]/.test(delim)) {
    fail(`no pattern delimiter, expected "/pattern/flags result": "${text}"`);
  }
  let i = 1;
  while (i < s.length && s[i] !== delim) i += s[i] === "\\" ? 2 : 1;
  if (i >= s.length) fail(`missing closing "${delim}" of pattern: "${text}"`);
  const pattern = s.slice(1, i);
  let j = i + 1;
  while (j < s.length && /[A-Za-z]/.test(s[j]!)) j++;
  const flagText = s.slice(i + 1, j);
  if (j < s.length && !/\s/.test(s[j]!)) fail(`bad text after pattern: "${text}"`);
  let icase = true;
  let extended = true; // regexp: x toggles POSIX extended syntax (default on)
  let multiline = false;
  let dotall = false;
  let pcreExtended = false;
  let anchored = false;
  for (const f of flagText) {
    if (f === "i") icase = !icase;
    else if (f === "m") multiline = !multiline;
    else if (f === "x" && flavor === "regexp") extended = !extended;
    else if (f === "x") pcreExtended = !pcreExtended;
    else if (f === "s" && flavor === "pcre") dotall = !dotall;
    else if (f === "A" && flavor === "pcre") anchored = !anchored;
    else if (f === "E" && flavor === "pcre") {
      // PCRE_DOLLAR_ENDONLY: JavaScript's $ without the m flag already matches only at the end.
    } else fail(`unknown ${flavor} option "${f}": "${text}"`);
  }
  let source: string;
  try {
    if (flavor === "regexp") {
      source = translatePosix(pattern, !extended);
      // POSIX "." matches a newline unless REG_NEWLINE (the m flag) is set.
      dotall = !multiline;
    } else {
      source = pcreExtended ? stripExtended(pattern) : pattern;
    }
    if (anchored) source = `^(?:${source})`;
  } catch (e) {
    fail(`bad pattern "${pattern}": ${(e as Error).message}`);
  }
  const flags = (icase ? "i" : "") + (multiline ? "m" : "") + (dotall ? "s" : "");
  let re: RegExp;
  try {
    re = new RegExp(source, flags);
  } catch (e) {
    fail(`bad pattern "${pattern}": ${(e as Error).message}`);
  }
  return { re, negate, rest: s.slice(j).trim() };
}

function groupCount(re: RegExp): number {
  return new RegExp(`${re.source}|`, re.flags).exec("")!.length - 1;
}

function parseResult(
  text: string,
  groups: number,
  negate: boolean,
  fail: (msg: string) => never,
): (string | number)[] {
  const parts: (string | number)[] = [];
  let lit = "";
  const re = /\$(?:\$|(\d)|\{(\d+)\}|\((\d+)\))/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    lit += text.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[0] === "$$") {
      lit += "$";
      continue;
    }
    const n = Number(m[1] ?? m[2] ?? m[3]);
    if (negate) fail(`$number found in negative match replacement text: "${text}"`);
    if (n > groups) fail(`out of range replacement index "${m[0]}": "${text}"`);
    if (lit) parts.push(lit);
    lit = "";
    parts.push(n);
  }
  lit += text.slice(last);
  if (lit) parts.push(lit);
  return parts;
}

export function parseRegexpTable(text: string, file: string, flavor: Flavor): Rule[] {
  const rules: Rule[] = [];
  const open: { index: number; line: number }[] = [];
  for (const l of logicalLines(text)) {
    const fail = (msg: string): never => {
      throw configError(file, l.line, msg);
    };
    const t = l.text.trim();
    const kw = /^(if|endif)\b\s*/i.exec(t);
    if (kw && kw[1]!.toLowerCase() === "endif") {
      if (t.length > kw[0].length) fail(`extra text after endif: "${t}"`);
      const o = open.pop();
      if (!o) fail("endif without matching if");
      rules[o!.index]!.end = rules.length;
      continue;
    }
    if (kw) {
      const p = parsePattern(t.slice(kw[0].length), flavor, fail);
      if (p.rest !== "") fail(`extra text after if pattern: "${t}"`);
      open.push({ index: rules.length, line: l.line });
      rules.push({ re: p.re, negate: p.negate, end: rules.length + 1, result: [] });
      continue;
    }
    const p = parsePattern(t, flavor, fail);
    if (p.rest === "") fail(`missing result after pattern: "${t}"`);
    rules.push({
      re: p.re,
      negate: p.negate,
      end: -1,
      result: parseResult(p.rest, groupCount(p.re), p.negate, fail),
    });
  }
  const o = open.pop();
  if (o) throw configError(file, o.line, "if without matching endif");
  return rules;
}

function substitute(parts: readonly (string | number)[], m: RegExpExecArray): string {
  let out = "";
  for (const p of parts) out += typeof p === "number" ? (m[p] ?? "") : p;
  return out;
}

export function regexpLookup(rules: readonly Rule[], key: string): string | undefined {
  let i = 0;
  while (i < rules.length) {
    const r = rules[i]!;
    if (r.end >= 0) {
      i = r.re.test(key) !== r.negate ? i + 1 : r.end;
      continue;
    }
    i++;
    if (r.negate) {
      // A negated rule's result has no $number (checked when parsed).
      if (!r.re.test(key)) return r.result.join("");
      continue;
    }
    const m = r.re.exec(key);
    if (m) return substitute(r.result, m);
  }
  return undefined;
}

export function openRegexpTable(
  name: string,
  ctx: TableContext,
  spec: string,
  flavor: Flavor,
): LookupTable {
  const file = tablePath(name, ctx);
  const rules = parseRegexpTable(readTableFile(file), file, flavor);
  return { spec, lookup: (key) => regexpLookup(rules, key) };
}
