/**
 * postcat -- show a queued message, as Postfix's postcat(1) shows a queue file.
 *
 *   postcat [-c config_dir] [-b] [-e] [-h] [-q] [-v] queue_id...
 *
 *   -e  envelope records (sender, recipients, DSN attributes, arrival time, client)
 *   -h  the header section          -b  the body, from the blank line after the headers
 *   (none of them: all three, framed by Postfix's `*** ENVELOPE RECORDS state/ID ***`,
 *   `*** MESSAGE CONTENTS ... ***`, `*** HEADER EXTRACTED ... ***`, `*** MESSAGE FILE END ***`)
 *   -q  names are queue IDs (names without -q are taken as queue file paths; their last
 *       component is the ID, since the queue lives in a database here)
 *
 * Message text is printed with LF line ends (the queue keeps CRLF) and streamed chunk by chunk
 * whatever its size. Records Postfix keeps but posteix does not (content offsets, pointer
 * records) print as zero or not at all; -d, -o, -f and -s need record offsets and are refused.
 * main.cf parameters: queue_directory.
 */
import { basename } from "node:path";
import { isQueueId, type MessageRecord, type QueueStore } from "../queue/index.ts";
import {
  errorText,
  fatal,
  getopt,
  isBrokenPipe,
  Output,
  openQueueContext,
  usageError,
} from "./common.ts";
import { asctime } from "./queue-format.ts";
import type { CliCommand } from "./types.ts";

const USAGE =
  "[-b (body text)] [-c config_dir] [-e (envelope records)] [-h (header text)] " +
  "[-q (access queue)] [-v] [file(s)...]";

export interface PostcatFlags {
  envelope: boolean;
  header: boolean;
  body: boolean;
}

const NOTIFY_BITS = { NEVER: 1, SUCCESS: 2, FAILURE: 4, DELAY: 8 } as const;
const RET_BITS = { FULL: 1, HDRS: 2 } as const;
/** MAIL FROM BODY= as Postfix's encoding attribute (mail_proto.h MAIL_ATTR_ENC_*). */
const ENCODINGS: Record<string, string> = {
  "7BIT": "7bit",
  "8BITMIME": "8bit",
  BINARYMIME: "binary",
};

/** The envelope records of a message, one `name: value` line each, in Postfix's order. */
export function envelopeRecords(msg: MessageRecord): string {
  const n15 = (v: number) => String(v).padStart(15);
  const when = asctime(msg.arrivalTime);
  // message_size: content size, content offset (none in a database), recipients, qmgr flags,
  // content length, SMTPUTF8 flags.
  let out =
    `message_size: ${n15(msg.size)} ${n15(0)} ${n15(msg.recipients.length)} ${n15(0)} ` +
    `${n15(msg.size)} ${n15(msg.smtputf8 ? 1 : 0)}\n` +
    `message_arrival_time: ${when}\ncreate_time: ${when}\n`;
  const attr = (name: string, value: string) => {
    out += `named_attribute: ${name}=${value}\n`;
  };
  const c = msg.client;
  if (c) {
    attr("log_client_name", c.name);
    attr("log_client_address", c.addr);
    attr("log_message_origin", c.addr ? `${c.name}[${c.addr}]` : c.name);
    if (c.helo !== undefined) attr("log_helo_name", c.helo);
    attr("log_protocol_name", c.protocol);
    if (c.saslUser) attr("sasl_username", c.saslUser);
  }
  attr("rewrite_context", msg.origin === "smtpd" ? "remote" : "local");
  const encoding = msg.bodyType ? ENCODINGS[msg.bodyType] : undefined;
  if (encoding) attr("encoding", encoding);
  if (msg.envid !== null) attr("envelope_id", msg.envid);
  if (msg.ret !== null) attr("ret_flags", String(RET_BITS[msg.ret]));
  out += `sender: ${msg.sender}\n`;
  if (msg.warnedAt !== null) out += `warning_message_time: ${asctime(msg.warnedAt)}\n`;
  for (const r of msg.recipients) {
    const notify = r.notify.reduce((bits, v) => bits | NOTIFY_BITS[v], 0);
    if (notify) attr("notify_flags", String(notify));
    if (r.orcpt) attr("dsn_orig_rcpt", r.orcpt);
    out += `original_recipient: ${r.original ?? r.address}\n`;
    const done = r.status === "sent" || r.status === "bounced" || r.status === "expired";
    out += `${done ? "done_recipient" : "recipient"}: ${r.address}\n`;
  }
  return out;
}

/** CRLF -> LF over a stream of chunks; a CR at the end of a chunk waits for the next one. */
export class LineEndConverter {
  private heldCR = false;
  lastByte = -1;

