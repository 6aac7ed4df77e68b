/**
 * mbox delivery (Postfix local(8) mailbox and "/file" deliveries): the message is appended with
 * a "From sender  date" line, Return-Path and Delivered-To headers, ">From " quoting of body
 * lines that start with "From ", and an empty line after it, under a dotlock plus flock(2). A
 * failed append is cut off again (ftruncate to the old size), so a mailbox never keeps half a
 * message. $mailbox_size_limit bounds the whole mailbox file (bounced 5.2.2 beyond).
 */

import { chown, mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import { dotlock, dotunlock, flockExclusive, funlock, LockError } from "./file-lock.ts";
import { LfConverter, writeAll } from "./local-copy.ts";
import { MailboxError, strerror } from "./mailbox-error.ts";
import type { MailboxWrite } from "./maildir.ts";

export interface MboxOptions {
  /** Create the parent directory when missing (the mail spool directory). */
  createParent?: boolean;
  /** For diagnostics: "mailbox /var/mail/bob for user bob" vs "file /tmp/x". */
  what: string;
}

export async function deliverMbox(
  path: string,
  w: MailboxWrite,
  opt: MboxOptions,
): Promise<{ size: number }> {
  const fail = (err: unknown) =>
    new MailboxError(
      "deferred",
      "4.3.0",
      `cannot update ${opt.what}. error writing message: ${strerror(err)}`,
    );
  if (opt.createParent) {
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    } catch (err) {
      throw fail(err);
    }
  }
  let lockPath: string;
  try {
    lockPath = await dotlock(path);
  } catch (err) {
    throw new MailboxError(
      "deferred",
      "4.2.0",
      `cannot update ${opt.what}. ${err instanceof LockError ? err.message : strerror(err)}`,
    );
  }
  let fh: Awaited<ReturnType<typeof open>> | null = null;
  let start = 0;
  let written = false;
  try {
    fh = await open(path, "a", 0o600);
    if (w.owner !== undefined) await chown(path, w.owner.uid, w.owner.gid).catch(() => {});
    await flockExclusive(fh.fd, path);
    start = (await fh.stat()).size;
    let size = start;
    const file = fh;
    const put = async (bytes: Uint8Array) => {
      if (bytes.length === 0) return;
      size += bytes.length;
      if (w.sizeLimit > 0 && size > w.sizeLimit)
        throw new MailboxError(
          "bounced",
          "5.2.2",
          `cannot update ${opt.what}. error writing message: File too large`,
        );
      written = true;
      await writeAll(file, bytes);
    };
    const conv = new LfConverter(true);
    await put(w.prefix);
    for await (const chunk of w.body()) await put(conv.feed(chunk));
    await put(conv.finish(true));
    await fh.sync();
    return { size: size - start };
  } catch (err) {
    if (fh !== null && written) await fh.truncate(start).catch(() => {});
    if (err instanceof MailboxError) throw err;
    if (err instanceof LockError)
      throw new MailboxError("deferred", "4.2.0", `cannot update ${opt.what}. ${err.message}`);
    throw fail(err);
  } finally {
    if (fh !== null) {
      await funlock(fh.fd).catch(() => {});
      await fh.close().catch(() => {});
    }
    await dotunlock(lockPath);
  }
}
