/**
 * Typed main.cf values: yes/no, whole numbers, times, sizes, choices, and the splitting of
 * comma/white-space separated lists with Postfix 3 `{ ... }` grouping.
 */
import type { ParamDef } from "./params.ts";

const TIME_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Postfix accepts yes/no in any case; anything else is an error, not "false". */
export function parseBool(text: string): boolean | undefined {
  const v = text.toLowerCase();
  if (v === "yes") return true;
  if (v === "no") return false;
  return undefined;
}

export function parseInteger(text: string): number | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Seconds. A bare number is in `unit` (Postfix's per-parameter default time unit). */
export function parseTime(text: string, unit: string = "s"): number | undefined {
  const m = /^(\d+)([smhdw]?)$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]) * TIME_UNITS[m[2] || unit]!;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Bytes; k/m/g (any case) are binary multiples, a posteix extension to Postfix. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)([kmg]?)$/i.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!;
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Checks an expanded value against its declaration; returns the reason it is bad, or null.
 * The text is what goes after "file, line N: ".
 */
export function checkValue(name: string, def: ParamDef, value: string): string | null {
  const v = value.trim();
  switch (def.type) {
    case "bool":
      return parseBool(v) === undefined
        ? `bad bool value "${v}" for ${name} (use yes or no)`
        : null;
    case "int":
      return parseInteger(v) === undefined ? `bad int value "${v}" for ${name}` : null;
    case "time":
      return parseTime(v, def.unit) === undefined ? `bad time value "${v}" for ${name}` : null;
    case "size":
      return parseSize(v) === undefined ? `bad size value "${v}" for ${name}` : null;
    case "list":
      return checkBraces(v, name);
    case "tables": {
      const bad = checkBraces(v, name);
      if (bad) return bad;
      for (const spec of splitList(v)) {
        if (!/^[A-Za-z][\w-]*:/.test(spec)) {
          return `bad table "${spec}" for ${name}: need type:name`;
        }
      }
      return null;
    }
    case "string":
      if (def.choices && !def.choices.includes(v)) {
        return `bad value "${v}" for ${name} (choose from: ${def.choices.join(", ")})`;
      }
      return null;
  }
}

/** Unbalanced braces make every later list element wrong, so they are reported up front. */
export function checkBraces(text: string, name: string): string | null {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth < 0) return `unbalanced "}" in value of ${name}`;
  }
  return depth > 0 ? `missing "}" in value of ${name}` : null;
}

const isSep = (c: number): boolean => c === 0x2c || c === 0x20 || c === 0x09 || c === 0x0a;

/**
 * Splits on commas and/or white space. `{ ... }` keeps white space and commas inside one element
 * (`inline:{ a=b, c=d }` is one element); an element that is wholly `{ text }` becomes `text`.
 */
export function splitList(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && isSep(text.charCodeAt(i))) i++;
    if (i >= n) break;
    const start = i;
    let depth = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x7b) depth++;
      else if (c === 0x7d && depth > 0) depth--;
      else if (depth === 0 && isSep(c)) break;
      i++;
    }
    const token = text.slice(start, i);
    if (
      token.startsWith("{") &&
      token.endsWith("}") &&
      matchingBrace(token, 0) === token.length - 1
    ) {
      const inner = token.slice(1, -1).trim();
      if (inner) out.push(inner);
    } else {
      out.push(token);
    }
  }
  return out;
}

/** Index of the `}` closing the `{` at `open`, or -1. */
export function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return i;
  }
  return -1;
}

/** `{ text }` → `text` (trimmed); anything else unchanged but trimmed. */
export function stripBraces(text: string): string {
  const t = text.trim();
  if (t.startsWith("{") && matchingBrace(t, 0) === t.length - 1) return t.slice(1, -1).trim();
  return t;
}

/**
 * Splits `name = value` as Postfix's split_nameval() does: white space around both is trimmed;
 * returns the error text Postfix uses when it is not of that form.
 */
export function splitNameValue(text: string): { name: string; value: string } | { error: string } {
  const t = text.trimStart();
  if (t === "" || t.startsWith("=")) return { error: "missing attribute name" };
  const m = /^([^\s=]+)\s*=([\s\S]*)$/.exec(t);
  if (!m) return { error: "missing '=' after attribute name" };
  return { name: m[1]!, value: m[2]!.trim() };
}
