/**
 * inline:{ key=value, { key = value with spaces } } and static:value / static:{ value } tables,
 * written in main.cf itself (Postfix 3 syntax). inline: keys are case-insensitive.
 */
import type { TableContext } from "./table-types.ts";
import { TableSpecError } from "./table-types.ts";
import type { LookupTable } from "./types.ts";
import { matchingBrace, splitList, splitNameValue, stripBraces } from "./values.ts";

export function openInlineTable(name: string, _ctx: TableContext, spec: string): LookupTable {
  const t = name.trim();
  if (!t.startsWith("{") || matchingBrace(t, 0) !== t.length - 1) {
    throw new TableSpecError(`${spec}: need inline:{name=value, ...}`);
  }
  const map = new Map<string, string>();
  for (const element of splitList(t.slice(1, -1))) {
    const nv = splitNameValue(element);
    if ("error" in nv) throw new TableSpecError(`${spec}: ${nv.error}: "${element}"`);
    const key = nv.name.toLowerCase();
    if (!map.has(key)) map.set(key, nv.value);
  }
  return { spec, lookup: (key) => map.get(key.toLowerCase()) };
}

export function openStaticTable(name: string, _ctx: TableContext, spec: string): LookupTable {
  const value = stripBraces(name);
  return { spec, lookup: () => value };
}
