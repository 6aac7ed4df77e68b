/**
 * The SMTP server's byte-level input parser: pure, no socket, so it can be fuzzed alone.
 *
 * Three modes:
 *   - command: lines ending in CRLF (RFC 5321 2.3.8). A line ending in a bare LF, or holding a
 *     CR that is not followed by LF, is reported (SMTP smuggling defence); a line longer than
 *     the limit is skipped to its end without being buffered and reported once.
 *   - data (after 354): the RFC 5321 4.5.2 dot-unstuffing state machine. End of data is
 *     <CRLF>.<CRLF> and nothing else: `\n.\n`, `\n.\r\n`, `\r.\r`, `\r\n.\r`, `\r\n.\n` never
 *     end it (https://www.postfix.org/smtp-smuggling.html). Content comes out as subarrays of
 *     the input chunks, so memory stays bounded by the chunk size whatever the message size.
 *   - bdat (RFC 3030): exactly N bytes, no unstuffing, no end marker.
 * Bytes that follow the end of data or of a BDAT chunk are read as pipelined commands.
 *
 * Bare newlines in content are reported once per message. With `normalizeBareLf` (clients in
 * $smtpd_forbid_bare_newline_exclusions) a bare LF is passed on as CRLF, and a "." line next to
 * a bare LF is dropped, as Postfix's "normalize" mode does; the caller otherwise rejects.
 */

export type BareNewline = "LF" | "CR";

export type ReaderEvent =
  /** A command line without its line ending; `bare` when it was not a clean CRLF line. */
  | { kind: "line"; line: Uint8Array; bare?: BareNewline }
  /** A command line longer than the limit; its bytes were dropped up to the next LF. */
  | { kind: "too-long" }
  /** Message content (unstuffed, for DATA). Valid until the next feed(): copy it to keep it. */
  | { kind: "data"; bytes: Uint8Array }
  /** The first bare LF or bare CR of this message's content. */
  | { kind: "bare"; which: BareNewline }
  /** End of DATA (after <CRLF>.<CRLF>) or of one BDAT chunk. */
  | { kind: "end" };

export type ReaderMode = "command" | "data" | "bdat";

export interface ReaderOptions {
  /** $line_length_limit: longest command line, line ending excluded. */
  lineLimit: number;
  /** Pass bare LF on as CRLF instead of leaving it to the caller to reject. */
  normalizeBareLf?: boolean;
}

const CR = 13;
const LF = 10;
const DOT = 46;
const CR_BYTES = new Uint8Array([CR]);
const CRLF_BYTES = new Uint8Array([CR, LF]);
const EMPTY = new Uint8Array(0);

// Data-mode states. "BARE" states are reached through a bare LF: a dot line there is dropped and
// can never be the end of data.
const S_BOL = 0; // start of a line after CRLF (or at the start of data)
const S_BOL_BARE = 1; // start of a line after a bare LF
const S_DOT = 2; // "." at S_BOL (withheld)
const S_DOT_BARE = 3; // "." at S_BOL_BARE (withheld)
const S_DOT_CR = 4; // ".\r" from S_DOT (withheld)
const S_DOT_BARE_CR = 5; // ".\r" from S_DOT_BARE (withheld)
const S_MID = 6; // inside a line
const S_CR = 7; // a CR ended the last chunk (already passed on as content)

export class SmtpReader {
  lineLimit: number;
  normalizeBareLf: boolean;
  #mode: ReaderMode = "command";
  /** The chunk being read and the read position in it. */
  #buf: Uint8Array = EMPTY;
  #pos = 0;
  /** Chunks fed while the current one was still being read. */
  #queue: Uint8Array[] = [];
  #queued = 0;
  /** Command mode: a line split over chunks; bounded by lineLimit + 1. */
  /** A command line split across reads; allocated when one is (most sessions never do). */
  #acc: Uint8Array = EMPTY;
  #accLen = 0;
  #skipping = false;
  /** Data mode. */
  #state = S_BOL;
  #nextCr = -1;
  #bareSeen = false;
  #out: ReaderEvent[] = [];
  /** BDAT mode: bytes left in this chunk, and whether the last content byte was a CR. */
  #bdatLeft = 0;
  #bdatCr = false;
  #bdatDetect = true;

  constructor(opts: ReaderOptions) {
    this.lineLimit = opts.lineLimit;
    this.normalizeBareLf = opts.normalizeBareLf ?? false;
  }

  get mode(): ReaderMode {
    return this.#mode;
  }

  /** Bytes received but not yet consumed (what Postfix peeks at for pipelining checks). */
  get pending(): number {
    return this.#buf.length - this.#pos + this.#queued + this.#accLen;
  }

