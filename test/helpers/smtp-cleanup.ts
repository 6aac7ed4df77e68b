/**
 * A test-only CleanupSession at smtpd's contract (src/cleanup/types.ts): it records what smtpd
 * handed over (input, recipients, content or only its size, end or abort) and answers end()
 * with a scripted outcome. For unit tests of the SMTP server without a queue; the integration
 * tests use the real cleanup and queue.
 */
import type { CleanupInput, CleanupOutcome, CleanupSession } from "../../src/cleanup/types.ts";
import type { NewRecipient } from "../../src/queue/types.ts";

export interface RecordedMessage {
  queueId: string;
  input: CleanupInput;
  recipients: NewRecipient[];
  /** Content as received (only when `keepContent`). */
  chunks: Uint8Array[];
  size: number;
  /** Largest single write(). */
  largestWrite: number;
  writes: number;
  ended: boolean;
  aborted: boolean;
  outcome?: CleanupOutcome;
}

export interface RecordingCleanupOptions {
  /** Keep the content (default true); false only counts it (memory tests). */
  keepContent?: boolean;
  /** The end() outcome; default queued. */
  outcome?: (m: RecordedMessage) => CleanupOutcome | Promise<CleanupOutcome>;
  /** Make end() throw (an unexpected failure). */
  throwOnEnd?: boolean;
}

let seq = 0x1a2b3c;

export function recordingCleanup(opts: RecordingCleanupOptions = {}) {
  const messages: RecordedMessage[] = [];
  const keep = opts.keepContent ?? true;
  function newCleanup(input: CleanupInput): CleanupSession {
    const m: RecordedMessage = {
      queueId: (seq++).toString(16).toUpperCase().padStart(10, "0"),
      input,
      recipients: [],
      chunks: [],
      size: 0,
      largestWrite: 0,
      writes: 0,
      ended: false,
      aborted: false,
    };
    messages.push(m);
    return {
      get queueId() {
        return m.queueId;
      },
      get size() {
        return m.size;
      },
      addRecipient(r) {
        m.recipients.push(r);
      },
      write(bytes) {
        if (m.ended || m.aborted) throw new Error("write after end/abort");
        m.size += bytes.length;
        m.writes++;
        if (bytes.length > m.largestWrite) m.largestWrite = bytes.length;
        if (keep) m.chunks.push(Uint8Array.from(bytes));
      },
      async end() {
        if (m.ended || m.aborted) throw new Error("end after end/abort");
        m.ended = true;
        if (opts.throwOnEnd) throw new Error("disk on fire");
        m.outcome = opts.outcome
          ? await opts.outcome(m)
          : { kind: "queued", queueId: m.queueId, held: false };
        return m.outcome;
      },
      abort() {
        if (!m.ended) m.aborted = true;
      },
    };
  }
  const content = (m: RecordedMessage) => Buffer.concat(m.chunks).toString("latin1");
  return { newCleanup, messages, content };
}
