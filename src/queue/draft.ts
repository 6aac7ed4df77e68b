/**
 * A message being received: its queue ID is fixed at creation (smtpd logs it and writes it in
 * the Received header before the end of DATA), its body is buffered up to one chunk and then
 * stored chunk by chunk, so a 50 MB message never sits whole in memory.
 *
 * Spilled chunks are plain autocommit inserts at synchronous=NORMAL (no fsync): the final
 * commit's WAL fsync covers them, because a WAL is synced as a whole and a checkpoint syncs the
 * WAL before copying it. The draft remembers the rowids it wrote, so cleaning up after a
 * failure deletes exactly its own rows, never those of another writer.
 */

import { QueueError, toQueueError } from "./errors.ts";
import type { CommitOptions, MessageDraft } from "./store.ts";
import type { NewMessage } from "./types.ts";

/** Most mail is a few KB: a bigger first buffer is mostly garbage for the collector. */
const FIRST_BUFFER = 4 * 1024;

export interface DraftHost {
  readonly chunkSize: number;
  /** Store one chunk outside any transaction; returns its rowid. Throws QueueError. */
  spillChunk(id: string, seq: number, data: Uint8Array): number;
  /** Best-effort removal of the given chunk rows (startup recovery catches what is left). */
  dropChunks(id: string, rowids: number[]): void;
  submitCommit(job: CommitJob): Promise<void>;
  draftFinished(id: string): void;
}

/** What the group commit needs from a draft. */
export interface CommitJob {
  draft: SqliteDraft;
  msg: NewMessage;
  /** Stored in front of the written bytes (CommitOptions.prefix); absent or empty: none. */
  prefix?: Uint8Array;
}

type DraftState = "open" | "committing" | "committed" | "failed" | "aborted";

export class SqliteDraft implements MessageDraft {
  readonly arrival = Date.now();
  private bytes = 0;
  private buf: Uint8Array | null = null;
  private fill = 0;
  /** Chunks stored so far; the next chunk's seq. */
  spilled = 0;
  /** Rowids of the spilled chunks (one number per chunkSize bytes). */
  readonly rowids: number[] = [];
  private failure: QueueError | null = null;
  private state: DraftState = "open";

  constructor(
    readonly id: string,
    private readonly host: DraftHost,
  ) {}

  get size(): number {
    return this.bytes;
  }

  write(chunk: Uint8Array): void {
    if (this.state !== "open") {
      throw new QueueError("BAD_STATE", `${this.id}: write after ${this.state}`);
    }
    this.bytes += chunk.length;
    if (this.failure) return;
    const size = this.host.chunkSize;
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      if (this.fill === 0 && len - pos >= size) {
        // A whole chunk straight from the caller's buffer: no copy.
        if (!this.spill(chunk.subarray(pos, pos + size))) return;
        pos += size;
        continue;
      }
      const n = Math.min(size - this.fill, len - pos);
      const buf = this.reserve(this.fill + n);
      buf.set(chunk.subarray(pos, pos + n), this.fill);
      this.fill += n;
      pos += n;
      if (this.fill === size) {
        if (!this.spill(buf.subarray(0, size))) return;
        this.fill = 0;
      }
    }
  }

  commit(msg: NewMessage, opts: CommitOptions = {}): Promise<void> {
    if (this.state !== "open") {
      return Promise.reject(new QueueError("BAD_STATE", `${this.id}: commit after ${this.state}`));
    }
    if (this.failure) {
      this.finish("failed");
      return Promise.reject(this.failure);
    }
    const invalid = validate(msg);
    if (invalid) {
      this.finish("failed");
      return Promise.reject(new QueueError("INVALID", `${this.id}: ${invalid}`));
    }
    this.state = "committing";
    const job: CommitJob = { draft: this, msg };
    if (opts.prefix !== undefined && opts.prefix.length > 0) job.prefix = opts.prefix;
    return this.host.submitCommit(job).then(
      () => {
        this.state = "committed";
        this.buf = null;
        this.host.draftFinished(this.id);
      },
      (err) => {
        this.finish("failed");
        throw err;
      },
    );
  }

  abort(): void {
    if (this.state === "open") this.finish("aborted");
  }

  /** The bytes not yet stored (the last, partial chunk). */
  tail(): Uint8Array | null {
    return this.fill > 0 && this.buf ? this.buf.subarray(0, this.fill) : null;
  }

  /** Called by close(): the store goes away under an open draft. */
  fail(err: QueueError): void {
    if (!this.failure) this.failure = err;
  }

  private finish(state: "failed" | "aborted"): void {
    this.state = state;
    this.buf = null;
    this.fill = 0;
    if (this.rowids.length > 0) this.host.dropChunks(this.id, this.rowids.splice(0));
    this.host.draftFinished(this.id);
  }

  private spill(data: Uint8Array): boolean {
    try {
      this.rowids.push(this.host.spillChunk(this.id, this.spilled, data));
      this.spilled++;
      return true;
    } catch (err) {
      this.failure = toQueueError(err, `${this.id}: storing body`);
      this.buf = null;
      this.fill = 0;
      return false;
    }
  }

  private reserve(need: number): Uint8Array {
    const buf = this.buf;
    if (buf && buf.length >= need) return buf;
    let cap = buf ? buf.length : Math.min(FIRST_BUFFER, this.host.chunkSize);
    while (cap < need) cap = Math.min(cap * 2, this.host.chunkSize);
    const grown = new Uint8Array(cap);
    if (buf && this.fill > 0) grown.set(buf.subarray(0, this.fill));
    this.buf = grown;
    return grown;
  }
}

function validate(msg: NewMessage): string | null {
  if (typeof msg.sender !== "string") return "sender missing";
  if (!Array.isArray(msg.recipients) || msg.recipients.length === 0) return "no recipients";
  for (const r of msg.recipients) {
    if (typeof r.address !== "string" || r.address === "") return "empty recipient address";
  }
  if (msg.state !== undefined && msg.state !== "incoming" && msg.state !== "hold") {
    return `initial state ${msg.state} not allowed`;
  }
  if (typeof msg.origin !== "string") return "origin missing";
  return null;
}