  /** Up to `max` unread bytes as text, for the "improper command pipelining" log line. */
  peek(max: number): string {
    const parts: Uint8Array[] = [this.#buf.subarray(this.#pos, this.#pos + max)];
    let n = parts[0].length;
    for (const q of this.#queue) {
      if (n >= max) break;
      parts.push(q.subarray(0, max - n));
      n += parts[parts.length - 1].length;
    }
    let out = "";
    for (const p of parts) for (const b of p) out += String.fromCharCode(b);
    return out;
  }

  feed(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.#pos >= this.#buf.length && this.#queue.length === 0) {
      this.#buf = chunk;
      this.#pos = 0;
      this.#nextCr = -1;
    } else {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
    }
  }

  /** Drop all unread input (STARTTLS: RFC 3207 4.2, bytes sent before the handshake). */
  discard(): void {
    this.#buf = EMPTY;
    this.#pos = 0;
    this.#queue = [];
    this.#queued = 0;
    this.#accLen = 0;
    this.#skipping = false;
    this.#out = [];
  }

  /** Switch to DATA content after the 354 reply. */
  startData(): void {
    this.#mode = "data";
    this.#state = S_BOL;
    this.#bareSeen = false;
    this.#out = [];
  }

  /**
   * Switch to BDAT content of `size` bytes. `first` starts a new message (bare newline state
   * reset); `detectBare` is false for BODY=BINARYMIME, where CR and LF are just bytes.
   */
  startBdat(size: number, opts: { first: boolean; detectBare: boolean }): void {
    this.#mode = "bdat";
    this.#bdatLeft = size;
    this.#bdatDetect = opts.detectBare;
    if (opts.first) {
      this.#bdatCr = false;
      this.#bareSeen = false;
    }
    this.#out = [];
  }

