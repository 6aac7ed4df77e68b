/**
 * Streaming split of a message into its header section and body (RFC 5322 2.1), with bounded
 * memory: the header section is kept (it is small and cleanup edits it), the body passes through.
 *
 * Headers are kept as "binary" (latin1) strings so that 8-bit bytes survive unchanged.
 */

export interface Header {
  /** Field name as written. */
  name: string;
  /** The whole field, folded as received, without the final CRLF ("Subject: a\r\n b"). */
  raw: string;
}

/** Characters allowed in a field name: printable US-ASCII except ":" (RFC 5322 3.6.8). */
function isFieldNameChar(c: number): boolean {
  return c >= 33 && c <= 126 && c !== 58;
}

/** Does `line` (without CRLF) start a header field? Returns the name length or -1. */
export function headerNameLength(line: string): number {
  let i = 0;
  while (i < line.length && isFieldNameChar(line.charCodeAt(i))) i++;
  if (i === 0) return -1;
  let j = i;
  while (j < line.length && (line[j] === " " || line[j] === "\t")) j++;
  return line[j] === ":" ? i : -1;
}

export type SplitEvent =
  | {
      kind: "headers";
      headers: Header[] /** a body line came without a blank line first */;
      missingSeparator: boolean;
      truncated: boolean;
    }
  | { kind: "body"; bytes: Uint8Array };

/**
 * Feed content chunks; the splitter emits one "headers" event when the header section ends,
 * then "body" events. `maxHeaderBytes` bounds the header section: past it, the rest is body.
 * `maxFieldBytes` bounds one field: excess is discarded, as Postfix's header_size_limit does.
 */
/** Bytes of input converted to text at a time while the header section lasts. */
const HEADER_WINDOW = 8192;

export class HeaderSplitter {
  private pending = "";
  private headers: Header[] = [];
  private current: { name: string; raw: string } | null = null;
  private headerBytes = 0;
  private done = false;
  private truncated = false;
  /** Bytes of the pending line dropped already (a continuation past the field limit). */
  private dropped = 0;

  constructor(
    private readonly emit: (ev: SplitEvent) => void,
    private readonly maxHeaderBytes: number,
    private readonly maxFieldBytes: number,
  ) {}

  get inHeaders(): boolean {
    return !this.done;
  }

  write(bytes: Uint8Array): void {
    if (this.done) {
      this.emit({ kind: "body", bytes });
      return;
    }
    // The header section is converted to text a window at a time, so that the body in the
    // same read (most of a big message's first chunk) is passed on as the bytes it is.
    for (let off = 0; off < bytes.length && !this.done; off += HEADER_WINDOW) {
      this.writeWindow(bytes, off, Math.min(bytes.length, off + HEADER_WINDOW));
    }
  }

  private writeWindow(bytes: Uint8Array, from: number, to: number): void {
    // Work line by line on a latin1 view: one character per byte.
    const pendingLen = this.pending.length;
    let text =
      this.pending +
      Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString("latin1");
    this.pending = "";
    let pos = 0;
    while (!this.done) {
      const nl = text.indexOf("\n", pos);
      if (nl === -1) break;
      const end = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      const line = text.slice(pos, end);
      const next = nl + 1;
      this.headerBytes += next - pos + this.dropped;
      this.dropped = 0;
      if (line === "") {
        this.finish(false);
        pos = next;
        // The blank line itself is part of the separator; the body starts after it.
        break;
      }
      if ((line[0] === " " || line[0] === "\t") && this.current) {
        if (this.current.raw.length + line.length + 2 <= this.maxFieldBytes)
          this.current.raw += `\r\n${line}`;
        else this.truncated = true;
      } else {
        const n = this.fieldName(line);
        if (n === -1 || this.headerBytes > this.maxHeaderBytes) {
          // Not a header (or too much header): the body starts with this line, and cleanup
          // inserts the missing blank line, as Postfix's cleanup does.
          this.finish(true);
          break;
        }
        this.flushCurrent();
        this.current = {
          name: line.slice(0, n),
          raw: line.length <= this.maxFieldBytes ? line : line.slice(0, this.maxFieldBytes),
        };
        if (line.length > this.maxFieldBytes) this.truncated = true;
      }
      pos = next;
    }
    if (this.done) {
      // The rest of this read: what is left of the pending text, then the input from `pos`.
      if (pos < pendingLen) {
        this.emit({ kind: "body", bytes: Buffer.from(text.slice(pos, pendingLen), "latin1") });
        pos = pendingLen;
      }
      const rest = bytes.subarray(from + pos - pendingLen);
      if (rest.length > 0) this.emit({ kind: "body", bytes: rest });
    } else {
      this.pending = text.slice(pos);
      if (this.pending.length > this.maxFieldBytes + 2) this.longLine();
    }
    text = "";
  }

