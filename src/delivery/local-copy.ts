/**
 * The message as written to a mailbox, a file or a command's input (Postfix mail_copy()):
 * CRLF line ends become LF, and for mbox a line starting with "From " gets a ">" (so that it
 * is not read as the start of a new message). Envelope headers (Return-Path, Delivered-To) and
 * the mbox "From " line are made here too. Pure: no I/O.
 */

const CR = 0x0d;
const LF = 0x0a;
const FROM = new TextEncoder().encode("From ");
const GT = new Uint8Array([0x3e]);
const encoder = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
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

function startsWithFrom(b: Uint8Array, at: number): boolean {
  for (let k = 0; k < 5; k++) if (b[at + k] !== FROM[k]) return false;
  return true;
}

/** Streams CRLF content to LF content, optionally quoting "From " lines. */
export class LfConverter {
  private pendingCr = false;
  private atLineStart = true;
  /** Up to 4 bytes held back because a line start near a chunk end might begin "From ". */
  private carry: Uint8Array | null = null;
  /** The last byte written was LF (null: nothing written yet). */
  private lastWasLf: boolean | null = null;

  constructor(private readonly quoteFrom: boolean) {}

  feed(input: Uint8Array): Uint8Array {
    return this.convert(input, false);
  }

  /** final: no more input, so held-back bytes are converted as they are. */
  private convert(input: Uint8Array, final: boolean): Uint8Array {
    let chunk = input;
    if (this.carry !== null) {
      chunk = concat([this.carry, input]);
      this.carry = null;
    }
    const parts: Uint8Array[] = [];
    let seg = 0;
    let i = 0;
    const len = chunk.length;
    if (this.pendingCr && len > 0) {
      this.pendingCr = false;
      // CR LF split across chunks: the CR was held back; drop it. A lone CR is kept.
      if (chunk[0] !== LF) parts.push(new Uint8Array([CR]));
    }
    while (i < len) {
      if (this.atLineStart && this.quoteFrom) {
        if (len - i < 5 && !final) {
          // Not enough bytes to tell: keep them for the next chunk (or finish()).
          parts.push(chunk.subarray(seg, i));
          this.carry = chunk.slice(i);
          return this.emit(parts);
        }
        if (startsWithFrom(chunk, i)) {
          parts.push(chunk.subarray(seg, i), GT);
          seg = i;
        }
      }
      this.atLineStart = false;
      const nl = chunk.indexOf(LF, i);
      if (nl < 0) {
        if (chunk[len - 1] === CR) {
          parts.push(chunk.subarray(seg, len - 1));
          this.pendingCr = true;
          return this.emit(parts);
        }
        break;
      }
      if (nl > 0 && chunk[nl - 1] === CR && nl - 1 >= seg) {
        parts.push(chunk.subarray(seg, nl - 1));
        seg = nl;
      }
      i = nl + 1;
      this.atLineStart = true;
    }
    parts.push(chunk.subarray(seg));
    return this.emit(parts);
  }

  private emit(parts: Uint8Array[]): Uint8Array {
    const out = concat(parts.filter((p) => p.length > 0));
    this.track(out);
    return out;
  }

  private track(out: Uint8Array): void {
    if (out.length > 0) this.lastWasLf = out[out.length - 1] === LF;
  }

  /**
   * What is still held back; for mbox also the end of the message: the last line ended, then
   * one empty line (Postfix mail_copy() with MAIL_COPY_BLANK).
   */
  finish(mboxEnd: boolean): Uint8Array {
    let out = this.convert(new Uint8Array(0), true);
    if (this.pendingCr) {
      this.pendingCr = false;
      out = concat([out, new Uint8Array([CR])]);
      this.track(out);
    }
    if (!mboxEnd) return out;
    const tail = this.lastWasLf === false ? new Uint8Array([LF, LF]) : new Uint8Array([LF]);
    this.lastWasLf = true;
    return concat([out, tail]);
  }
}

/** "Return-Path: <sender>\nDelivered-To: rcpt\n" as prepended by local(8) and virtual(8). */
export function envelopeHeaders(sender: string, deliveredTo: string): Uint8Array {
  return encoder.encode(`Return-Path: <${sender}>\nDelivered-To: ${deliveredTo}\n`);
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** C asctime() text of a time in local time: "Thu Nov  4 18:22:48 1986". */
export function asctime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** The mbox "From " line: "From sender  asctime\n" (the null sender as MAILER-DAEMON). */
export function mboxFromLine(sender: string, arrivalMs: number): Uint8Array {
  return encoder.encode(
    `From ${sender === "" ? "MAILER-DAEMON" : sender}  ${asctime(arrivalMs)}\n`,
  );
}

/**
 * Write all of bytes: a FileHandle write may write less than asked (a file system filling up
 * writes what fits and says so), and the rest must be written, or its error seen, before the
 * file counts as complete.
 */
export async function writeAll(
  file: { write(b: Uint8Array, off: number, len: number): Promise<{ bytesWritten: number }> },
  bytes: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const { bytesWritten } = await file.write(bytes, off, bytes.length - off);
    if (bytesWritten <= 0)
      throw Object.assign(new Error("No space left on device"), { code: "ENOSPC" });
    off += bytesWritten;
  }
}
