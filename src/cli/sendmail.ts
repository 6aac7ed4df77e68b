/**
 * sendmail -- the Sendmail-compatible submission command (Postfix sendmail(1)).
 *
 *   sendmail [-t] [-i|-oi] [-f sender] [-F full_name] [-N dsn] [-R ret] [-V envid] [rcpt ...]
 *   sendmail -bs      SMTP dialogue on standard input/output
 *   sendmail -bp      = mailq;   sendmail -bi = newaliases;   sendmail -q = postqueue -f
 *
 * Reads the message on standard input (LF or CRLF line endings; without -i a line with a
 * single "." ends it), passes it through cleanup into the queue (so it is rewritten, signed
 * and logged like any other mail) and wakes a running daemon. Works whether or not the daemon
 * runs: the queue is a database, not a socket.
 *
 * Exit codes are sendmail's sysexits: 0 ok, 64 usage, 65 data error, 75 temporary failure.
 */
import { userInfo } from "node:os";
import { openCleanup } from "../cleanup/index.ts";
import { loadConfig } from "../config/index.ts";
import type { Config } from "../config/types.ts";
import { configureLog, logger, logOptionsFromConfig, setLogQuiet } from "../log/index.ts";
import { notifyDaemon } from "../master/control.ts";
import { registerQueueTables } from "../master/tables.ts";
import { openQueue } from "../queue/index.ts";
import type { DsnNotify } from "../queue/types.ts";
import { AddressError, parseMailbox } from "../rewrite/address.ts";
import type { CliCommand, CliIO } from "./types.ts";

const EX_USAGE = 64;
const EX_DATAERR = 65;
const EX_TEMPFAIL = 75;

export interface SendmailOptions {
  mode: "deliver" | "smtp" | "mailq" | "newaliases" | "flush";
  extract: boolean;
  dotEndsInput: boolean;
  sender?: string;
  fullName?: string;
  notify?: DsnNotify[];
  ret?: "FULL" | "HDRS";
  envid?: string;
  configDir?: string;
  recipients: string[];
}

/** Parse sendmail's flags (both `-f addr` and `-faddr` forms). Throws a usage message. */
export function parseSendmailArgs(argv: string[]): SendmailOptions {
  const o: SendmailOptions = {
    mode: "deliver",
    extract: false,
    dotEndsInput: true,
    recipients: [],
  };
  const value = (i: number, flag: string): [string, number] => {
    const a = argv[i];
    if (a.length > flag.length) return [a.slice(flag.length), i];
    if (i + 1 >= argv.length) throw new Error(`option requires an argument -- '${flag.slice(1)}'`);
    return [argv[i + 1], i + 1];
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    if (a === "-t") o.extract = true;
    else if (a === "-i" || a === "-oi") o.dotEndsInput = false;
    else if (a === "-bs") o.mode = "smtp";
    else if (a === "-bp") o.mode = "mailq";
    else if (a === "-bi" || a === "-I") o.mode = "newaliases";
    else if (a === "-bm" || a === "-bd" || a === "-bD") o.mode = a === "-bm" ? "deliver" : o.mode;
    else if (a === "-q" || a.startsWith("-q")) o.mode = "flush";
    else if (a.startsWith("-f") || a.startsWith("-r")) {
      const flag = a.slice(0, 2);
      [o.sender, i] = value(i, flag);
    } else if (a.startsWith("-F")) [o.fullName, i] = value(i, "-F");
    else if (a.startsWith("-N")) {
      let v: string;
      [v, i] = value(i, "-N");
      const list = v
        .toUpperCase()
        .split(",")
        .map((s) => s.trim());
      const bad = list.find((n) => !["NEVER", "SUCCESS", "FAILURE", "DELAY"].includes(n));
      if (bad) throw new Error(`bad -N option value: ${v}`);
      o.notify = list as DsnNotify[];
    } else if (a.startsWith("-R")) {
      let v: string;
      [v, i] = value(i, "-R");
      const up = v.toUpperCase();
      if (up !== "FULL" && up !== "HDRS") throw new Error(`bad -R option value: ${v}`);
      o.ret = up;
    } else if (a.startsWith("-V")) [o.envid, i] = value(i, "-V");
    else if (a.startsWith("-C")) [o.configDir, i] = value(i, "-C");
    else if (
      a.startsWith("-o") ||
      a.startsWith("-B") ||
      a.startsWith("-h") ||
      a.startsWith("-X") ||
      a.startsWith("-L")
    ) {
      // -oX options, body type, hop count, log file, label: accepted and ignored, as Postfix
      // does for most of them. Those that take a separate argument consume it.
      if ((a === "-B" || a === "-h" || a === "-X" || a === "-L") && i + 1 < argv.length) i++;
    } else if (
      a === "-v" ||
      a === "-n" ||
      a === "-m" ||
      a === "-U" ||
      a === "-G" ||
      a === "-Am" ||
      a === "-Ac" ||
      a === "-odi" ||
      a === "-odb" ||
      a === "-odq"
    ) {
      // ignored compatibility flags
    } else throw new Error(`invalid option -- '${a.slice(1)}'`);
  }
  o.recipients = argv.slice(i);
  return o;
}

