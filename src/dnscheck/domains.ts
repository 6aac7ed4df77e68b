/**
 * Which domains posteix handles, from main.cf: those it receives for ($mydestination without
 * its localhost forms, $virtual_mailbox_domains, $virtual_alias_domains, $relay_domains) and
 * the one it sends as ($myorigin). Entries held in files or lookup tables (`/path`,
 * `type:name`) cannot be listed; they are named in the notes so the operator can pass those
 * domains on the command line.
 */
import type { Config } from "../config/types.ts";
import type { DomainEntry, DomainRole } from "./types.ts";
import { bare } from "./zone.ts";

const SOURCES: {
  param:
    | "mydestination"
    | "virtual_mailbox_domains"
    | "virtual_alias_domains"
    | "relay_domains"
    | "myorigin";
  roles: DomainRole[];
}[] = [
  { param: "mydestination", roles: ["receive", "send"] },
  { param: "virtual_mailbox_domains", roles: ["receive", "send"] },
  { param: "virtual_alias_domains", roles: ["receive", "send"] },
  // Mail for relay domains comes here (MX) and goes on; nobody sends as them through us.
  { param: "relay_domains", roles: ["receive"] },
  { param: "myorigin", roles: ["send"] },
];

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A syntactically valid domain name (two labels at least), lowercased; null otherwise. */
export function domainName(text: string): string | null {
  const d = bare(text);
  if (d.length > 253 || !d.includes(".")) return null;
  return d.split(".").every((l) => LABEL.test(l)) ? d : null;
}

function isLocalhost(d: string): boolean {
  return d === "localhost" || d.startsWith("localhost.") || d === "localhost.localdomain";
}

export function configuredDomains(cfg: Config): { domains: DomainEntry[]; notes: string[] } {
  const byName = new Map<string, DomainEntry>();
  const notes: string[] = [];
  for (const { param, roles } of SOURCES) {
    const values = param === "myorigin" ? [cfg.str("myorigin")] : cfg.list(param);
    for (const raw of values) {
      const v = raw.trim();
      if (v === "") continue;
      if (v.startsWith("/") || /^[a-z][a-z0-9_-]*:/i.test(v)) {
        notes.push(`${param}: ${v} is a file or table; name its domains on the command line`);
        continue;
      }
      if (v.startsWith("[") || isLocalhost(bare(v))) continue;
      const d = domainName(v);
      if (d === null) {
        notes.push(`${param}: "${v}" is not a domain name; skipped`);
        continue;
      }
      const e = byName.get(d) ?? { name: d, roles: [], sources: [] };
      for (const r of roles) if (!e.roles.includes(r)) e.roles.push(r);
      if (!e.sources.includes(param)) e.sources.push(param);
      byName.set(d, e);
    }
  }
  for (const e of byName.values()) e.roles.sort();
  return { domains: [...byName.values()], notes };
}

/** Domains named by the operator: all roles, since they asked about them. */
export function givenDomains(
  names: readonly string[],
  source = "command line",
): { domains: DomainEntry[]; bad: string[] } {
  const domains: DomainEntry[] = [];
  const bad: string[] = [];
  for (const n of names) {
    const d = domainName(n);
    if (d === null) bad.push(n);
    else if (!domains.some((e) => e.name === d)) {
      domains.push({ name: d, roles: ["receive", "send"], sources: [source] });
    }
  }
  return { domains, bad };
}
