/**
 * log -- the operator log, in Postfix's maillog format or as JSON lines.
 *
 * One line per event: `posteix/smtpd[PID]: QUEUEID: from=<a@b>, size=123, nrcpt=1 (queue active)`
 * so that pflogsumm, fail2ban's postfix filters and grep habits keep working. With
 * `maillog_file` set, lines get Postfix's syslog-style prefix (`Nov 28 10:00:00 HOST `); with
 * `log_format = json` each event is one JSON object with the same text plus structured fields.
 *
 * Parameters: maillog_file, log_format, syslog_name, myhostname.
 *
 * Two channels (STYLE.md habit 7): `Logger` for operator events; per-session SMTP traces are
 * written through the same sink with the `debug` severity, only for $debug_peer_list clients.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { Config } from "../config/types.ts";

export type Severity = "info" | "warning" | "error" | "fatal" | "panic" | "debug";

export interface LogSinkOptions {
  /** Path of maillog_file; "" or undefined = standard error. "/dev/stdout" works too. */
  file?: string;
  format?: "postfix" | "json";
  hostname?: string;
  syslogName?: string;
}

interface Sink {
  fd: number; // 2 = stderr
  ownFd: boolean;
  syslogPrefix: boolean;
  format: "postfix" | "json";
  hostname: string;
  syslogName: string;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

let sink: Sink = {
  fd: 2,
  ownFd: false,
  syslogPrefix: false,
  format: "postfix",
  hostname: "localhost",
  syslogName: "posteix",
};

/** Listeners get every line (tests capture logs this way; the API counts rejects). */
type LogListener = (program: string, severity: Severity, text: string) => void;
const listeners = new Set<LogListener>();
let quiet = false;

/** The log settings main.cf asks for ($maillog_file, $log_format, $myhostname, $syslog_name). */
export function logOptionsFromConfig(cfg: Config): LogSinkOptions {
  return {
    file: cfg.str("maillog_file") ? cfg.path("maillog_file") : undefined,
    format: cfg.str("log_format") === "json" ? "json" : "postfix",
    hostname: cfg.str("myhostname"),
    syslogName: cfg.str("syslog_name"),
  };
}

export function configureLog(opts: LogSinkOptions): void {
  flushLog();
  if (sink.ownFd) closeSync(sink.fd);
  let fd = 2;
  let ownFd = false;
  if (opts.file === "/dev/stdout") fd = 1;
  else if (opts.file && opts.file !== "/dev/stderr") {
    fd = openSync(opts.file, "a", 0o640);
    ownFd = true;
  }
  sink = {
    fd,
    ownFd,
    syslogPrefix: ownFd,
    format: opts.format ?? "postfix",
    hostname: (opts.hostname ?? "localhost").split(".")[0] || "localhost",
    syslogName: opts.syslogName ?? "posteix",
  };
}

/** Silence standard-error output (CLI commands that print their own results). */
export function setLogQuiet(value: boolean): void {
  quiet = value;
}

export function onLog(listener: LogListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function syslogTime(d: Date): string {
  const day = String(d.getDate()).padStart(2, " ");
  const hh = String(d.getHours()).padStart(2, "0");
  const mm = String(d.getMinutes()).padStart(2, "0");
  const ss = String(d.getSeconds()).padStart(2, "0");
  return `${MONTHS[d.getMonth()]} ${day} ${hh}:${mm}:${ss}`;
}

const QUEUE_ID_PREFIX = /^([0-9A-F]{6,20}|NOQUEUE): /;

function emit(program: string, severity: Severity, text: string): void {
  for (const l of listeners) l(program, severity, text);
  if (quiet && !sink.ownFd) return;
  const now = new Date();
  const body = severity === "info" || severity === "debug" ? text : `${severity}: ${text}`;
  let line: string;
  if (sink.format === "json") {
    const m = QUEUE_ID_PREFIX.exec(text);
    line = `${JSON.stringify({
      time: now.toISOString(),
      host: sink.hostname,
      program,
      pid: process.pid,
      severity,
      queue_id: m && m[1] !== "NOQUEUE" ? m[1] : undefined,
      message: body,
      ...parseFields(m ? text.slice(m[0].length) : text),
    })}\n`;
  } else {
    const prefix = sink.syslogPrefix ? `${syslogTime(now)} ${sink.hostname} ` : "";
    line = `${prefix}${program}[${process.pid}]: ${body}\n`;
  }
  pending.push(line);
  // Lines are written in batches once per event-loop turn: one write(2) for a burst of
  // sessions instead of one per line. fatal/panic lines are written at once.
  if (severity === "fatal" || severity === "panic") flushLog();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushLog);
  }
}

let pending: string[] = [];
let flushScheduled = false;

export function flushLog(): void {
  flushScheduled = false;
  if (pending.length === 0) return;
  const text = pending.length === 1 ? pending[0] : pending.join("");
  pending = [];
  try {
    writeSync(sink.fd, text);
  } catch {
    // A log write must never take the MTA down (EPIPE on a closed stderr, disk full).
  }
}

process.on("exit", flushLog);

/** Postfix-style `key=value, key=<value>` fields, for JSON lines. */
function parseFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(?:^|, )([a-z_]+)=(<[^>]*>|\[[^\]]*\]|[^,\s]*)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let v = m[2];
    if (v.startsWith("<") && v.endsWith(">")) v = v.slice(1, -1);
    if (!(m[1] in out)) out[m[1]] = v;
  }
  return out;
}

export interface Logger {
  readonly program: string;
  info(text: string): void;
  warn(text: string): void;
  error(text: string): void;
  fatal(text: string): void;
  debug(text: string): void;
}

/** A logger for one program name: `logger("smtpd")` logs as `posteix/smtpd`. */
export function logger(name: string, syslogName?: string): Logger {
  const program = name.includes("/") ? name : `${syslogName ?? sink.syslogName}/${name}`;
  return {
    program,
    info: (t) => emit(program, "info", t),
    warn: (t) => emit(program, "warning", t),
    error: (t) => emit(program, "error", t),
    fatal: (t) => emit(program, "fatal", t),
    debug: (t) => emit(program, "debug", t),
  };
}

export function closeLog(): void {
  flushLog();
  if (sink.ownFd) {
    closeSync(sink.fd);
    sink = { ...sink, fd: 2, ownFd: false, syslogPrefix: false };
  }
}