  constructor(private readonly write: (b: Uint8Array) => void) {}

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    let start = 0;
    if (this.heldCR) {
      this.heldCR = false;
      if (chunk[0] !== 10) this.emit(Uint8Array.of(13));
    }
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    for (let cr = buf.indexOf(13, start); cr >= 0; cr = buf.indexOf(13, start)) {
      if (cr === buf.length - 1) {
        this.emit(chunk.subarray(start, cr));
        this.heldCR = true;
        return;
      }
      if (buf[cr + 1] === 10) {
        this.emit(chunk.subarray(start, cr));
        start = cr + 1; // the LF starts the next run
      } else {
        this.emit(chunk.subarray(start, cr + 1));
        start = cr + 1;
      }
    }
    this.emit(chunk.subarray(start));
  }

  end(): void {
    if (this.heldCR) {
      this.heldCR = false;
      this.emit(Uint8Array.of(13));
    }
  }

  private emit(b: Uint8Array): void {
    if (b.length === 0) return;
    this.lastByte = b[b.length - 1];
    this.write(b);
  }
}

/** Message text from byte `from` to `to` (exclusive; -1 = end), LF line ends. */
function writeText(
  queue: QueueStore,
  id: string,
  from: number,
  to: number,
  conv: LineEndConverter,
): void {
  let pos = 0;
  for (const chunk of queue.body(id)) {
    const end = pos + chunk.length;
    const a = Math.max(from, pos) - pos;
    const b = (to < 0 ? end : Math.min(to, end)) - pos;
    if (b > a) conv.push(a === 0 && b === chunk.length ? chunk : chunk.subarray(a, b));
    pos = end;
    if (to >= 0 && pos >= to) break;
  }
}

/** Print one message as postcat does. */
export function postcat(queue: QueueStore, msg: MessageRecord, flags: PostcatFlags, out: Output) {
  const path = `${msg.state}/${msg.id}`;
  const marker = (text: string) => {
    if (flags.envelope) out.write(`*** ${text} ${path} ***\n`);
  };
  marker("ENVELOPE RECORDS");
  if (flags.envelope) out.write(envelopeRecords(msg));
  marker("MESSAGE CONTENTS");
  if (flags.header || flags.body) {
    const conv = new LineEndConverter((b) => out.writeBytes(b));
    const headerLen = queue.headerBytes(msg.id).length;
    if (flags.header && flags.body) writeText(queue, msg.id, 0, -1, conv);
    else if (flags.header) writeText(queue, msg.id, 0, headerLen, conv);
    else writeText(queue, msg.id, headerLen, -1, conv);
    conv.end();
    // Postfix ends every record with a newline, the last text line included.
    if (conv.lastByte !== -1 && conv.lastByte !== 10) out.write("\n");
  }
  marker("HEADER EXTRACTED");
  marker("MESSAGE FILE END");
  out.flush();
}

export const run: CliCommand = async (argv, io) => {
  const parsed = getopt(argv, "bc:defhoqrs:v");
  if ("bad" in parsed) return usageError(io, parsed, `usage: ${io.progName} ${USAGE}`);
  const flags: PostcatFlags = { envelope: false, header: false, body: false };
  let searchQueue = false;
  for (const { opt, arg } of parsed.opts) {
    if (opt === "c") io = { ...io, configDir: arg };
    else if (opt === "e") flags.envelope = true;
    else if (opt === "h") flags.header = true;
    else if (opt === "b") flags.body = true;
    else if (opt === "q") searchQueue = true;
    else if (opt === "d" || opt === "o" || opt === "f" || opt === "s") {
      return fatal(io, `-${opt} is not supported: queue files have no records here`);
    }
  }
  if (!flags.envelope && !flags.header && !flags.body) {
    flags.envelope = flags.header = flags.body = true;
  }
  if (parsed.operands.length === 0) return fatal(io, `usage: ${io.progName} ${USAGE}`);

  const ids: string[] = [];
  for (const name of parsed.operands) {
    if (searchQueue) {
      if (!isQueueId(name.toUpperCase())) return fatal(io, `bad mail queue ID: ${name}`);
      ids.push(name);
    } else {
      const id = basename(name);
      if (!isQueueId(id.toUpperCase())) return fatal(io, `open ${name}: No such file or directory`);
      ids.push(id);
    }
  }

  const ctx = openQueueContext(io, "empty");
  if (typeof ctx === "number") return ctx;
  const out = new Output(io);
  try {
    for (const id of ids) {
      const msg = ctx.queue?.get(id) ?? null;
      if (!msg) {
        out.flush();
        return fatal(io, `open queue file ${id}: No such file or directory`);
      }
      postcat(ctx.queue!, msg, flags, out);
    }
    return 0;
  } catch (err) {
    if (isBrokenPipe(err)) return 0;
    return fatal(io, errorText(err));
  } finally {
    ctx.queue?.close();
  }
};
