/**
 * aliases(5) values: a comma-separated list of destinations, each an address, "/file",
 * "|command" or ":include:/file" (whose lines hold more destinations); a destination with
 * commas or white space in it is quoted ("|/usr/bin/prog -x"). Pure apart from reading
 * :include: files.
 */

import { readFile } from "node:fs/promises";

export type AliasItem =
  | { kind: "address"; address: string; noAlias: boolean }
  | { kind: "file"; path: string }
  | { kind: "command"; command: string }
  | { kind: "include"; path: string };

/** Splits a value at commas outside double quotes. */
function splitList(value: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "\\" && quoted && i + 1 < value.length) {
      cur += c + value[i + 1];
      i++;
    } else if (c === '"') {
      quoted = !quoted;
      cur += c;
    } else if ((c === "," || c === "\n") && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== "");
}

function unquote(s: string): string {
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"'))
    return s.slice(1, -1).replace(/\\(.)/g, "$1");
  return s;
}

export function parseAliasValue(value: string): AliasItem[] {
  const items: AliasItem[] = [];
  for (const raw of splitList(value)) {
    let t = unquote(raw);
    if (t.startsWith("<") && t.endsWith(">")) t = t.slice(1, -1).trim();
    if (t === "") continue;
    if (t.startsWith("|")) items.push({ kind: "command", command: t.slice(1).trim() });
    else if (t.toLowerCase().startsWith(":include:"))
      items.push({ kind: "include", path: t.slice(9).trim() });
    else if (t.startsWith("/")) items.push({ kind: "file", path: t });
    else if (t.startsWith("\\"))
      items.push({ kind: "address", address: t.slice(1), noAlias: true });
    else items.push({ kind: "address", address: t, noAlias: false });
  }
  return items;
}

/** The destinations of an :include: file ("#" comment lines ignored). */
export async function readInclude(path: string): Promise<AliasItem[]> {
  const text = await readFile(path, "utf8");
  const lines = text
    .split("\n")
    .filter((l) => !l.trimStart().startsWith("#"))
    .join("\n");
  return parseAliasValue(lines);
}