  /**
   * A line still arriving has grown past a field's limit. Decided now, exactly as it will be
   * once complete, so that how the content is chunked never changes the message: a
   * continuation cannot fit any more (only enough of it is kept to know that); a line that is
   * no field, or would overflow the section, is body and goes on whole; a field still arriving
   * is kept whole (bounded by the section limit) until its end.
   */
  private longLine(): void {
    const line = this.pending;
    if ((line[0] === " " || line[0] === "\t") && this.current) {
      const keep = this.maxFieldBytes + 2;
      this.dropped += line.length - keep;
      this.pending = line.slice(0, keep);
      this.truncated = true;
      return;
    }
    if (this.fieldName(line) === -1 || this.headerBytes + line.length > this.maxHeaderBytes) {
      this.pending = "";
      this.finish(true);
      this.emit({ kind: "body", bytes: Buffer.from(line, "latin1") });
    }
  }

  /**
   * The field name length of a line, or -1 when it is no header field. The colon must come
   * within the field limit: a line is classified by its start alone, whatever its length.
   */
  private fieldName(line: string): number {
    const limit = this.maxFieldBytes + 2;
    return headerNameLength(line.length > limit ? line.slice(0, limit) : line);
  }

  /** End of message. A message without a body or without a final CRLF is handled here. */
  end(): void {
    if (this.done) return;
    if (this.pending.length > 0) {
      const line = this.pending;
      this.pending = "";
      this.headerBytes += line.length + this.dropped;
      this.dropped = 0;
      // The same rules as for a line with its line end (write()).
      if ((line[0] === " " || line[0] === "\t") && this.current) {
        if (this.current.raw.length + line.length + 2 <= this.maxFieldBytes)
          this.current.raw += `\r\n${line}`;
        else this.truncated = true;
      } else {
        const n = this.fieldName(line);
        if (n === -1 || this.headerBytes > this.maxHeaderBytes) {
          this.finish(true);
          this.emit({ kind: "body", bytes: Buffer.from(line, "latin1") });
          return;
        }
        this.flushCurrent();
        this.current = {
          name: line.slice(0, n),
          raw: line.length <= this.maxFieldBytes ? line : line.slice(0, this.maxFieldBytes),
        };
        if (line.length > this.maxFieldBytes) this.truncated = true;
      }
    }
    this.finish(false);
  }

  private flushCurrent(): void {
    if (this.current) this.headers.push(this.current);
    this.current = null;
  }

  private finish(missingSeparator: boolean): void {
    this.flushCurrent();
    this.done = true;
    this.emit({
      kind: "headers",
      headers: this.headers,
      missingSeparator,
      truncated: this.truncated,
    });
    this.headers = [];
  }
}

/** The unfolded value of a header (after "Name:"), trimmed. */
export function headerValue(h: Header): string {
  const colon = h.raw.indexOf(":");
  return h.raw
    .slice(colon + 1)
    .replace(/\r\n/g, "")
    .trim();
}

export function findHeader(headers: Header[], name: string): Header | undefined {
  const lower = name.toLowerCase();
  return headers.find((h) => h.name.toLowerCase() === lower);
}

export function serializeHeaders(headers: Header[]): Uint8Array {
  let out = "";
  for (const h of headers) out += `${h.raw}\r\n`;
  return Buffer.from(out, "latin1");
}
