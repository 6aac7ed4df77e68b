/**
 * The part of the original message a notice returns, streamed: the whole message, or its header
 * section only (RFC 6522 text/rfc822-headers), cut to at most `limit` bytes at a line boundary.
 *
 * Memory stays bounded whatever the message size: chunks pass through as views, and only the
 * one incomplete line at a chunk's end is copied and carried over, which is bounded by the limit
 * (or by MAX_HEADER_LINE when the header section is returned without a limit).
 */

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

const CRLF = new Uint8Array([CR, LF]);

/** A header line longer than this ends the header section when no limit applies. */
export const MAX_HEADER_LINE = 1 << 20;

/** RFC 5322 section 3.6.8: a field name is at most 998 printable characters other than ":". */
const MAX_FIELD_NAME = 998;

export interface ExcerptOptions {
  /** Return only the header section (up to the first line that is not a header line). */
  headersOnly: boolean;
  /** Maximal bytes returned, cut at a line boundary; 0 = no limit. */
  limit: number;
}

// Classification of the current line in headers-only mode.
const START = 0; // nothing seen yet
const NAME = 1; // inside a field name
const NAME_WS = 2; // white space between field name and colon (obsolete syntax)
const HEADER = 3; // a header line (field or continuation)

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Yield the returned part of the original. The output always ends with a line break (one is
 * added after an unterminated last line), so a MIME boundary can follow it directly.
 * Yielded arrays may be views of the input chunks: consume them before pulling the next one.
 */
export function* excerpt(
  source: Iterable<Uint8Array>,
  opts: ExcerptOptions,
): Generator<Uint8Array, void, undefined> {
  const { headersOnly } = opts;
  const limit = Math.max(opts.limit, 0);

  if (!headersOnly && limit === 0) {
    // Fast path: everything, untouched.
    let last = LF;
    for (const chunk of source) {
      if (chunk.length === 0) continue;
      yield chunk;
      last = chunk[chunk.length - 1];
    }
    if (last !== LF) yield CRLF;
    return;
  }

  const budget = limit > 0 ? limit : Number.POSITIVE_INFINITY;
  const maxCarry = limit > 0 ? limit : MAX_HEADER_LINE;
  let emitted = 0;
  // The incomplete line at the end of the previous chunk (copied: the source may reuse buffers).
  let carry: Uint8Array[] = [];
  let carryLen = 0;
  let cls = START;
  let nameLen = 0;

  for (const chunk of source) {
    const n = chunk.length;
    let pos = 0;
    // Complete lines of this chunk not yet yielded: chunk[runStart, runEnd).
    let runStart = 0;
    let runEnd = 0;
    while (pos < n) {
      if (headersOnly && cls !== HEADER) {
        // Decide from the line's first bytes whether it is a header line; stops at the
        // decision, so this looks at a few bytes per line only.
        let stop = false;
        for (let i = pos; i < n && cls !== HEADER; i++) {
          const b = chunk[i];
          if (cls === START) {
            if (b === SP || b === HT) cls = HEADER;
            else if (b > SP && b < 0x7f && b !== COLON) {
              cls = NAME;
              nameLen = 1;
            } else stop = true;
          } else if (cls === NAME) {
            if (b === COLON) cls = HEADER;
            else if (b === SP || b === HT) cls = NAME_WS;
            else if (b > SP && b < 0x7f && ++nameLen <= MAX_FIELD_NAME) {
              // still in the name
            } else stop = true;
          } else if (b === COLON) cls = HEADER;
          else if (b !== SP && b !== HT) stop = true;
          if (stop) break;
        }
        if (stop) {
          // End of the header section (empty line, body line, or garbage).
          if (runEnd > runStart) yield chunk.subarray(runStart, runEnd);
          return;
        }
      }
      const lf = chunk.indexOf(LF, pos);
      if (lf === -1) {
        const total = carryLen + (n - pos);
        if (emitted + total > budget || total > maxCarry) {
          if (runEnd > runStart) yield chunk.subarray(runStart, runEnd);
          return;
        }
        carry.push(chunk.slice(pos));
        carryLen = total;
        break;
      }
      const end = lf + 1;
      const total = carryLen + (end - pos);
      if (emitted + total > budget) {
        // Truncate on a line boundary: this line does not fit.
        if (runEnd > runStart) yield chunk.subarray(runStart, runEnd);
        return;
      }
      if (carryLen > 0) {
        // Only the first line of a chunk can continue a carried one, so the run is empty.
        carry.push(chunk.subarray(pos, end));
        yield concat(carry, total);
        carry = [];
        carryLen = 0;
        runStart = end;
      }
      runEnd = end;
      emitted += total;
      pos = end;
      cls = START;
    }
    if (runEnd > runStart) yield chunk.subarray(runStart, runEnd);
  }

  // An unterminated last line: it fitted, so keep it, ended with CRLF, unless it is not a
  // header line in headers-only mode.
  if (carryLen > 0 && (!headersOnly || cls === HEADER)) {
    carry.push(CRLF);
    yield concat(carry, carryLen + 2);
  }
}

/** True when `needle` occurs anywhere in the chunks (also across chunk boundaries). */
export function containsBytes(chunks: Iterable<Uint8Array>, needle: Uint8Array): boolean {
  const keep = needle.length - 1;
  let tail: Buffer = Buffer.alloc(0);
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (buf.indexOf(needle) !== -1) return true;
    if (keep === 0) continue;
    if (tail.length > 0) {
      const joint = Buffer.concat([tail, buf.subarray(0, keep)]);
      if (joint.indexOf(needle) !== -1) return true;
    }
    // Keep the last needle.length-1 bytes seen, for a match that spans the next boundary.
    if (buf.length >= keep) tail = Buffer.from(buf.subarray(buf.length - keep));
    else {
      const joined = Buffer.concat([tail, buf]);
      tail = Buffer.from(joined.subarray(Math.max(0, joined.length - keep)));
    }
  }
  return false;
}
