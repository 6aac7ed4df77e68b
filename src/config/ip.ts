/**
 * IPv4/IPv6 addresses and CIDR blocks for cidr: tables and mynetworks-style lists. Addresses are
 * held as 128-bit numbers, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so that a client reported
 * as ::ffff:127.0.0.1 on a dual-stack socket still matches 127.0.0.0/8.
 */

export interface IpAddr {
  readonly value: bigint;
  /** Written in dotted-quad form. */
  readonly v4: boolean;
}

export interface Cidr {
  readonly net: bigint;
  /** Prefix length in the 128-bit space (IPv4 /n is 96+n). */
  readonly bits: number;
  readonly v4: boolean;
}

const MAPPED = 0xffff00000000n;
const ALL = (1n << 128n) - 1n;

function parseV4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(text: string): bigint | null {
  let s = text;
  const pct = s.indexOf("%");
  if (pct >= 0) s = s.slice(0, pct);
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) return null;
  let tail4: bigint | null = null;
  const lastColon = s.lastIndexOf(":");
  if (lastColon < 0) return null;
  if (s.includes(".", lastColon)) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 === null) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string): string[] | null => {
    if (h === "") return [];
    const g = h.split(":");
    return g.every((x) => /^[0-9A-Fa-f]{1,4}$/.test(x)) ? g : null;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array<string>(missing).fill("0"), ...tail];
  let v = 0n;
  for (const g of all) v = (v << 16n) | BigInt(Number.parseInt(g, 16));
  if (tail4 !== null) v = (v & ~0xffffffffn) | tail4;
  return v;
}

/** Parses an IPv4 or IPv6 address (no brackets; a %zone is ignored). */
export function parseIp(text: string): IpAddr | null {
  if (text.includes(":")) {
    const v = parseV6(text);
    return v === null ? null : { value: v, v4: false };
  }
  const v = parseV4(text);
  return v === null ? null : { value: MAPPED | v, v4: true };
}

function mask(bits: number): bigint {
  return bits === 0 ? 0n : (ALL << BigInt(128 - bits)) & ALL;
}

/** Text form used in messages. */
export function formatIp(value: bigint, v4: boolean): string {
  if (v4) {
    const x = Number(value & 0xffffffffn);
    return `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
  }
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === "0") j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return g.join(":");
  return `${g.slice(0, best).join(":")}::${g.slice(best + bestLen).join(":")}`;
}

/**
 * Parses `addr`, `addr/len`, `[v6addr]` or `[v6addr]/len`. Host bits set beyond the prefix are an
 * error, with Postfix's hint.
 */
export function parseCidr(text: string): Cidr | { error: string } {
  let s = text;
  let len: string | undefined;
  const slash = s.lastIndexOf("/");
  if (slash >= 0) {
    len = s.slice(slash + 1);
    s = s.slice(0, slash);
  }
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const ip = parseIp(s);
  if (!ip || (len !== undefined && !/^\d{1,3}$/.test(len))) {
    return { error: `bad net/mask pattern: "${text}"` };
  }
  const max = ip.v4 ? 32 : 128;
  const n = len === undefined ? max : Number(len);
  if (n > max) return { error: `bad net/mask pattern: "${text}"` };
  const bits = ip.v4 ? 96 + n : n;
  const net = ip.value & mask(bits);
  if (net !== ip.value) {
    const fixed = `${formatIp(net, ip.v4)}/${n}`;
    return {
      error: `non-null host address bits in "${text}", perhaps you should use "${fixed}" instead`,
    };
  }
  return { net, bits, v4: ip.v4 };
}

/** Is ::ffff:0:0/96 (IPv4-mapped) inside this IPv6 block, written as such? */
function isMappedBlock(c: Cidr): boolean {
  return c.bits >= 96 && c.net >> 32n === 0xffffn;
}

/**
 * An IPv4 address matches IPv4 blocks and explicit ::ffff: blocks; an IPv6 address matches IPv6
 * blocks, and IPv4 blocks too when it is IPv4-mapped.
 */
export function cidrMatch(c: Cidr, a: IpAddr): boolean {
  if (c.v4) {
    if (a.value >> 32n !== 0xffffn) return false;
  } else if (a.v4 && !isMappedBlock(c)) {
    return false;
  }
  if (c.bits === 0) return true;
  return a.value >> BigInt(128 - c.bits) === c.net >> BigInt(128 - c.bits);
}
