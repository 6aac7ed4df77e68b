/**
 * Errors of mailbox, file and command deliveries, with the status they give the recipient, and
 * strerror(3)-style texts for file system error codes as Postfix prints them.
 */

export class MailboxError extends Error {
  constructor(
    readonly status: "deferred" | "bounced",
    readonly dsn: string,
    message: string,
  ) {
    super(message);
  }
}

const STRERROR: Record<string, string> = {
  ENOSPC: "No space left on device",
  EDQUOT: "Disk quota exceeded",
  EACCES: "Permission denied",
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  EFBIG: "File too large",
  EIO: "Input/output error",
  EROFS: "Read-only file system",
  ENOTDIR: "Not a directory",
  EISDIR: "Is a directory",
  EEXIST: "File exists",
  EMFILE: "Too many open files",
  ENFILE: "Too many open files in system",
  ELOOP: "Too many levels of symbolic links",
  ENAMETOOLONG: "File name too long",
};

export function strerror(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code !== undefined && STRERROR[e.code] !== undefined) return STRERROR[e.code];
  return e.message ?? String(err);
}
