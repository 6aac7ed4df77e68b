/** Shared helpers for the queue tests: temp directories and quick message commits. */

import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NewMessage, QueueStore } from "../../src/queue/index.ts";

const dirs: string[] = [];

export function tempDir(tag = "queue"): string {
  const dir = mkdtempSync(join(tmpdir(), `posteix-${tag}-`));
  dirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export function message(over: Partial<NewMessage> = {}): NewMessage {
  return {
    sender: "alice@example.com",
    recipients: [{ address: "bob@example.net" }],
    origin: "test",
    ...over,
  };
}

export function bodyText(n = 0): string {
  return `From: alice@example.com\r\nSubject: test ${n}\r\n\r\nHello ${n}\r\n`;
}

/** Commit one message; returns its id. */
export async function put(
  q: QueueStore,
  over: Partial<NewMessage> = {},
  body: string | Uint8Array = bodyText(),
): Promise<string> {
  const d = q.createDraft();
  d.write(typeof body === "string" ? enc.encode(body) : body);
  await d.commit(message(over));
  return d.id;
}

/** Commit n messages, `batch` per event-loop turn (group commit); returns the ids in order. */
export async function putMany(
  q: QueueStore,
  n: number,
  over: (i: number) => Partial<NewMessage> = () => ({}),
  batch = 500,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += batch) {
    const commits: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      const d = q.createDraft();
      d.write(enc.encode(bodyText(j)));
      ids.push(d.id);
      commits.push(d.commit(message(over(j))));
    }
    await Promise.all(commits);
  }
  return ids;
}

export function readAll(q: QueueStore, id: string): string {
  let s = "";
  for (const c of q.body(id)) s += dec.decode(c);
  return s;
}

/** A second, raw connection for checks the store's interface does not offer. */
export function rawDb(dir: string): Database {
  const db = new Database(join(dir, "queue.db"), { readwrite: true, strict: true });
  db.run("PRAGMA busy_timeout = 5000");
  return db;
}

export const BUN = process.execPath;
