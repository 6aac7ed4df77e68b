/**
 * Unix accounts from the passwd file (getpwnam(3) without NSS): name, uid, gid, home, shell.
 * The file is parsed once and again only when its modification time changes.
 */

import { readFileSync, statSync } from "node:fs";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

const cache = new Map<string, { mtimeMs: number; users: Map<string, PasswdEntry> }>();

function load(file: string): Map<string, PasswdEntry> {
  const st = statSync(file);
  const hit = cache.get(file);
  if (hit !== undefined && hit.mtimeMs === st.mtimeMs) return hit.users;
  const users = new Map<string, PasswdEntry>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || users.has(f[0])) continue;
    users.set(f[0], { name: f[0], uid, gid, home: f[5], shell: f[6] });
  }
  cache.set(file, { mtimeMs: st.mtimeMs, users });
  return users;
}

/** The account named `name`, or undefined (also when the file cannot be read). */
export function getpwnam(name: string, file = "/etc/passwd"): PasswdEntry | undefined {
  try {
    return load(file).get(name);
  } catch {
    return undefined;
  }
}
