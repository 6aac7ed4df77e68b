/**
 * texthash: and hash: tables, read straight from their postmap(1) source text (no .db step):
 * `key whitespace value` per logical line, `#` comments, continuation lines. Keys are
 * case-insensitive. Lines in aliases(5) form (`name: value, value`, the name optionally quoted)
 * are read as postalias(1) does, so the same reader serves alias_maps; the value keeps its commas.
 * The first of duplicate keys wins, with a warning, as postmap does.
 */
import { logicalLines } from "./lines.ts";
import type { TableContext } from "./table-types.ts";
import { readTableFile, tablePath } from "./table-types.ts";
import type { LookupTable } from "./types.ts";

// A colon followed by white space (or the end) after the first word: aliases(5) syntax. IPv6 keys
// such as 2001:db8::1 never have white space after a colon, so they stay postmap keys.
const ALIAS_LINE = /^("(?:[^"\\]|\\.)*"|[^\s:"]+):(?:\s+|$)([\s\S]*)$/;

export function parseTextTable(
  text: string,
  file: string,
  warn: TableContext["warn"],
): Map<string, string> {
  const map = new Map<string, string>();
  for (const l of logicalLines(text)) {
    let key: string;
    let value: string;
    const a = ALIAS_LINE.exec(l.text);
    if (a) {
      key = a[1]!.startsWith('"') ? a[1]!.slice(1, -1).replace(/\\(.)/g, "$1") : a[1]!;
      value = a[2]!.trim();
      if (value === "") {
        warn({ severity: "warning", file, line: l.line, message: "expected format: name: value" });
        continue;
      }
    } else {
      const m = /^(\S+)\s+(\S[\s\S]*)$/.exec(l.text);
      if (!m) {
        warn({
          severity: "warning",
          file,
          line: l.line,
          message: `expected format: key whitespace value`,
        });
        continue;
      }
      key = m[1]!;
      value = m[2]!.trim();
    }
    key = key.toLowerCase();
    if (map.has(key)) {
      warn({ severity: "warning", file, line: l.line, message: `duplicate entry: "${key}"` });
      continue;
    }
    map.set(key, value);
  }
  return map;
}

export function openTextTable(name: string, ctx: TableContext, spec: string): LookupTable {
  const file = tablePath(name, ctx);
  const map = parseTextTable(readTableFile(file), file, ctx.warn);
  return { spec, lookup: (key) => map.get(key.toLowerCase()) };
}
