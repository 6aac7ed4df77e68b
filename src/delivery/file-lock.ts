/**
 * Mailbox locking as Postfix's local(8) does it for mbox files: a dotlock file "PATH.lock"
 * (created exclusively, removed when stale) plus flock(2) on the open mailbox, so that mail
 * readers using either convention keep out while a message is appended.
 *
 * flock(2) comes from libc through bun:ffi, tried without blocking and retried on a timer so
 * that the event loop never waits in the kernel. Where libc cannot be loaded, only the dotlock
 * is used.
 */

import { open, stat, unlink } from "node:fs/promises";

/** Postfix deliver_lock_attempts, deliver_lock_delay, stale_lock_time. */
export const LOCK_ATTEMPTS = 20;
export const LOCK_DELAY_MS = 1000;
export const STALE_LOCK_MS = 500_000;

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

export class LockError extends Error {}

type FlockFn = (fd: number, op: number) => number;

let flockFn: FlockFn | null | undefined;

async function loadFlock(): Promise<FlockFn | null> {
  if (flockFn !== undefined) return flockFn;
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    const names = process.platform === "darwin" ? ["libc.dylib"] : ["libc.so.6", "libc.so"];
    for (const name of names) {
      try {
        const lib = dlopen(name, {
          flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        });
        flockFn = (fd, op) => lib.symbols.flock(fd, op) as number;
        return flockFn;
      } catch {
        // try the next name
      }
    }
  } catch {
    // no bun:ffi
  }
  flockFn = null;
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates PATH.lock exclusively; removes a stale one. Returns its path. */
export async function dotlock(
  path: string,
  attempts = LOCK_ATTEMPTS,
  delayMs = LOCK_DELAY_MS,
): Promise<string> {
  const lockPath = `${path}.lock`;
  for (let i = 0; i < attempts; i++) {
    try {
      const fh = await open(lockPath, "wx", 0o600);
      await fh.close();
      return lockPath;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "EEXIST")
        throw new LockError(`unable to create lock file ${lockPath}: ${(err as Error).message}`);
      try {
        const st = await stat(lockPath);
        if (Date.now() - st.mtimeMs > STALE_LOCK_MS) {
          await unlink(lockPath).catch(() => {});
          continue;
        }
      } catch {
        continue;
      }
      if (i + 1 < attempts) await sleep(delayMs);
    }
  }
  throw new LockError(`unable to lock ${path}: lock file ${lockPath} exists`);
}

export async function dotunlock(lockPath: string): Promise<void> {
  await unlink(lockPath).catch(() => {});
}

/** flock(fd, LOCK_EX), retried without blocking. No-op where flock is unavailable. */
export async function flockExclusive(
  fd: number,
  path: string,
  attempts = LOCK_ATTEMPTS,
  delayMs = LOCK_DELAY_MS,
): Promise<void> {
  const flock = await loadFlock();
  if (flock === null) return;
  for (let i = 0; i < attempts; i++) {
    if (flock(fd, LOCK_EX | LOCK_NB) === 0) return;
    if (i + 1 < attempts) await sleep(delayMs);
  }
  throw new LockError(`unable to lock ${path}: Resource temporarily unavailable`);
}

export async function funlock(fd: number): Promise<void> {
  const flock = await loadFlock();
  flock?.(fd, LOCK_UN);
}
