/**
 * posteix -- one multi-call binary for the whole mail system.
 *
 *   posteix [-c DIR] COMMAND [ARGS]      posteix run | start | stop | reload | status | check | init
 *   sendmail, mailq, postqueue, postsuper, postcat, postconf, newaliases   (through links)
 *
 * Invoked through a link named like a Postfix command, the binary acts as that command
 * (`posteix install-links DIR` makes the links). `-c DIR` or POSTEIX_CONFIG_DIR selects the
 * configuration directory on every command.
 */
import { writeSync } from "node:fs";
import { basename } from "node:path";
import { isatty } from "node:tty";
import type { CliCommand, CliIO } from "./cli/types.ts";
import { flushLog } from "./log/index.ts";

type Loader = () => Promise<{ run: CliCommand }>;

/** Command name -> module. Loaded lazily so `mailq` does not pay for TLS or mailauth. */
export const COMMANDS: Record<string, Loader> = {
  run: () => import("./master/commands/run.ts"),
  start: () => import("./master/commands/start.ts"),
  stop: () => import("./master/commands/stop.ts"),
  reload: () => import("./master/commands/reload.ts"),
  status: () => import("./master/commands/status.ts"),
  check: () => import("./master/commands/check.ts"),
  init: () => import("./master/commands/init.ts"),
  postconf: () => import("./cli/postconf.ts"),
  mailq: () => import("./cli/mailq.ts"),
  postqueue: () => import("./cli/postqueue.ts"),
  postsuper: () => import("./cli/postsuper.ts"),
  postcat: () => import("./cli/postcat.ts"),
  sendmail: () => import("./cli/sendmail.ts"),
  newaliases: () => import("./cli/newaliases.ts"),
  user: () => import("./cli/user.ts"),
  dkim: () => import("./cli/dkim.ts"),
  "install-links": () => import("./cli/install-links.ts"),
};

/** Names that act as their command when the binary is invoked through a link. */
export const LINK_NAMES = [
  "sendmail",
  "mailq",
  "postqueue",
  "postsuper",
  "postcat",
  "postconf",
  "newaliases",
];

const USAGE = `usage: posteix [-c config_dir] command [args]

commands:
  run                  run in the foreground (systemd, containers)
  start | stop         start as a daemon / stop it (SIGTERM, graceful)
  reload               re-read the configuration without dropping sessions (SIGHUP)
  status               tell whether posteix is running
  check                validate configuration and queue database
  check --dns [DOMAIN...]   DNS records for deliverability (MX, PTR, SPF, DKIM, DMARC, ...)
  check --repair       salvage a damaged queue database (with posteix stopped)
  init [DIR]           write commented main.cf and master.cf
  postconf ...         show or edit main.cf (Postfix postconf)
  mailq | postqueue | postsuper | postcat   queue tools with Postfix's flags
  sendmail ...         submit a message read from standard input
  user add|passwd|del|list    manage SASL logins and virtual mailboxes
  dkim keygen DOMAIN | dkim list    DKIM signing keys and their DNS records
  install-links DIR    make sendmail/mailq/postqueue/... links to this binary
`;

/** Split a leading `-c DIR` off the arguments (accepted before or after the command). */
export function takeConfigDir(args: string[]): { configDir: string | null; rest: string[] } {
  const rest: string[] = [];
  let configDir: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-c" && i + 1 < args.length && configDir === null) {
      configDir = args[++i];
    } else rest.push(a);
  }
  return { configDir, rest };
}

/**
 * Blocking write of everything to fd 1 or 2. Bun's process.stdout.write() buffers without limit
 * when the reader is slow (a million-line mailq into `less` would sit in memory) and dies on
 * EPIPE; writeSync() waits for the reader and throws EPIPE to the command (`mailq | head`).
 */
function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === "string" ? Buffer.from(data) : data;
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      // A non-blocking descriptor inherited from the parent: wait for the reader.
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      Bun.sleepSync(1);
    }
  }
}

function makeIO(configDir: string | null, progName: string): CliIO {
  return {
    stdout: (t) => writeAll(1, t),
    stderr: (t) => writeAll(2, t),
    stdoutBytes: (b) => writeAll(1, b),
    stdinIsTTY: isatty(0),
    stdin: () => Bun.stdin.stream(),
    configDir: configDir ?? process.env.POSTEIX_CONFIG_DIR ?? null,
    progName,
  };
}

export async function main(argv0: string, args: string[]): Promise<number> {
  const invokedAs = basename(argv0);
  let command: string;
  let rest: string[];
  if (LINK_NAMES.includes(invokedAs)) {
    command = invokedAs;
    rest = args;
  } else {
    // Global options come before the command: posteix [-c DIR] command [args].
    let i = 0;
    let globalDir: string | null = null;
    while (i < args.length && args[i].startsWith("-c")) {
      globalDir = args[i] === "-c" ? (args[++i] ?? null) : args[i].slice(2);
      i++;
    }
    const cmd = args[i];
    if (!cmd || cmd === "help" || cmd === "--help" || cmd === "-h") {
      process.stdout.write(USAGE);
      return cmd ? 0 : 1;
    }
    if (cmd === "--version" || cmd === "version") {
      process.stdout.write("posteix 0.1.0\n");
      return 0;
    }
    command = cmd;
    rest = args.slice(i + 1);
    if (globalDir !== null) rest = ["-c", globalDir, ...rest];
  }
  const loader = COMMANDS[command];
  if (!loader) {
    process.stderr.write(`posteix: unknown command: ${command}\n${USAGE}`);
    return 1;
  }
  // Every command but sendmail (which has -C, as Postfix's) takes -c DIR among its flags.
  let configDir: string | null = null;
  if (command !== "sendmail") ({ configDir, rest } = takeConfigDir(rest));
  else if (rest[0] === "-c") {
    configDir = rest[1] ?? null;
    rest = rest.slice(2);
  }
  const mod = await loader();
  return mod.run(rest, makeIO(configDir, command));
}

if (import.meta.main) {
  main(process.argv0, process.argv.slice(2)).then(
    (code) => {
      flushLog();
      process.exit(code);
    },
    (err) => {
      process.stderr.write(`posteix: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
      flushLog();
      process.exit(1);
    },
  );
}
