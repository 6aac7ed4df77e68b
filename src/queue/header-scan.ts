/**
 * Finds where a message's header section ends (RFC 5322 section 2.1: at the first empty line)
 * while the message arrives in chunks, hopping from line end to line end with indexOf instead
 * of looking at every byte. Pure: no I/O, so it is tested on its own.
 */

const LF = 0x0a;
const CR = 0x0d;

export class HeaderEndScanner {
  /** Bytes fed before the current chunk. */
  private offset = 0;
  private atLineStart = true;
  /** A CR seen at a line start as the last byte of the previous chunk. */
  private pendingCr = false;
  private lineStart = 0;
  /** Header length once found: bytes before the empty line (the last header's CRLF included). */
  end = -1;

  /** Feed the next chunk; returns the header length once known, else -1. */
  feed(chunk: Uint8Array): number {
    if (this.end >= 0) return this.end;
    let pos = 0;
    const len = chunk.length;
    if (this.pendingCr && len > 0) {
      this.pendingCr = false;
      if (chunk[0] === LF) return this.found(this.lineStart);
      this.atLineStart = false;
    }
    while (pos < len) {
      if (this.atLineStart) {
        const b = chunk[pos];
        if (b === LF) return this.found(this.lineStart);
        if (b === CR) {
          if (pos + 1 === len) {
            this.pendingCr = true;
            break;
          }
          if (chunk[pos + 1] === LF) return this.found(this.lineStart);
        }
        this.atLineStart = false;
      }
      const nl = chunk.indexOf(LF, pos);
      if (nl < 0) break;
      pos = nl + 1;
      this.atLineStart = true;
      this.lineStart = this.offset + pos;
    }
    this.offset += len;
    return -1;
  }

  private found(at: number): number {
    this.end = at;
    return at;
  }
}
