/**
 * Reading a message's content chunk by chunk, with the checks that tell a damaged body from a
 * good one (used by the SQLite store's body()).
 */

import { QueueError } from "./errors.ts";

/** The seq of a message's prefix chunk (DKIM-Signature, Authentication-Results): before 0. */
export const PREFIX_SEQ = -1;

export type ChunkRow = { seq: number; data: Uint8Array } | null;

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