  /** The next event, or null when more input is needed. */
  next(): ReaderEvent | null {
    if (this.#out.length > 0) return this.#out.shift()!;
    for (;;) {
      if (this.#pos >= this.#buf.length && !this.#advance()) {
        // A BDAT chunk of 0 bytes ("BDAT 0 LAST") ends without any input.
        if (this.#mode === "bdat" && this.#bdatLeft === 0) {
          this.#mode = "command";
          return { kind: "end" };
        }
        return null;
      }
      let ev: ReaderEvent | null;
      if (this.#mode === "command") ev = this.#nextLine();
      else if (this.#mode === "data") ev = this.#nextData();
      else ev = this.#nextBdat();
      if (ev) return ev;
      if (this.#out.length > 0) return this.#out.shift()!;
    }
  }

  /** Move to the next queued chunk; false when there is none. */
  #advance(): boolean {
    const next = this.#queue.shift();
    if (!next) {
      if (this.#buf !== EMPTY) {
        this.#buf = EMPTY;
        this.#pos = 0;
      }
      return false;
    }
    this.#queued -= next.length;
    this.#buf = next;
    this.#pos = 0;
    this.#nextCr = -1;
    return true;
  }

  // ------------------------------------------------------------------ command mode

  #nextLine(): ReaderEvent | null {
    const b = this.#buf;
    const start = this.#pos;
    const lf = b.indexOf(LF, start);
    if (lf === -1) {
      this.#pos = b.length;
      if (this.#skipping) return null;
      const n = b.length - start;
      // One byte more than the limit may be the CR of the line ending.
      if (this.#accLen + n > this.lineLimit + 1) {
        this.#skipping = true;
        this.#accLen = 0;
        return null;
      }
      this.#accAppend(b, start, b.length);
      return null;
    }
    this.#pos = lf + 1;
    if (this.#skipping) {
      this.#skipping = false;
      return { kind: "too-long" };
    }
    let line: Uint8Array;
    if (this.#accLen === 0) {
      line = b.subarray(start, lf);
    } else {
      if (this.#accLen + (lf - start) > this.lineLimit + 1) {
        this.#accLen = 0;
        return { kind: "too-long" };
      }
      this.#accAppend(b, start, lf);
      line = this.#acc.slice(0, this.#accLen);
      this.#accLen = 0;
    }
    let bare: BareNewline | undefined;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    else bare = "LF";
    if (line.length > this.lineLimit) return { kind: "too-long" };
    if (bare === undefined && line.indexOf(CR) !== -1) bare = "CR";
    return bare ? { kind: "line", line, bare } : { kind: "line", line };
  }

  #accAppend(b: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (this.#accLen + n > this.#acc.length) {
      const grown = new Uint8Array(Math.max(this.#acc.length * 2, this.#accLen + n, 256));
      grown.set(this.#acc.subarray(0, this.#accLen));
      this.#acc = grown;
    }
    this.#acc.set(b.subarray(from, to), this.#accLen);
    this.#accLen += n;
  }

  // ------------------------------------------------------------------ data mode

  #bare(which: BareNewline): void {
    if (this.#bareSeen) return;
    this.#bareSeen = true;
    this.#out.push({ kind: "bare", which });
  }

  #emit(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#out.push({ kind: "data", bytes });
  }

  /**
   * Run the dot-unstuffing machine over the current chunk until it queues an event or uses
   * the chunk up. Content is passed on as slices [sliceStart, p) of the chunk; only the
   * withheld "." and ".\r" of a line start are ever replaced by constants. Every non-content
   * event is queued after the content before it, so events keep the input's order.
   */
  #nextData(): ReaderEvent | null {
    const b = this.#buf;
    const end = b.length;
    const out = this.#out;
    let p = this.#pos;
    let sliceStart = p;
    let state = this.#state;
    const flush = (to: number): void => {
      if (to > sliceStart) out.push({ kind: "data", bytes: b.subarray(sliceStart, to) });
      sliceStart = to;
    };
    const bare = (which: BareNewline, contentEnd: number): void => {
      if (this.#bareSeen) return;
      flush(contentEnd);
      this.#bare(which);
    };
    while (p < end && out.length === 0) {
      switch (state) {
        case S_BOL:
        case S_BOL_BARE:
          if (b[p] === DOT) {
            flush(p);
            state = state === S_BOL ? S_DOT : S_DOT_BARE;
            p++;
            sliceStart = p;
          } else state = S_MID;
          break;
        case S_DOT:
        case S_DOT_BARE: {
          const c = b[p];
          if (c === CR) {
            state = state === S_DOT ? S_DOT_CR : S_DOT_BARE_CR;
            p++;
            sliceStart = p;
          } else if (c === LF) {
            // ".\n": never the end of data; Postfix drops such a line.
            p++;
            sliceStart = p;
            state = S_BOL_BARE;
            bare("LF", p);
          } else state = S_MID; // the withheld dot was the stuffed one: dropped
          break;
        }
        case S_DOT_CR:
        case S_DOT_BARE_CR:
          if (b[p] === LF) {
            p++;
            sliceStart = p;
            if (state === S_DOT_CR) {
              this.#pos = p;
              this.#state = S_BOL;
              this.#mode = "command";
              out.push({ kind: "end" });
              return out.shift()!;
            }
            state = S_BOL; // "\n.\r\n": dropped, not the end
          } else {
            // ".\r" and anything else: the dot was stuffed, the CR is content, and bare.
            this.#emit(CR_BYTES);
            bare("CR", p);
            state = S_MID;
          }
          break;
        case S_CR:
          // A chunk ended in CR, which was passed on as content already.
          if (b[p] === LF) {
            p++;
            state = S_BOL;
          } else {
            bare("CR", p);
            state = S_MID;
          }
          break;
        default: {
          // S_MID: jump to the next LF; the only CR allowed before it is the one right before it.
          const lf = b.indexOf(LF, p);
          const lineEnd = lf === -1 ? end : lf;
          if (this.#nextCr < p) {
            this.#nextCr = b.indexOf(CR, p);
            if (this.#nextCr === -1) this.#nextCr = end;
          }
          if (this.#nextCr < lineEnd - 1) {
            p = this.#nextCr + 1;
            bare("CR", p);
            break;
          }
          if (lf === -1) {
            state = b[end - 1] === CR ? S_CR : S_MID;
            p = end;
            break;
          }
          const crlf = lf > p && b[lf - 1] === CR;
          p = lf + 1;
          if (crlf) {
            state = S_BOL;
            break;
          }
          state = S_BOL_BARE;
          if (this.normalizeBareLf) {
            flush(lf);
            this.#emit(CRLF_BYTES);
            sliceStart = p;
          }
          bare("LF", p);
        }
      }
    }
    flush(p);
    this.#pos = p;
    this.#state = state;
    return out.length > 0 ? out.shift()! : null;
  }

  // ------------------------------------------------------------------ bdat mode

  #nextBdat(): ReaderEvent | null {
    if (this.#bdatLeft === 0) {
      this.#mode = "command";
      return { kind: "end" };
    }
    const b = this.#buf;
    const start = this.#pos;
    const stop = Math.min(b.length, start + this.#bdatLeft);
    this.#pos = stop;
    this.#bdatLeft -= stop - start;
    const bytes = b.subarray(start, stop);
    if (this.#bdatDetect && !this.#bareSeen) this.#scanBare(bytes);
    else if (bytes.length > 0) this.#bdatCr = bytes[bytes.length - 1] === CR;
    this.#out.push({ kind: "data", bytes });
    if (this.#bdatLeft === 0) {
      this.#mode = "command";
      this.#out.push({ kind: "end" });
    }
    return this.#out.shift()!;
  }

  /** BDAT content is not unstuffed, but a bare CR or LF in it is still reported. */
  #scanBare(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#bdatCr && bytes[0] !== LF) this.#bare("CR");
    let from = 0;
    for (;;) {
      const lf = bytes.indexOf(LF, from);
      const lineEnd = lf === -1 ? bytes.length : lf;
      const cr = bytes.indexOf(CR, from);
      if (cr !== -1 && cr < lineEnd - 1) {
        this.#bare("CR");
        break;
      }
      if (lf === -1) break;
      const prevCr = lf > 0 ? bytes[lf - 1] === CR : this.#bdatCr;
      if (!prevCr) {
        this.#bare("LF");
        break;
      }
      from = lf + 1;
    }
    this.#bdatCr = bytes[bytes.length - 1] === CR;
  }
}
