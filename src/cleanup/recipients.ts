/**
 * Envelope address rewriting in cleanup: canonical(5) maps for sender and recipients, and
 * virtual(5) alias expansion of recipients (recursive, bounded, de-duplicated).
 *
 * Parameters: canonical_maps, sender_canonical_maps, recipient_canonical_maps,
 * virtual_alias_maps, virtual_alias_recursion_limit, virtual_alias_expansion_limit,
 * recipient_delimiter, propagate_unmatched_extensions.
 */
import { canonicalLookup, virtualLookup } from "../config/lookup.ts";
import type { Config, LookupTable } from "../config/types.ts";
import type { NewRecipient } from "../queue/types.ts";
import { splitAddress } from "../rewrite/address.ts";
import { canonicalize, isLocalDomain } from "../rewrite/index.ts";

/** Split a lookup result into addresses ("a@b, c@d" or white space separated). */
export function splitAddressList(value: string): string[] {
  return value
    .split(/[,\s]+/)
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
}

/** "@other" results keep the user part (virtual(5) and canonical(5) result rewriting). */
function rewriteResult(result: string, address: string): string {
  if (result.startsWith("@")) return `${splitAddress(address).local}${result}`;
  return result;
}

/** Apply one canonical table set to an address; unchanged when nothing matches. */
function mapCanonical(cfg: Config, tables: LookupTable[], address: string): string {
  if (tables.length === 0 || address === "") return address;
  const local = (d: string) => isLocalDomain(cfg, d);
  const hit = canonicalLookup(tables, address, local, cfg.str("recipient_delimiter"));
  if (!hit) return address;
  const first = splitAddressList(hit.value)[0];
  return first ? canonicalize(cfg, rewriteResult(first, address)) : address;
}

export function rewriteSender(cfg: Config, sender: string): string {
  let s = mapCanonical(cfg, cfg.tables("sender_canonical_maps"), sender);
  s = mapCanonical(cfg, cfg.tables("canonical_maps"), s);
  return s;
}

export function rewriteRecipientCanonical(cfg: Config, rcpt: string): string {
  let r = mapCanonical(cfg, cfg.tables("recipient_canonical_maps"), rcpt);
  r = mapCanonical(cfg, cfg.tables("canonical_maps"), r);
  return r;
}

export class AliasExpansionError extends Error {}

/**
 * Expand one recipient through $virtual_alias_maps. Returns the final addresses; an address
 * that maps to itself is kept (the usual way to deliver a copy locally).
 */
export function expandVirtual(cfg: Config, address: string): string[] {
  const tables = cfg.tables("virtual_alias_maps");
  if (tables.length === 0) return [address];
  const depthLimit = cfg.int("virtual_alias_recursion_limit");
  const countLimit = cfg.int("virtual_alias_expansion_limit");
  const delimiter = cfg.str("recipient_delimiter");
  const local = (d: string) => isLocalDomain(cfg, d);
  const out: string[] = [];
  const seen = new Set<string>();

  const walk = (addr: string, depth: number, chain: Set<string>) => {
    if (depth > depthLimit)
      throw new AliasExpansionError(`unreasonable virtual_alias_maps map nesting for ${address}`);
    const hit = virtualLookup(tables, addr, local, delimiter);
    if (!hit) {
      add(addr);
      return;
    }
    const results = splitAddressList(hit.value).map((r, i) =>
      canonicalize(cfg, i === 0 ? rewriteResult(r, addr) : r),
    );
    for (const r of results) {
      if (r.toLowerCase() === addr.toLowerCase() || chain.has(r.toLowerCase())) add(r);
      else {
        const next = new Set(chain);
        next.add(addr.toLowerCase());
        walk(r, depth + 1, next);
      }
    }
  };
  const add = (a: string) => {
    const key = a.toLowerCase();
    if (seen.has(key)) return;
    if (out.length >= countLimit)
      throw new AliasExpansionError(
        `unreasonable virtual_alias_maps map expansion size for ${address}`,
      );
    seen.add(key);
    out.push(a);
  };
  walk(address, 0, new Set());
  return out;
}

/**
 * Rewrite and expand one envelope recipient as given by the client into the recipients to
 * queue; each keeps the client's address as `original`.
 */
export function expandRecipient(cfg: Config, r: NewRecipient): NewRecipient[] {
  const original = r.original ?? r.address;
  const canon = rewriteRecipientCanonical(cfg, canonicalize(cfg, r.address));
  return expandVirtual(cfg, canon).map((address) => ({ ...r, address, original }));
}
