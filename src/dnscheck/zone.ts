/**
 * Records as an operator pastes them into a zone file (RFC 1035 section 5.1): absolute names
 * with the final dot, TXT data as quoted character-strings of at most 255 bytes each
 * (section 3.3.14), `"` and `\` escaped.
 */
import { isIPv6 } from "node:net";
import type { CheckResult } from "./types.ts";

/** A name lowercased, without the final dot: how names are compared. */
export function bare(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith(".") ? n.slice(0, -1) : n;
}

/** An absolute name: "example.com." */
export function fqdn(name: string): string {
  return `${bare(name)}.`;
}

/** TXT data as zone-file character-strings: "part1" "part2". */
export function quoteTxt(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  const parts: string[] = [];
  // Split on bytes, never inside a UTF-8 sequence (continuation bytes are 10xxxxxx).
  let start = 0;
  while (start < bytes.length || parts.length === 0) {
    let end = Math.min(start + 255, bytes.length);
    while (end < bytes.length && end > start && (bytes[end] & 0xc0) === 0x80) end--;
    const s = bytes.subarray(start, end).toString("utf8");
    parts.push(`"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
    start = end;
    if (start >= bytes.length) break;
  }
  return parts.join(" ");
}

export function txtRecord(name: string, text: string): string {
  return `${fqdn(name)} IN TXT ${quoteTxt(text)}`;
}

export function addressRecord(name: string, ip: string): string {
  return `${fqdn(name)} IN ${isIPv6(ip) ? "AAAA" : "A"} ${ip}`;
}

/** The record texts of `records` that start with `prefix` (a version tag such as "v=spf1"). */
export function withVersion(records: string[], version: RegExp): string[] {
  return records.filter((r) => version.test(r.trim()));
}

/** A check result: the common fields filled in. */
export function result(
  fields: Omit<CheckResult, "found" | "publish"> & Partial<Pick<CheckResult, "found" | "publish">>,
): CheckResult {
  return { found: [], publish: [], ...fields };
}

/** What a lookup failure reads like in a detail line. */
export function lookupError(name: string, type: string, error?: string): string {
  return `cannot look up ${type} of ${name}: ${error ?? "temporary DNS failure"}`;
}
