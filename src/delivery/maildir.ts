/**
 * Maildir delivery (D. J. Bernstein's maildir(5), as Postfix's local(8) and virtual(8) write it):
 * cur/, new/ and tmp/ are made as needed (mode 0700); the message is written to tmp/ under a
 * unique name "TIME.M<usec>P<pid>Q<counter>.<host>", fsynced, renamed into new/ with ",S=<size>"
 * appended, and new/ is fsynced. Only then is the recipient done: a crash leaves at most a file
 * in tmp/, never a partial one in new/. A write error removes the tmp file.
 *
 * The file holds Return-Path and Delivered-To headers, then the message with LF line ends.
 * $mailbox_size_limit bounds the size of one message file (bounced 5.2.2 beyond).
 */

import { chown, mkdir, open, rename, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { LfConverter, writeAll } from "./local-copy.ts";
import { MailboxError, strerror } from "./mailbox-error.ts";

export interface MailboxWrite {
  /** Bytes before the body (envelope headers, the mbox From line), LF line ends. */
  prefix: Uint8Array;
  body: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** $mailbox_size_limit in bytes; 0 = none. */
  sizeLimit: number;
  /** Owner of new files and directories (when running as root). */
  owner?: { uid: number; gid: number };
}

let counter = 0;

/** Maildirs made (or found) by this process, so that each delivery does not make them again. */
const madeDirs = new Set<string>();
const MADE_DIRS_MAX = 10_000;

/** Maildir host part: "/" and ":" are not allowed in it (maildir(5)). */
function safeHost(host: string): string {
  return host.replaceAll("/", "\\057").replaceAll(":", "\\072");
}

export function maildirName(hostname: string): string {
  const t = performance.timeOrigin + performance.now();
  const sec = Math.floor(t / 1000);
  const usec = Math.floor((t * 1000) % 1_000_000);
  counter = (counter + 1) % 1_000_000_000;
  return `${sec}.M${usec}P${process.pid}Q${counter}.${safeHost(hostname)}`;
}

async function makeDirs(dir: string, owner?: { uid: number; gid: number }): Promise<void> {
  // Directories above the Maildir (the spool, a virtual domain) stay searchable by others.
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  for (const d of [dir, join(dir, "tmp"), join(dir, "new"), join(dir, "cur")]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
    if (owner !== undefined) await chown(d, owner.uid, owner.gid);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Delivers into the Maildir at dir; returns the final file path and its size. */
export async function deliverMaildir(
  dir: string,
  w: MailboxWrite,
  hostname: string,
): Promise<{ path: string; size: number }> {
  const name = maildirName(hostname);
  const tmpPath = join(dir, "tmp", name);
  let fh: Awaited<ReturnType<typeof open>> | null = null;
  // Directories known to exist are not made again; a Maildir removed meanwhile is remade.
  for (let attempt = 0; fh === null; attempt++) {
    try {
      if (!madeDirs.has(dir)) {
        await makeDirs(dir, w.owner);
        if (madeDirs.size >= MADE_DIRS_MAX) madeDirs.clear();
        madeDirs.add(dir);
      }
      fh = await open(tmpPath, "wx", 0o600);
    } catch (err) {
      madeDirs.delete(dir);
      if ((err as { code?: string }).code === "ENOENT" && attempt === 0) continue;
      throw new MailboxError(
        "deferred",
        "4.3.0",
        `create maildir file ${tmpPath}: ${strerror(err)}`,
      );
    }
  }
  const file = fh;
  let size = 0;
  let closed = false;
  try {
    if (w.owner !== undefined) await file.chown(w.owner.uid, w.owner.gid);
    const conv = new LfConverter(false);
    const put = async (bytes: Uint8Array) => {
      if (bytes.length === 0) return;
      size += bytes.length;
      if (w.sizeLimit > 0 && size > w.sizeLimit)
        throw new MailboxError(
          "bounced",
          "5.2.2",
          "maildir delivery failed: error writing message: File too large",
        );
      await writeAll(file, bytes);
    };
    await put(w.prefix);
    for await (const chunk of w.body()) await put(conv.feed(chunk));
    await put(conv.finish(false));
    await file.sync();
    closed = true;
    await file.close();
    const finalPath = join(dir, "new", `${name},S=${size}`);
    await rename(tmpPath, finalPath);
    await fsyncDir(join(dir, "new"));
    return { path: finalPath, size };
  } catch (err) {
    if (!closed) await file.close().catch(() => {});
    await unlink(tmpPath).catch(() => {});
    if (err instanceof MailboxError) throw err;
    throw new MailboxError(
      "deferred",
      "4.3.0",
      `maildir delivery failed: error writing message: ${strerror(err)}`,
    );
  }
}
