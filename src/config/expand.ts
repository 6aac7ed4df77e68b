/**
 * `$name` expansion as in Postfix's mac_expand(): `$name`, `${name}`, `$(name)`,
 * `${name?text}` (text when name is non-empty), `${name:text}` (text when name is empty),
 * `${name?{text1}:{text2}}`, and `$$` for a literal dollar. The text of conditionals is itself
 * expanded, so forms nest. Values are parsed once into nodes and cached.
 */

type Node = string | Ref;

interface Ref {
  readonly name: string;
  /** value: the value itself; ifSet: `a` when non-empty else `b`; ifEmpty: value, or `b` when empty. */
  readonly kind: "value" | "ifSet" | "ifEmpty";
  readonly a: readonly Node[];
  readonly b: readonly Node[];
}

/** Thrown for malformed `${...}`; the caller adds file and line. */
export class ExpandSyntaxError extends Error {}

const NAME_RE = /^[A-Za-z0-9_]+/;
const cache = new Map<string, readonly Node[]>();
const CACHE_LIMIT = 10000;

function closing(text: string, open: number): number {
  const o = text[open]!;
  const c = o === "{" ? "}" : ")";
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === o) depth++;
    else if (ch === c && --depth === 0) return i;
  }
  return -1;
}

/** `{text}` → text, when the braces enclose the whole string. */
function unbrace(text: string): string {
  const t = text.trim();
  if (t.startsWith("{") && closing(t, 0) === t.length - 1) return t.slice(1, -1);
  return text;
}

function parseInner(inner: string, whole: string): Ref {
  const m = NAME_RE.exec(inner);
  if (!m) throw new ExpandSyntaxError(`bad macro syntax "${whole}"`);
  const name = m[0];
  const rest = inner.slice(name.length);
  if (rest === "") return { name, kind: "value", a: [], b: [] };
  const op = rest[0];
  const arg = rest.slice(1);
  if (op === "?") {
    // Postfix 3 form ${name?{a}:{b}}
    const t = arg.trim();
    if (t.startsWith("{")) {
      const end = closing(t, 0);
      const after = end >= 0 ? t.slice(end + 1).trim() : "";
      if (end >= 0 && after.startsWith(":")) {
        return {
          name,
          kind: "ifSet",
          a: parse(t.slice(1, end)),
          b: parse(unbrace(after.slice(1))),
        };
      }
    }
    return { name, kind: "ifSet", a: parse(unbrace(arg)), b: [] };
  }
  if (op === ":") return { name, kind: "ifEmpty", a: [], b: parse(unbrace(arg)) };
  throw new ExpandSyntaxError(`bad macro syntax "${whole}"`);
}

/** Parses text into literal strings and references. Throws ExpandSyntaxError. */
export function parse(text: string): readonly Node[] {
  const hit = cache.get(text);
  if (hit) return hit;
  const nodes: Node[] = [];
  let lit = "";
  let i = 0;
  while (i < text.length) {
    const d = text.indexOf("$", i);
    if (d < 0) {
      lit += text.slice(i);
      break;
    }
    lit += text.slice(i, d);
    const next = text[d + 1];
    if (next === "$") {
      lit += "$";
      i = d + 2;
    } else if (next === "{" || next === "(") {
      const end = closing(text, d + 1);
      if (end < 0) {
        throw new ExpandSyntaxError(`missing "${next === "{" ? "}" : ")"}" in "${text.slice(d)}"`);
      }
      if (lit) nodes.push(lit);
      lit = "";
      nodes.push(parseInner(text.slice(d + 2, end), text.slice(d, end + 1)));
      i = end + 1;
    } else {
      const m = NAME_RE.exec(text.slice(d + 1));
      if (m) {
        if (lit) nodes.push(lit);
        lit = "";
        nodes.push({ name: m[0], kind: "value", a: [], b: [] });
        i = d + 1 + m[0].length;
      } else {
        // A lone "$" is kept as text.
        lit += "$";
        i = d + 1;
      }
    }
  }
  if (lit) nodes.push(lit);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(text, nodes);
  return nodes;
}

/** Returns the expanded value of a name, or undefined when no such parameter exists. */
export type NameLookup = (name: string) => string | undefined;

function run(
  nodes: readonly Node[],
  lookup: NameLookup,
  onUndefined?: (name: string) => void,
): string {
  let out = "";
  for (const n of nodes) {
    if (typeof n === "string") {
      out += n;
      continue;
    }
    const v = lookup(n.name);
    if (v === undefined && n.kind === "value") onUndefined?.(n.name);
    const value = v ?? "";
    if (n.kind === "value") out += value;
    else if (n.kind === "ifSet") out += run(value !== "" ? n.a : n.b, lookup, onUndefined);
    else out += value !== "" ? value : run(n.b, lookup, onUndefined);
  }
  return out;
}

/** Expands text; undefined names become empty and are reported to onUndefined. */
export function expandText(
  text: string,
  lookup: NameLookup,
  onUndefined?: (name: string) => void,
): string {
  if (!text.includes("$")) return text;
  return run(parse(text), lookup, onUndefined);
}

/** Every name referenced by text; `conditional` when only tested by `?`/`:` (no warning if undefined). */
export function references(text: string): { name: string; conditional: boolean }[] {
  if (!text.includes("$")) return [];
  const out: { name: string; conditional: boolean }[] = [];
  const walk = (nodes: readonly Node[]): void => {
    for (const n of nodes) {
      if (typeof n === "string") continue;
      out.push({ name: n.name, conditional: n.kind !== "value" });
      walk(n.a);
      walk(n.b);
    }
  };
  walk(parse(text));
  return out;
}