/**
 * Turn standard-input text into canonical CRLF content, streaming. With dotEndsInput a line
 * consisting of "." ends the message (sendmail without -i).
 */
export async function* normalizeInput(
  stream: ReadableStream<Uint8Array>,
  dotEndsInput: boolean,
): AsyncGenerator<Uint8Array> {
  let carry = ""; // an incomplete last line, as latin1 text
  let atLineStart = true;
  for await (const chunk of stream) {
    const text = carry + Buffer.from(chunk).toString("latin1");
    carry = "";
    let out = "";
    let pos = 0;
    while (pos < text.length) {
      const nl = text.indexOf("\n", pos);
      if (nl === -1) {
        carry = text.slice(pos);
        break;
      }
      let line = text.slice(pos, nl);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      pos = nl + 1;
      if (dotEndsInput && atLineStart && line === ".") {
        if (out) yield Buffer.from(out, "latin1");
        return;
      }
      out += `${line}\r\n`;
      atLineStart = true;
    }
    if (out) yield Buffer.from(out, "latin1");
  }
  if (carry !== "" && !(dotEndsInput && carry === ".")) yield Buffer.from(`${carry}\r\n`, "latin1");
}

function loginName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? "root";
  }
}

export const run: CliCommand = async (argv, io) => {
  let opts: SendmailOptions;
  try {
    opts = parseSendmailArgs(argv);
  } catch (err) {
    io.stderr(`sendmail: ${err instanceof Error ? err.message : String(err)}\n`);
    return EX_USAGE;
  }
  const subIO: CliIO = { ...io, configDir: opts.configDir ?? io.configDir };
  if (opts.mode === "mailq") return (await import("./mailq.ts")).run([], subIO);
  if (opts.mode === "newaliases") return (await import("./newaliases.ts")).run([], subIO);
  if (opts.mode === "flush") return (await import("./postqueue.ts")).run(["-f"], subIO);
  if (opts.mode === "smtp") return (await import("./sendmail-bs.ts")).runSmtpOnStdio(subIO);
  if (!opts.extract && opts.recipients.length === 0) {
    io.stderr("sendmail: fatal: no recipient addresses found in message header\n");
    return EX_USAGE;
  }

  let cfg: Config;
  try {
    cfg = loadConfig({ configDir: subIO.configDir });
  } catch (err) {
    io.stderr(`sendmail: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    return EX_TEMPFAIL;
  }
  // The log goes to $maillog_file when set; never onto the user's terminal.
  setLogQuiet(true);
  configureLog(logOptionsFromConfig(cfg));
  const queueDir = cfg.path("queue_directory");
  const queue = openQueue({ directory: queueDir, chunkSize: cfg.size("queue_body_chunk_size") });
  registerQueueTables(queue, queueDir);
  try {
    const user = loginName();
    let sender = opts.sender ?? user;
    if (sender === "<>") sender = "";
    if (sender !== "") sender = parseMailbox(sender.replace(/^<(.*)>$/, "$1"), true);
    const cleanup = openCleanup(
      { cfg, queue },
      {
        sender,
        origin: "sendmail",
        client: { name: "localhost", addr: "", protocol: "local" },
        trusted: true,
        envid: opts.envid,
        ret: opts.ret,
      },
      { extractRecipients: opts.extract, fullName: opts.fullName },
    );
    for (const r of opts.recipients) {
      for (const addr of r
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)) {
        cleanup.addRecipient({
          address: parseMailbox(addr.replace(/^<(.*)>$/, "$1"), true),
          notify: opts.notify,
        });
      }
    }
    logger("pickup").info(`${cleanup.queueId}: uid=${process.getuid?.() ?? 0} from=<${sender}>`);
    for await (const chunk of normalizeInput(io.stdin(), opts.dotEndsInput)) cleanup.write(chunk);
    const out = await cleanup.end();
    if (out.kind === "queued" || out.kind === "discarded") {
      await notifyDaemon(queueDir, { kind: "wakeup" });
      return 0;
    }
    io.stderr(`sendmail: fatal: ${out.code} ${out.enhanced} ${out.text}\n`);
    return out.code >= 500 ? EX_DATAERR : EX_TEMPFAIL;
  } catch (err) {
    if (err instanceof AddressError) {
      io.stderr(`sendmail: fatal: bad address syntax: ${err.message}\n`);
      return EX_DATAERR;
    }
    io.stderr(`sendmail: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    return EX_TEMPFAIL;
  } finally {
    queue.close();
  }
};
