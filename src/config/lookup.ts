/**
 * Postfix's table search orders, over a list of tables (the first table that knows a key wins,
 * keys tried in order): access(5) for addresses and clients, virtual(5) and canonical(5). Pattern
 * tables (regexp:, pcre:, cidr:) get only the whole address (or client name/address), as Postfix
 * queries them; file and inline tables get every partial key too.
 */
import { isPatternTable } from "./tables.ts";
import type { LookupTable } from "./types.ts";

export interface LookupHit {
  value: string;
  /** The key that matched, e.g. "example.com" or "user@". */
  key: string;
  table: LookupTable;
}

export interface AddressHit extends LookupHit {
  /**
   * The address extension with its delimiter ("+foo") when the key that matched lacked it, so
   * the caller can propagate it to the result (propagate_unmatched_extensions); else "".
   */
  extension: string;
}

export interface AccessOptions {
  /** recipient_delimiter: user+ext@domain is also looked up as user@domain and user@. */
  delimiter?: string;
  /**
   * True when `smtpd_access_maps` is in parent_domain_matches_subdomains: then example.com
   * matches its subdomains; otherwise subdomains match only `.example.com` entries.
   */
  parentMatchesSubdomains?: boolean;
}

function find(
  tables: readonly LookupTable[],
  key: string,
  withPatterns: boolean,
): LookupHit | undefined {
  for (const table of tables) {
    if (!withPatterns && isPatternTable(table)) continue;
    const value = table.lookup(key);
    if (value !== undefined) return { value, key, table };
  }
  return undefined;
}

/** Splits user+ext at the first delimiter character (not at the start). */
export function splitExtension(local: string, delimiter: string): [base: string, ext: string] {
  if (!delimiter) return [local, ""];
  for (let i = 1; i < local.length; i++) {
    if (delimiter.includes(local[i]!)) return [local.slice(0, i), local.slice(i)];
  }
  return [local, ""];
}

function splitAddress(address: string): [local: string, domain: string | null] {
  const at = address.lastIndexOf("@");
  return at < 0 ? [address, null] : [address.slice(0, at), address.slice(at + 1)];
}

/** name, then its parents: b.example.com, example.com, com (or .b.example.com, .example.com...). */
function findDomain(
  tables: readonly LookupTable[],
  name: string,
  parentStyle: boolean,
  withSelf: boolean,
): LookupHit | undefined {
  let d = name.endsWith(".") ? name.slice(0, -1) : name;
  if (withSelf) {
    const hit = find(tables, d, false);
    if (hit) return hit;
  }
  for (let dot = d.indexOf("."); dot >= 0; dot = d.indexOf(".")) {
    d = d.slice(dot + 1);
    if (d === "") break;
    const h = find(tables, parentStyle ? d : `.${d}`, false);
    if (h) return h;
  }
  return undefined;
}

/**
 * access(5) for a sender or recipient address: user+ext@domain, user@domain, domain, parent
 * domains, user+ext@, user@.
 */
export function accessLookupAddress(
  tables: readonly LookupTable[],
  address: string,
  options: AccessOptions = {},
): LookupHit | undefined {
  const whole = find(tables, address, true);
  if (whole) return whole;
  const [local, domain] = splitAddress(address);
  if (domain === null) return undefined;
  const [base, ext] = splitExtension(local, options.delimiter ?? "");
  if (ext) {
    const h = find(tables, `${base}@${domain}`, false);
    if (h) return h;
  }
  if (domain !== "") {
    const h = findDomain(tables, domain, options.parentMatchesSubdomains ?? false, true);
    if (h) return h;
  }
  return find(tables, `${local}@`, false) ?? (ext ? find(tables, `${base}@`, false) : undefined);
}

/**
 * access(5) for an SMTP client: the host name and its parent domains (when known), then the
 * address and its shorter prefixes (1.2.3.4, 1.2.3, 1.2, 1; IPv6 shortened at each ':').
 */
export function accessLookupClient(
  tables: readonly LookupTable[],
  name: string,
  addr: string,
  options: AccessOptions = {},
): LookupHit | undefined {
  if (name && name !== "unknown") {
    const n = name.toLowerCase();
    const whole = find(tables, n, true);
    if (whole) return whole;
    const h = findDomain(tables, n, options.parentMatchesSubdomains ?? false, false);
    if (h) return h;
  }
  let a = addr.toLowerCase();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/.test(a)) a = a.slice(7);
  if (a === "") return undefined;
  const whole = find(tables, a, true);
  if (whole) return whole;
  const delim = a.includes(":") ? ":" : ".";
  for (let cut = a.lastIndexOf(delim); cut > 0; cut = a.lastIndexOf(delim)) {
    a = a.slice(0, cut);
    const h = find(tables, a, false);
    if (h) return h;
  }
  return undefined;
}

/**
 * virtual(5) order: user+ext@domain, user@domain, user+ext and user (only for local domains, or
 * an address without a domain), @domain.
 */
export function virtualLookup(
  tables: readonly LookupTable[],
  address: string,
  isLocalDomain: boolean | ((domain: string) => boolean),
  delimiter = "",
): AddressHit | undefined {
  const whole = find(tables, address, true);
  if (whole) return { ...whole, extension: "" };
  const [local, domain] = splitAddress(address);
  const [base, ext] = splitExtension(local, delimiter);
  const tryKey = (key: string, extension: string): AddressHit | undefined => {
    const h = find(tables, key, false);
    return h ? { ...h, extension } : undefined;
  };
  if (domain !== null && ext) {
    const h = tryKey(`${base}@${domain}`, ext);
    if (h) return h;
  }
  const local_ =
    domain === null ||
    (typeof isLocalDomain === "function" ? isLocalDomain(domain) : isLocalDomain);
  if (local_) {
    // Without a domain, the whole-address lookup above already tried user+ext.
    if (domain !== null) {
      const h = tryKey(local, "");
      if (h) return h;
    }
    if (ext) {
      const h = tryKey(base, ext);
      if (h) return h;
    }
  }
  if (domain !== null && domain !== "") return tryKey(`@${domain}`, "");
  return undefined;
}

/** canonical(5) uses the same order as virtual(5): user@domain, user (local domains), @domain. */
export function canonicalLookup(
  tables: readonly LookupTable[],
  address: string,
  isLocalDomain: boolean | ((domain: string) => boolean),
  delimiter = "",
): AddressHit | undefined {
  return virtualLookup(tables, address, isLocalDomain, delimiter);
}
