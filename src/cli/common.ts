/**
 * What the queue tools share: Postfix-style diagnostics (`postsuper: fatal: ...`), POSIX getopt
 * as Postfix's GETOPT (options stop at the first operand), buffered output that streams, lines
 * from standard input, and opening the configuration and the queue database.
 */
import { existsSync } from "node:fs";
import { ConfigError, formatDiagnostic } from "../config/errors.ts";
import { loadConfig } from "../config/index.ts";
import type { Config, ConfigDiagnostic } from "../config/types.ts";
import { openQueue, QueueError, type QueueStore } from "../queue/index.ts";
import type { CliIO } from "./types.ts";

// sysexits.h, as Postfix's postqueue uses them.
export const EX_USAGE = 64;
export const EX_UNAVAILABLE = 69;
export const EX_SOFTWARE = 70;

/** `prog: fatal: text` on standard error; returns the exit status to hand back. */
export function fatal(io: CliIO, text: string, status = 1): number {
  io.stderr(`${io.progName}: fatal: ${text}\n`);
  return status;
}

export function warning(io: CliIO, text: string): void {
  io.stderr(`${io.progName}: warning: ${text}\n`);
}

/** Postfix's msg_info() on a terminal: `prog: text`. */
export function info(io: CliIO, text: string): void {
  io.stderr(`${io.progName}: ${text}\n`);
}

export interface ParsedOptions {
  /** Options in command-line order (Postfix runs postsuper's actions in that order). */
  opts: { opt: string; arg: string }[];
  operands: string[];
}

export interface BadOption {
  bad: string;
  /** The option needs an argument and has none. */
  missing: boolean;
}

/**
 * glibc's getopt complaint (`postsuper: invalid option -- 'x'`), then Postfix's fatal usage
 * line; returns the exit status.
 */
export function usageError(io: CliIO, err: BadOption | null, usage: string, status = 1): number {
  if (err) {
    const what = err.missing ? "option requires an argument" : "invalid option";
    io.stderr(`${io.progName}: ${what} -- '${err.bad}'\n`);
  }
  return fatal(io, usage, status);
}

/**
 * getopt(3) with a leading "+": `-abc`, `-dID` and `-d ID` forms, `--` ends the options, the
 * first operand ends them too. Returns the offending option letter on error.
 */
export function getopt(argv: string[], spec: string): ParsedOptions | BadOption {
  const opts: ParsedOptions["opts"] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      i++;
      break;
    }
    if (a.length < 2 || a[0] !== "-") break;
    for (let j = 1; j < a.length; j++) {
      const opt = a[j];
      const at = spec.indexOf(opt);
      if (opt === ":" || at < 0) return { bad: opt, missing: false };
      if (spec[at + 1] === ":") {
        let arg = a.slice(j + 1);
        if (arg === "") {
          if (i + 1 >= argv.length) return { bad: opt, missing: true };
          arg = argv[++i];
        }
        opts.push({ opt, arg });
        break;
      }
      opts.push({ opt, arg: "" });
    }
  }
  return { opts, operands: argv.slice(i) };
}

/** A broken pipe on standard output (`mailq | head`): stop quietly, as Postfix does. */
export function isBrokenPipe(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "EPIPE";
}

/**
 * Standard output in blocks of about 64 KiB: one write per block instead of one per line, and
 * never more than one block held, however long the listing.
 */
export class Output {
  private buf = "";
  private decoder: TextDecoder | null = null;

  constructor(
    private readonly io: CliIO,
    private readonly blockSize = 65536,
  ) {}

  write(text: string): void {
    this.buf += text;
    if (this.buf.length >= this.blockSize) this.flush();
  }

  /** Raw bytes (message text), in order with the text written before. */
  writeBytes(bytes: Uint8Array): void {
    this.flush();
    if (this.io.stdoutBytes) this.io.stdoutBytes(bytes);
    else {
      this.decoder ??= new TextDecoder();
      this.io.stdout(this.decoder.decode(bytes, { stream: true }));
    }
  }

  flush(): void {
    if (this.buf === "") return;
    const text = this.buf;
    this.buf = "";
    this.io.stdout(text);
  }
}

/**
 * Lines from a byte stream without their line ends (LF or CRLF), each cut to `maxLength`
 * characters so that a runaway line cannot grow without bound. Several reads may share the
 * stream (a password typed twice).
 */
