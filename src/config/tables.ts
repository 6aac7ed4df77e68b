/**
 * The lookup table registry: every `type:name` in main.cf is opened through openTable(), and
 * components add types with registerTableType() (the queue adds `users:`) without this folder
 * knowing them. Built in: texthash, hash, inline, static, regexp, pcre, cidr, unix; `proxy:` is
 * accepted and ignored (there is no proxymap process to go through).
 */
import { openCidrTable } from "./table-cidr.ts";
import { openInlineTable, openStaticTable } from "./table-inline.ts";
import { openRegexpTable } from "./table-regexp.ts";
import { openTextTable } from "./table-text.ts";
import type { TableContext, TableFactory, TableTypeOptions } from "./table-types.ts";
import { TableSpecError } from "./table-types.ts";
import { openUnixTable } from "./table-unix.ts";
import type { LookupTable } from "./types.ts";

export type { TableContext, TableFactory, TableTypeOptions } from "./table-types.ts";
export { TableSpecError, tablePath } from "./table-types.ts";

const factories = new Map<string, { factory: TableFactory; pattern: boolean }>();

export function registerTableType(
  type: string,
  factory: TableFactory,
  options: TableTypeOptions = {},
): void {
  factories.set(type, { factory, pattern: options.pattern ?? false });
}

/** Remove a registered type; returns its factory so a caller (a test) can put it back. */
export function unregisterTableType(
  type: string,
): { factory: TableFactory; options: TableTypeOptions } | undefined {
  const entry = factories.get(type);
  factories.delete(type);
  return entry && { factory: entry.factory, options: { pattern: entry.pattern } };
}

export function isTableTypeRegistered(type: string): boolean {
  return factories.has(type);
}

/** `proxy:hash:/x` → `hash:/x`. */
function unproxy(spec: string): string {
  return spec.startsWith("proxy:") ? spec.slice(6) : spec;
}

/** The type part of a table spec ("texthash" for "texthash:/etc/x"); "" when there is none. */
export function tableType(spec: string): string {
  const s = unproxy(spec);
  const colon = s.indexOf(":");
  return colon > 0 ? s.slice(0, colon) : "";
}

const patternCache = new WeakMap<LookupTable, boolean>();

/** Is this a regexp:/pcre:/cidr:-like table (whole-key queries only)? Cached per table. */
export function isPatternTable(table: LookupTable): boolean {
  let p = patternCache.get(table);
  if (p === undefined) {
    p = factories.get(tableType(table.spec))?.pattern ?? false;
    patternCache.set(table, p);
  }
  return p;
}

const DEFAULT_CONTEXT: TableContext = { baseDir: ".", config: null, warn: () => {} };

export function openTable(spec: string, context: Partial<TableContext> = {}): LookupTable {
  const ctx: TableContext = { ...DEFAULT_CONTEXT, baseDir: process.cwd(), ...context };
  const s = unproxy(spec.trim());
  const type = tableType(s);
  if (type === "") throw new TableSpecError(`need dictionary type:name, got "${spec}"`);
  const entry = factories.get(type);
  if (!entry) throw new TableSpecError(`unsupported dictionary type: ${type}`);
  return entry.factory(s.slice(type.length + 1), ctx, spec);
}

registerTableType("texthash", openTextTable);
registerTableType("hash", openTextTable);
registerTableType("inline", openInlineTable);
registerTableType("static", openStaticTable);
registerTableType("regexp", (name, ctx, spec) => openRegexpTable(name, ctx, spec, "regexp"), {
  pattern: true,
});
registerTableType("pcre", (name, ctx, spec) => openRegexpTable(name, ctx, spec, "pcre"), {
  pattern: true,
});
registerTableType("cidr", openCidrTable, { pattern: true });
registerTableType("unix", openUnixTable);
