/**
 * user -- SASL logins and virtual mailboxes in the queue database's user table.
 *
 *   posteix user add NAME       new user; password from the terminal (asked twice, not echoed)
 *   posteix user passwd NAME    new password               or one line of standard input
 *   posteix user del NAME       remove the user (a virtual mailbox's Maildir is kept)
 *   posteix user list           one name per line
 *
 * A password is never taken from the command line (it would show in ps and shell history).
 * It is stored as an argon2id hash (Bun.password). A name with a domain in
 * $virtual_mailbox_domains is also a virtual mailbox when $virtual_mailbox_maps has `users:`
 * (the default). After a change a running daemon is told through its control socket.
 * main.cf parameters: queue_directory, virtual_mailbox_domains, virtual_mailbox_maps.
 */
import { notifyDaemon } from "../master/control.ts";
import { QueueError } from "../queue/index.ts";
import { errorText, fatal, LineReader, openQueueContext } from "./common.ts";
import type { CliCommand, CliIO } from "./types.ts";

const USAGE = "usage: posteix user add|passwd|del NAME | posteix user list";
const MAX_PASSWORD = 1024;

/** Terminal echo off/on through stty(1) on the terminal itself; false when that failed. */
function setEcho(on: boolean): boolean {
  try {
    const r = Bun.spawnSync(["stty", on ? "echo" : "-echo"], {
      stdin: "inherit",
      stdout: "ignore",
      stderr: "ignore",
    });
    return r.exitCode === 0;
  } catch {
    return false;
  }
}

/**
 * The new password: typed twice at a terminal without echo, or the first line of standard
 * input otherwise. Returns an error text instead when there is none or they differ.
 */
export async function readNewPassword(io: CliIO): Promise<string | { error: string }> {
  const lines = new LineReader(io.stdin(), MAX_PASSWORD + 1);
  try {
    if (!io.stdinIsTTY) {
      const pw = await lines.next();
      if (pw === null || pw === "") return { error: "no password on standard input" };
      if (pw.length > MAX_PASSWORD) return { error: "password too long" };
      return pw;
    }
    const ask = async (prompt: string): Promise<string | null> => {
      io.stderr(prompt);
      const echoOff = setEcho(false);
      const restore = () => setEcho(true);
      // Ctrl-C at the prompt must not leave the terminal without echo.
      if (echoOff) process.once("SIGINT", restore);
      try {
        return await lines.next();
      } finally {
        if (echoOff) {
          process.off("SIGINT", restore);
          restore();
        }
        io.stderr("\n");
      }
    };
    const first = await ask("Password: ");
    if (first === null || first === "") return { error: "empty password" };
    if (first.length > MAX_PASSWORD) return { error: "password too long" };
    const second = await ask("Retype password: ");
    if (second !== first) return { error: "passwords do not match" };
    return first;
  } finally {
    lines.close();
  }
}

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

export const run: CliCommand = async (argv, io) => {
  const [verb, name, ...extra] = argv;
  const needsName = verb === "add" || verb === "passwd" || verb === "del";
  if (
    extra.length > 0 ||
    (needsName && !name) ||
    (verb === "list" && name !== undefined) ||
    (!needsName && verb !== "list")
  ) {
    return fatal(io, USAGE);
  }
  const ctx = openQueueContext(io, "create");
  if (typeof ctx === "number") return ctx;
  const queue = ctx.queue!;
  const users = queue.users;
  try {
    if (verb === "list") {
      let text = "";
      for (const u of users.list()) text += `${u.name}\n`;
      io.stdout(text);
      return 0;
    }
    if (verb === "del") {
      users.delete(name);
    } else {
      // Check before asking for a password that would be thrown away.
      const exists = users.get(name) !== null;
      if (verb === "add" && exists) return fatal(io, `user ${name.toLowerCase()} already exists`);
      if (verb === "passwd" && !exists) return fatal(io, `no user ${name.toLowerCase()}`);
      const pw = await readNewPassword(io);
      if (typeof pw !== "string") return fatal(io, pw.error);
      const hash = await hashPassword(pw);
      if (verb === "add") users.add(name, hash);
      else users.setPassword(name, hash);
    }
    await notifyDaemon(ctx.queueDir, { kind: "wakeup" });
    if (verb === "add") {
      const n = name.trim().toLowerCase();
      const at = n.lastIndexOf("@");
      const mailbox =
        at > 0 &&
        ctx.cfg.domains("virtual_mailbox_domains").matches(n.slice(at + 1)) &&
        ctx.cfg.list("virtual_mailbox_maps").some((t) => t.startsWith("users:"));
      io.stdout(`added ${n} (login${mailbox ? " and virtual mailbox" : ""})\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof QueueError) return fatal(io, err.message);
    return fatal(io, errorText(err));
  } finally {
    queue.close();
  }
};
