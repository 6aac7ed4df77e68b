/**
 * Reading a message's content chunk by chunk, with the checks that tell a damaged body from a
 * good one. The queue store reads through its own connection; a delivery thread opens a
 * BodyReader of its own (read-only, WAL lets it read while the store writes) so that bodies go
 * from the database to the next hop without crossing threads.
 */

import { Database, type Statement } from "bun:sqlite";
import { QueueError, toQueueError } from "./errors.ts";

/** The seq of a message's prefix chunk (DKIM-Signature, Authentication-Results): before 0. */
export const PREFIX_SEQ = -1;

type ChunkRow = { seq: number; data: Uint8Array } | null;

/**
 * The `count` chunks of message `id` in order (a prefix first when it has one), checking that
 * none is missing and that they add up to `size` bytes; CORRUPT otherwise. `next(id, after)`
 * returns the first chunk with a seq above `after`: one short read per chunk, so no read
 * transaction stays open while a slow consumer sends.
 */
export function* readChunks(
  id: string,
  count: number,
  size: number,
  next: (id: string, after: number) => ChunkRow,
): Generator<Uint8Array> {
  let total = 0;
  let after = PREFIX_SEQ - 1;
  for (let i = 0; i < count; i++) {
    const prev = after;
    const row = next(id, prev);
    // The next seq is prev + 1; the first is the prefix or chunk 0.
    const first = prev === PREFIX_SEQ - 1;
    if (!row || (row.seq !== prev + 1 && !(first && row.seq === 0))) {
      throw new QueueError("CORRUPT", `${id}: body chunk ${first ? 0 : prev + 1} missing`);
    }
    after = row.seq;
    total += row.data.length;
    yield row.data;
  }
  if (total !== size) {
    throw new QueueError("CORRUPT", `${id}: body is ${total} bytes, expected ${size}`);
  }
}

/** A read-only connection to the queue database that reads bodies, and nothing else. */
export class BodyReader {
  private readonly db: Database;
  private readonly info: Statement;
  private readonly chunk: Statement;

  constructor(path: string, busyTimeoutMs = 5000) {
    try {
      this.db = new Database(path, { readonly: true, strict: true });
      this.db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
      this.info = this.db.prepare("SELECT chunks, size FROM messages WHERE id = ?");
      this.chunk = this.db.prepare(
        "SELECT seq, data FROM chunks WHERE id = ?1 AND seq > ?2 ORDER BY seq LIMIT 1",
      );
    } catch (err) {
      throw toQueueError(err, `cannot open ${path}`);
    }
  }

  body(id: string): Generator<Uint8Array> {
    const key = id.toUpperCase();
    const info = this.read(key, () => this.info.get(key)) as {
      chunks: number;
      size: number;
    } | null;
    if (!info) throw new QueueError("NOT_FOUND", `${key}: no such message`);
    return readChunks(key, info.chunks, info.size, (i, after) =>
      this.read(i, () => this.chunk.get(i, after) as ChunkRow),
    );
  }

  close(): void {
    this.db.close();
  }

  private read<T>(id: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw toQueueError(err, `reading ${id}`);
    }
  }
}
