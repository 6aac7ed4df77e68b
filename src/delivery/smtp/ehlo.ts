/**
 * The ESMTP service extensions a server announced in its EHLO/LHLO reply (RFC 5321 4.1.1.1).
 * Pure: no I/O.
 */

import { lineText, type SmtpReply } from "./reply.ts";

export interface ServerFeatures {
  esmtp: boolean;
  pipelining: boolean; // RFC 2920
  /** SIZE limit in bytes (RFC 1870): null = SIZE not offered, 0 = offered without a limit. */
  size: number | null;
  eightBitMime: boolean; // RFC 6152
  smtputf8: boolean; // RFC 6531
  dsn: boolean; // RFC 3461
  starttls: boolean; // RFC 3207
  chunking: boolean; // RFC 3030
}

export const NO_FEATURES: ServerFeatures = {
  esmtp: false,
  pipelining: false,
  size: null,
  eightBitMime: false,
  smtputf8: false,
  dsn: false,
  starttls: false,
  chunking: false,
};

export function parseEhlo(reply: SmtpReply): ServerFeatures {
  const f: ServerFeatures = { ...NO_FEATURES, esmtp: true };
  // The first line is the greeting of the EHLO reply, the others are keywords.
  for (let i = 1; i < reply.lines.length; i++) {
    const text = lineText(reply.lines[i]).trim();
    const sp = text.search(/[ =]/);
    const keyword = (sp < 0 ? text : text.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? "" : text.slice(sp + 1).trim();
    switch (keyword) {
      case "PIPELINING":
        f.pipelining = true;
        break;
      case "SIZE": {
        const n = arg === "" ? 0 : Number.parseInt(arg, 10);
        f.size = Number.isFinite(n) && n > 0 ? n : 0;
        break;
      }
      case "8BITMIME":
        f.eightBitMime = true;
        break;
      case "SMTPUTF8":
        f.smtputf8 = true;
        break;
      case "DSN":
        f.dsn = true;
        break;
      case "STARTTLS":
        f.starttls = true;
        break;
      case "CHUNKING":
        f.chunking = true;
        break;
    }
  }
  return f;
}
