/**
 * Message content to SMTP DATA bytes (RFC 5321 section 4.5.2), chunk by chunk:
 *
 *  - a line starting with "." gets one more ".";
 *  - a bare LF or a bare CR becomes CRLF, so that no stored content can ever form an end of data
 *    "<CRLF>.<CRLF>" at the next hop that differs from ours (SMTP smuggling);
 *  - lines longer than $smtp_line_length_limit are broken by inserting CRLF SPACE, as Postfix does;
 *  - finish() ends the content with a CRLF when it lacks one, then ".CRLF".
 *
 * It hops from line end to line end with indexOf and returns the input chunk itself when nothing
 * changes (the common case: stored content is CRLF already). Pure: no I/O.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

const CRLF_BYTES = new Uint8Array([CR, LF]);
const LF_BYTES = new Uint8Array([LF]);
const DOT_BYTES = new Uint8Array([DOT]);
const FOLD_BYTES = new Uint8Array([CR, LF, 0x20]);
const END_BYTES = new Uint8Array([DOT, CR, LF]);

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export class DotStuffer {
  private atLineStart = true;
  /** The previous chunk ended with a CR (already sent); its LF may start the next chunk. */
  private pendingCr = false;
  /** Bytes sent on the current line, for folding. */
  private col = 0;
  private readonly limit: number;

  /** lineLimit: fold lines longer than this many bytes (0 = never fold). */
  constructor(lineLimit = 0) {
    this.limit = lineLimit >= 40 ? lineLimit : 0;
  }

  encode(chunk: Uint8Array): Uint8Array {
    const len = chunk.length;
    if (len === 0) return chunk;
    const parts: Uint8Array[] = [];
    let seg = 0;
    let i = 0;
    let changed = false;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (chunk[0] === LF) i = 1;
      else {
        // A bare CR at the end of the previous chunk: complete it as CRLF.
        parts.push(LF_BYTES);
        changed = true;
      }
      this.atLineStart = true;
      this.col = 0;
    }
    let nextCr = -2;
    let nextLf = -2;
    while (i < len) {
      if (this.atLineStart) {
        this.atLineStart = false;
        if (chunk[i] === DOT) {
          parts.push(chunk.subarray(seg, i), DOT_BYTES);
          seg = i;
          changed = true;
          this.col = 1;
        }
      }
      if (nextCr !== -1 && nextCr < i) nextCr = chunk.indexOf(CR, i);
      if (nextLf !== -1 && nextLf < i) nextLf = chunk.indexOf(LF, i);
      const n = nextCr < 0 ? nextLf : nextLf < 0 ? nextCr : Math.min(nextCr, nextLf);
      if (this.limit > 0) {
        const lineEnd = n < 0 ? len : n;
        while (this.col + (lineEnd - i) > this.limit) {
          const cut = i + (this.limit - this.col);
          parts.push(chunk.subarray(seg, cut), FOLD_BYTES);
          seg = cut;
          i = cut;
          this.col = 1;
          changed = true;
        }
        this.col += lineEnd - i;
      }
      if (n < 0) break;
      if (chunk[n] === LF) {
        // A bare LF (the LF of a CRLF is passed over at its CR).
        parts.push(chunk.subarray(seg, n), CRLF_BYTES);
        seg = n + 1;
        i = n + 1;
        changed = true;
      } else if (n + 1 === len) {
        this.pendingCr = true;
        this.col = 0;
        return this.result(chunk, parts, seg, changed);
      } else if (chunk[n + 1] === LF) {
        i = n + 2;
      } else {
        parts.push(chunk.subarray(seg, n + 1), LF_BYTES);
        seg = n + 1;
        i = n + 1;
        changed = true;
      }
      this.atLineStart = true;
      this.col = 0;
    }
    return this.result(chunk, parts, seg, changed);
  }

  private result(chunk: Uint8Array, parts: Uint8Array[], seg: number, changed: boolean) {
    if (!changed) return chunk;
    parts.push(chunk.subarray(seg));
    return concat(parts);
  }

  /** The bytes that end the data. */
  finish(): Uint8Array {
    if (this.pendingCr) {
      this.pendingCr = false;
      this.atLineStart = true;
      return concat([LF_BYTES, END_BYTES]);
    }
    if (!this.atLineStart) {
      this.atLineStart = true;
      return concat([CRLF_BYTES, END_BYTES]);
    }
    return END_BYTES;
  }
}