export class LineReader {
  private readonly reader: {
    read(): Promise<{ value?: Uint8Array; done: boolean }>;
    cancel(): Promise<void>;
  };
  private readonly decoder = new TextDecoder();
  private pending = "";
  private pos = 0; // start of the unread part of pending (no copy per line)
  private eof = false;

  constructor(
    stream: ReadableStream<Uint8Array>,
    private readonly maxLength = 4096,
  ) {
    this.reader = stream.getReader();
  }

  async next(): Promise<string | null> {
    for (;;) {
      const nl = this.pending.indexOf("\n", this.pos);
      if (nl >= 0) {
        const line = this.pending.slice(this.pos, nl);
        this.pos = nl + 1;
        return this.cut(line);
      }
      if (this.eof) {
        if (this.pos >= this.pending.length) return null;
        const line = this.pending.slice(this.pos);
        this.pending = "";
        this.pos = 0;
        return this.cut(line);
      }
      const { value, done } = await this.reader.read();
      let rest = this.pending.slice(this.pos);
      if (done) {
        this.eof = true;
        rest += this.decoder.decode();
      } else {
        rest += this.decoder.decode(value, { stream: true });
        // Keep at most maxLength of a line that has no end yet (plus one CR for CRLF).
        if (rest.length > this.maxLength + 1 && rest.indexOf("\n") < 0) {
          rest = rest.slice(0, this.maxLength);
        }
      }
      this.pending = rest;
      this.pos = 0;
    }
  }

  /** Stop reading (the rest of the input is left unread). */
  close(): void {
    this.reader.cancel().catch(() => {});
  }

  private cut(line: string): string {
    const l = line.endsWith("\r") ? line.slice(0, -1) : line;
    return l.length > this.maxLength ? l.slice(0, this.maxLength) : l;
  }
}

/** Every line of standard input (see LineReader). */
export async function* stdinLines(io: CliIO, maxLength = 4096): AsyncGenerator<string> {
  const lines = new LineReader(io.stdin(), maxLength);
  for (let line = await lines.next(); line !== null; line = await lines.next()) yield line;
}

/** Prints configuration diagnostics Postfix-style; returns true when one was an error. */
export function printDiagnostics(io: CliIO, diags: readonly ConfigDiagnostic[]): boolean {
  let bad = false;
  for (const d of diags) {
    if (d.severity === "error") {
      bad = true;
      io.stderr(`${io.progName}: fatal: ${formatDiagnostic(d)}\n`);
    } else io.stderr(`${io.progName}: warning: ${formatDiagnostic(d)}\n`);
  }
  return bad;
}

/**
 * The configuration, or the exit status after its errors were printed (`file, line N: ...`).
 * Warnings such as unused parameters are left to `postconf` and `posteix check`: the queue
 * tools keep standard error for their own results, as Postfix's do.
 */
export function loadCliConfig(io: CliIO): Config | number {
  try {
    return loadConfig({ configDir: io.configDir });
  } catch (err) {
    if (err instanceof ConfigError) {
      printDiagnostics(io, err.diagnostics);
      return 1;
    }
    return fatal(io, err instanceof Error ? err.message : String(err));
  }
}

export interface QueueContext {
  cfg: Config;
  queueDir: string;
  /** null when the queue directory does not exist and `missing` is "empty". */
  queue: QueueStore | null;
}

/**
 * Load the configuration and open the queue. What a missing queue directory means is the
 * caller's choice: "create" it (user add before the first start), treat the queue as "empty"
 * (mailq in a directory without a queue must not leave one behind), or "fail" as Postfix's
 * postsuper does (`chdir /var/spool/postfix: No such file or directory`).
 */
export function openQueueContext(
  io: CliIO,
  missing: "create" | "empty" | "fail",
  failStatus = 1,
): QueueContext | number {
  const cfg = loadCliConfig(io);
  if (typeof cfg === "number") return cfg;
  const queueDir = cfg.path("queue_directory");
  if (missing !== "create" && !existsSync(queueDir)) {
    if (missing === "fail") {
      return fatal(io, `chdir ${queueDir}: No such file or directory`, failStatus);
    }
    return { cfg, queueDir, queue: null };
  }
  try {
    return { cfg, queueDir, queue: openQueue({ directory: queueDir }) };
  } catch (err) {
    return fatal(io, errorText(err));
  }
}

export function errorText(err: unknown): string {
  if (err instanceof QueueError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
