/**
 * Host/network lists (mynetworks, debug_peer_list) and domain lists (mydestination,
 * relay_domains, virtual_*_domains), as Postfix's match_list: CIDR blocks and addresses (IPv6 as
 * [addr]/len or bare), host and domain names (`.example.com` for subdomains; `example.com` also
 * matches subdomains when the list is in parent_domain_matches_subdomains), `/file` with more
 * patterns, `type:table` lookups, and `!pattern` negation. The first matching pattern decides.
 */
import { readFileSync } from "node:fs";
import { configError } from "./errors.ts";
import type { Cidr } from "./ip.ts";
import { cidrMatch, parseCidr, parseIp } from "./ip.ts";
import { TableSpecError } from "./table-types.ts";
import type { DomainMatcher, LookupTable, NetworkMatcher } from "./types.ts";
import { splitList } from "./values.ts";

export interface MatcherOptions {
  /** Opens a `type:name` element (errors are thrown). */
  openTable: (spec: string) => LookupTable;
  /** `example.com` also matches its subdomains. */
  parentMatchesSubdomains: boolean;
}

type Rule =
  | { kind: "cidr"; negate: boolean; block: Cidr }
  | { kind: "name"; negate: boolean; name: string }
  | { kind: "table"; negate: boolean; table: LookupTable };

const TABLE_RE = /^[A-Za-z][\w-]*:/;
const NAME_RE = /^\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;
// Looks like an address or a net/mask, so a typo must be an error, not a host name.
const ADDRISH_RE = /^(\[.*\]|[0-9.]+|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)(\/.*)?$/;

interface Where {
  file: string;
  line: number;
}

function fail(where: Where | null, msg: string): never {
  if (where) throw configError(where.file, where.line, msg);
  throw new TableSpecError(msg);
}

/** Patterns of a /file: white space or comma separated, `#` comment lines. */
function readPatternFile(path: string): { text: string; line: number }[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw configError(path, 0, `cannot open pattern file: ${(e as NodeJS.ErrnoException).code}`);
  }
  const out: { text: string; line: number }[] = [];
  text.split("\n").forEach((l, i) => {
    const t = l.trim();
    if (t === "" || t.startsWith("#")) return;
    for (const p of splitList(t)) out.push({ text: p, line: i + 1 });
  });
  return out;
}

function compile(
  patterns: readonly string[],
  options: MatcherOptions,
  network: boolean,
  where: Where | null,
  depth = 0,
): Rule[] {
  const rules: Rule[] = [];
  for (const raw of patterns) {
    let p = raw;
    let negate = false;
    while (p.startsWith("!")) {
      negate = !negate;
      p = p.slice(1).trim();
    }
    if (p.startsWith("/")) {
      if (depth > 10) fail(where, `pattern files nested too deeply: "${p}"`);
      for (const entry of readPatternFile(p)) {
        const sub = compile(
          [entry.text],
          options,
          network,
          { file: p, line: entry.line },
          depth + 1,
        );
        // A negated file negates each of its patterns.
        for (const r of sub) rules.push(negate ? { ...r, negate: !r.negate } : r);
      }
      continue;
    }
    if (network && ADDRISH_RE.test(p)) {
      const block = parseCidr(p);
      if ("error" in block) fail(where, block.error);
      rules.push({ kind: "cidr", negate, block: block as Cidr });
      continue;
    }
    if (TABLE_RE.test(p)) {
      rules.push({ kind: "table", negate, table: options.openTable(p) });
      continue;
    }
    if (!NAME_RE.test(p) && !(!network && /^\[[^\]]+\]$/.test(p))) {
      fail(where, `bad ${network ? "host or network" : "domain"} pattern: "${raw}"`);
    }
    rules.push({ kind: "name", negate, name: normalizeName(p) });
  }
  return rules;
}

function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith(".") ? n.slice(0, -1) : n;
}

function nameMatches(pattern: string, name: string, parentStyle: boolean): boolean {
  if (pattern === name) return true;
  if (pattern.startsWith(".")) return name.endsWith(pattern);
  return parentStyle && name.length > pattern.length && name.endsWith(`.${pattern}`);
}

/** Table lookup of a name, then of its parents (`example.com` or `.example.com` style). */
function tableHasName(table: LookupTable, name: string, parentStyle: boolean): boolean {
  if (table.lookup(name) !== undefined) return true;
  for (let dot = name.indexOf("."); dot >= 0; dot = name.indexOf(".", dot + 1)) {
    const parent = parentStyle ? name.slice(dot + 1) : name.slice(dot);
    if (parent !== "" && parent !== "." && table.lookup(parent) !== undefined) return true;
  }
  return false;
}

export function createNetworkMatcher(
  patterns: readonly string[],
  options: MatcherOptions,
  where: Where | null = null,
): NetworkMatcher {
  const rules = compile(patterns, options, true, where);
  const parentStyle = options.parentMatchesSubdomains;
  return {
    matches(addr: string, hostname?: string): boolean {
      const a = addr.startsWith("[") && addr.endsWith("]") ? addr.slice(1, -1) : addr;
      const ip = parseIp(a);
      const name = hostname && hostname !== "unknown" ? normalizeName(hostname) : "";
      for (const r of rules) {
        let hit = false;
        if (r.kind === "cidr") hit = ip !== null && cidrMatch(r.block, ip);
        else if (r.kind === "name") hit = name !== "" && nameMatches(r.name, name, parentStyle);
        else {
          hit =
            (a !== "" && r.table.lookup(a) !== undefined) ||
            (name !== "" && tableHasName(r.table, name, parentStyle));
        }
        if (hit) return !r.negate;
      }
      return false;
    },
  };
}

export function createDomainMatcher(
  patterns: readonly string[],
  options: MatcherOptions,
  where: Where | null = null,
): DomainMatcher {
  const rules = compile(patterns, options, false, where);
  const parentStyle = options.parentMatchesSubdomains;
  // The common case, plain names without negation or tables: set lookups of the name and parents.
  if (rules.every((r) => r.kind === "name" && !r.negate)) {
    const exact = new Set<string>();
    const suffix = new Set<string>(); // ".example.com": subdomains only
    for (const r of rules as { name: string }[]) {
      if (r.name.startsWith(".")) suffix.add(r.name);
      else exact.add(r.name);
    }
    return {
      matches(domain: string): boolean {
        const d = normalizeName(domain);
        if (exact.has(d)) return true;
        for (let dot = d.indexOf("."); dot >= 0; dot = d.indexOf(".", dot + 1)) {
          if (suffix.has(d.slice(dot))) return true;
          if (parentStyle && exact.has(d.slice(dot + 1))) return true;
        }
        return false;
      },
    };
  }
  return {
    matches(domain: string): boolean {
      const d = normalizeName(domain);
      for (const r of rules) {
        let hit = false;
        if (r.kind === "name") hit = nameMatches(r.name, d, parentStyle);
        else if (r.kind === "table") hit = tableHasName(r.table, d, parentStyle);
        if (hit) return !r.negate;
      }
      return false;
    },
  };
}
