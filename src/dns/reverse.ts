/**
 * Reverse-lookup names: in-addr.arpa (RFC 1035 section 3.5) and ip6.arpa (RFC 3596 section 2.5).
 */

import { isIPv4, isIPv6 } from "node:net";

/**
 * The PTR query name of an IP address. An IPv4-mapped IPv6 address ("::ffff:192.0.2.1", as
 * dual-stack sockets report IPv4 clients) gives the in-addr.arpa name of its IPv4 address.
 * Throws a RangeError for anything that is not an IP address.
 */
export function reverseName(ip: string): string {
  if (isIPv4(ip)) return `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
  if (!isIPv6(ip)) throw new RangeError(`not an IP address: ${ip}`);
  const groups = expandIPv6(ip);
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) {
    const [hi, lo] = [groups[6], groups[7]];
    return `${lo & 0xff}.${lo >> 8}.${hi & 0xff}.${hi >> 8}.in-addr.arpa`;
  }
  const nibbles: string[] = [];
  for (let i = 7; i >= 0; i--) {
    const g = groups[i];
    nibbles.push(
      (g & 0xf).toString(16),
      ((g >> 4) & 0xf).toString(16),
      ((g >> 8) & 0xf).toString(16),
      ((g >> 12) & 0xf).toString(16),
    );
  }
  return `${nibbles.join(".")}.ip6.arpa`;
}

/** Eight 16-bit groups of a valid IPv6 address (with "::" and a dotted IPv4 tail expanded). */
function expandIPv6(ip: string): number[] {
  const pct = ip.indexOf("%");
  let text = pct < 0 ? ip : ip.slice(0, pct);
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const last = text.slice(lastColon + 1);
  if (last.includes(".")) {
    const o = last.split(".").map(Number);
    tail.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
    // "::1.2.3.4" keeps its "::"; "::ffff:1.2.3.4" drops the colon before the tail.
    const prefix = text.slice(0, lastColon + 1);
    text = prefix.endsWith("::") ? prefix : prefix.slice(0, -1);
  }
  const parse = (part: string): number[] =>
    part === "" ? [] : part.split(":").map((h) => Number.parseInt(h, 16));
  const double = text.indexOf("::");
  let groups: number[];
  if (double >= 0) {
    const head = parse(text.slice(0, double));
    const rest = parse(text.slice(double + 2));
    const zeros = 8 - tail.length - head.length - rest.length;
    groups = [...head, ...new Array<number>(Math.max(0, zeros)).fill(0), ...rest];
  } else {
    groups = parse(text);
  }
  return [...groups, ...tail];
}
