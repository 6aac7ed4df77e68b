/**
 * Headers cleanup adds: Received (RFC 5321 4.4, in Postfix's layout), Date and Message-ID
 * (RFC 5322 3.6.1, 3.6.4) for local or authenticated submissions.
 */
import type { CleanupInput } from "./types.ts";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const pad = (n: number) => String(n).padStart(2, "0");

/** RFC 5322 date-time in local time with the zone comment Postfix adds: "... +0000 (UTC)". */
export function rfc5322Date(d: Date = new Date()): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const abs = Math.abs(off);
  const zone = `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
  const name =
    new Intl.DateTimeFormat("en-US", { timeZoneName: "short" })
      .formatToParts(d)
      .find((p) => p.type === "timeZoneName")?.value ?? "UTC";
  return `${DAYS[d.getDay()]}, ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone} (${name === "GMT" ? "UTC" : name})`;
}

let zoneCache: { second: number; text: string } | null = null;

/** rfc5322Date, cached per second: Intl formatting is slow on the hot path. */
export function nowDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (zoneCache && zoneCache.second === second) return zoneCache.text;
  zoneCache = { second, text: rfc5322Date(new Date(now)) };
  return zoneCache.text;
}

export interface ReceivedInfo {
  input: CleanupInput;
  hostname: string;
  mailName: string;
  queueId: string;
  /** The single recipient, when there is exactly one (Postfix's "for <x>"). */
  forRecipient?: string;
  tlsHeader: boolean;
  saslHeader: boolean;
  date: string;
}

/**
 * Postfix's Received layout:
 *   Received: from helo (name [addr])
 *   \t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))
 *   \t(Authenticated sender: user)
 *   \tby host (posteix) with ESMTPS id QUEUEID
 *   \tfor <rcpt>; date
 * Local submissions: "Received: by host (posteix, from userid 1000)\r\n\tid QUEUEID; date".
 */
export function receivedHeader(r: ReceivedInfo): string {
  const c = r.input.client;
  const proto = r.input.protocol ?? c.protocol;
  const lines: string[] = [];
  if (r.input.origin === "sendmail" || c.addr === "") {
    const uid = typeof process.getuid === "function" ? process.getuid() : 0;
    lines.push(`Received: by ${r.hostname} (${r.mailName}, from userid ${uid})`);
    lines.push(`\tid ${r.queueId}${r.forRecipient ? "" : `; ${r.date}`}`);
    if (r.forRecipient) lines.push(`\tfor <${r.forRecipient}>; ${r.date}`);
    return lines.join("\r\n");
  }
  const addr = c.addr.includes(":") ? `IPv6:${c.addr}` : c.addr;
  const helo = c.helo ?? c.name;
  lines.push(`Received: from ${helo} (${c.name} [${addr}])`);
  if (r.tlsHeader && r.input.tls) {
    const t = r.input.tls;
    const bits = t.bits ? ` (${t.bits}/${t.bits} bits)` : "";
    lines.push(`\t(using ${t.protocol} with cipher ${t.cipher}${bits})`);
  }
  if (r.saslHeader && c.saslUser) lines.push(`\t(Authenticated sender: ${c.saslUser})`);
  lines.push(`\tby ${r.hostname} (${r.mailName}) with ${proto} id ${r.queueId}`);
  if (r.forRecipient) lines.push(`\tfor <${r.forRecipient}>; ${r.date}`);
  else lines[lines.length - 1] += `; ${r.date}`;
  return lines.join("\r\n");
}

/** Message-ID in Postfix's shape: <YYYYMMDDhhmmss.QUEUEID@myhostname>. */
export function messageId(queueId: string, hostname: string, d: Date = new Date()): string {
  const stamp = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  return `<${stamp}.${queueId}@${hostname}>`;
}
