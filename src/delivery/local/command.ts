/**
 * Delivery to "|command" (aliases, :include: files): /bin/sh -c command, the message on standard
 * input (From line, Return-Path, Delivered-To, then the message with LF line ends), a time limit
 * ($command_time_limit), and the exit status read as sendmail's sysexits(3) codes: 0 delivered,
 * EX_TEMPFAIL (75) and EX_OSERR (71) deferred, any other status bounced with its DSN code, death
 * by a signal or the time limit deferred.
 */

import type { Subprocess } from "bun";
import { MailboxError } from "../mailbox-error.ts";

/** sysexits.h codes as Postfix's sys_exits.c maps them. */
const SYSEXITS: Record<number, [dsn: string, text: string]> = {
  64: ["5.3.0", "command line usage error"],
  65: ["5.6.0", "data format error"],
  66: ["5.3.0", "cannot open input"],
  67: ["5.1.1", "user unknown"],
  68: ["5.1.2", "host name unknown"],
  69: ["5.3.0", "service unavailable"],
  70: ["5.3.0", "internal software error"],
  71: ["4.3.0", "system resource problem"],
  72: ["5.3.0", "critical OS file missing"],
  73: ["5.2.0", "can't create user output file"],
  74: ["5.3.0", "input/output error"],
  75: ["4.3.0", "temporary failure"],
  76: ["5.5.0", "remote error in protocol"],
  77: ["5.7.0", "permission denied"],
  78: ["5.3.5", "local configuration error"],
};

/** Command output kept for the diagnostic. */
const MAX_OUTPUT = 2000;

export interface CommandRun {
  command: string;
  /** Bytes written before the body (From line and envelope headers). */
  prefix: Uint8Array;
  /** The body converted for the command (LF line ends). */
  body: AsyncIterable<Uint8Array>;
  env: Record<string, string>;
  cwd: string;
  uid?: number;
  gid?: number;
  timeLimitMs: number;
}

async function readLimited(
  stream: ReadableStream<Uint8Array>,
  into: { text: string },
): Promise<void> {
  const decoder = new TextDecoder();
  for await (const part of stream) {
    if (into.text.length < MAX_OUTPUT) into.text += decoder.decode(part, { stream: true });
  }
}

/** Runs the command; resolves when it has exited, or throws a MailboxError for failures. */
export async function deliverCommand(run: CommandRun): Promise<void> {
  let proc: Subprocess<"pipe", "pipe", "pipe">;
  try {
    proc = Bun.spawn(["/bin/sh", "-c", run.command], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: run.env,
      cwd: run.cwd,
      ...(run.uid !== undefined ? { uid: run.uid, gid: run.gid } : {}),
    });
  } catch (err) {
    throw new MailboxError(
      "deferred",
      "4.3.0",
      `cannot execute command "${run.command}": ${String(err)}`,
    );
  }
  const output = { text: "" };
  const reading = Promise.all([readLimited(proc.stdout, output), readLimited(proc.stderr, output)]);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, run.timeLimitMs);
  try {
    // A command that exits without reading all of its input is not an error (EPIPE).
    try {
      proc.stdin.write(run.prefix);
      await proc.stdin.flush();
      for await (const chunk of run.body) {
        if (proc.exitCode !== null || proc.signalCode !== null) break;
        proc.stdin.write(chunk);
        await proc.stdin.flush();
      }
      await proc.stdin.end();
    } catch {
      // the command went away; its exit status says what happened
    }
    await proc.exited;
    await reading.catch(() => {});
  } finally {
    clearTimeout(timer);
  }
  const out = output.text.trim().replace(/\s+/g, " ").slice(0, MAX_OUTPUT);
  const suffix = out === "" ? "" : ` Command output: ${out}`;
  if (timedOut)
    throw new MailboxError(
      "deferred",
      "4.3.0",
      `Command time limit exceeded: "${run.command}".${suffix}`,
    );
  if (proc.signalCode !== null)
    throw new MailboxError(
      "deferred",
      "4.3.0",
      `Command died with signal ${proc.signalCode}: "${run.command}".${suffix}`,
    );
  const code = proc.exitCode ?? 0;
  if (code === 0) return;
  const [dsn, text] = SYSEXITS[code] ?? ["5.3.0", "unknown mail system error"];
  throw new MailboxError(
    dsn.startsWith("4") ? "deferred" : "bounced",
    dsn,
    `Command died with status ${code}: "${run.command}" (${text}).${suffix}`,
  );
}
