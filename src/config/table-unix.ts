/**
 * unix:passwd.byname and unix:group.byname: the system account files, read once when the table
 * is opened. The value is the whole passwd (group) line, as Postfix's dict_unix returns it.
 */

import type { TableContext } from "./table-types.ts";
import { readTableFile, TableSpecError } from "./table-types.ts";
import type { LookupTable } from "./types.ts";

const FILES: Record<string, string> = {
  "passwd.byname": "/etc/passwd",
  "group.byname": "/etc/group",
};

export function openUnixTable(name: string, _ctx: TableContext, spec: string): LookupTable {
  const file = FILES[name];
  if (!file)
    throw new TableSpecError(`unix:${name}: unknown table, use passwd.byname or group.byname`);
  const map = new Map<string, string>();
  for (const line of readTableFile(file).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const user = line.slice(0, line.indexOf(":"));
    if (user && !map.has(user)) map.set(user, line);
  }
  return { spec, lookup: (key) => map.get(key) };
}
