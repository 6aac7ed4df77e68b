/**
 * main.cf syntax (postconf(5)): `name = value`, continuation lines start with white space,
 * whole-line `#` comments. A later setting of the same name wins, with a warning.
 */
import { logicalLines } from "./lines.ts";
import type { ConfigDiagnostic } from "./types.ts";
import { splitNameValue } from "./values.ts";

export interface Setting {
  readonly name: string;
  readonly value: string; // raw, unexpanded
  readonly file: string;
  readonly line: number;
}

export interface ParsedMainCf {
  /** Last setting of each name, in order of first appearance. */
  settings: Setting[];
  diagnostics: ConfigDiagnostic[];
}

export function parseMainCf(text: string, file: string): ParsedMainCf {
  const diagnostics: ConfigDiagnostic[] = [];
  const byName = new Map<string, Setting>();
  for (const l of logicalLines(text)) {
    if (l.indented) {
      diagnostics.push({
        severity: "error",
        file,
        line: l.line,
        message: `logical line must not start with white space: "${l.text}"`,
      });
      continue;
    }
    const nv = splitNameValue(l.text);
    if ("error" in nv) {
      diagnostics.push({
        severity: "error",
        file,
        line: l.line,
        message: `${nv.error}: "${l.text}"`,
      });
      continue;
    }
    const earlier = byName.get(nv.name);
    if (earlier) {
      diagnostics.push({
        severity: "warning",
        file,
        line: l.line,
        message: `overriding earlier entry: ${nv.name}=${earlier.value}`,
      });
    }
    byName.set(nv.name, { name: nv.name, value: nv.value, file, line: l.line });
  }
  return { settings: [...byName.values()], diagnostics };
}
