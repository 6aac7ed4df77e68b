/**
 * Housekeeping of the queue database: message events and API idempotency keys older than
 * $event_history_time are removed (hourly in the daemon; here through Master.housekeep()), in
 * bounded batches, and nothing newer is touched. Without it the events table grows by three
 * rows per relayed message for ever.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { startPosteix, type TestPosteix } from "../helpers/posteix.ts";
import { type SmtpPeer, startSmtpPeer } from "../helpers/smtp-peer.ts";
import { rawDb } from "../queue/helpers.ts";

const stoppers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stoppers.splice(0).reverse()) await s();
});

async function setup(mainCf: string): Promise<{ px: TestPosteix; mx: SmtpPeer }> {
  const mx = await startSmtpPeer();
  stoppers.push(() => mx.stop());
  const px = await startPosteix({ mainCf: `relayhost = [127.0.0.1]:${mx.port}\n${mainCf}` });
  stoppers.push(() => px.stop());
  return { px, mx };
}

/** Relays one message and returns its queue ID once qmgr has removed it. */
async function relay(px: TestPosteix, mx: SmtpPeer, subject: string): Promise<string> {
  const removed = () => px.logs.filter((l) => /^posteix\/qmgr: [0-9A-F]+: removed$/.test(l));
  const before = removed().length;
  const arrived = mx.messages.length;
  const t = nodemailer.createTransport({ host: "127.0.0.1", port: px.port(), ignoreTLS: true });
  try {
    await t.sendMail({ from: "a@example.com", to: "b@remote.test", subject, text: "x" });
  } finally {
    t.close();
  }
  await mx.waitForMessages(arrived + 1);
  for (let i = 0; i < 400 && removed().length === before; i++) await Bun.sleep(25);
  const line = removed()[before];
  expect(line).toBeDefined();
  const id = line.split(" ")[1].replace(/:$/, "");
  // The removal's event is committed at the end of its turn.
  for (let i = 0; i < 200 && px.master.queue.history(id).length < 3; i++) await Bun.sleep(25);
  return id;
}

function oldEvents(dir: string, n: number, ageMs: number): void {
  const db = rawDb(join(dir, "data"));
  try {
    const ins = db.prepare("INSERT INTO events (id, time, kind, detail) VALUES (?, ?, ?, ?)");
    db.transaction(() => {
      for (let i = 0; i < n; i++) ins.run(`OLD${i}`, Date.now() - ageMs, "received", "{}");
    })();
  } finally {
    db.close();
  }
}

function eventCount(dir: string): number {
  const db = rawDb(join(dir, "data"));
  try {
    return (db.query("SELECT count(*) AS n FROM events").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test("events and idempotency keys past $event_history_time go, in batches; newer ones stay", async () => {
  const { px, mx } = await setup("event_history_time = 2s\n");
  const first = await relay(px, mx, "first");
  expect(px.master.queue.history(first).map((e) => e.kind)).toEqual([
    "received",
    "sent",
    "removed",
  ]);
  px.master.queue.idempotencyPut("api:old-key", first);
  // A backlog bigger than one batch (2,000), ten days old, written behind the daemon's back.
  oldEvents(px.dir, 4500, 10 * 86400_000);
  await Bun.sleep(2100);
  const second = await relay(px, mx, "second");

  const removed = await px.master.housekeep();
  expect(removed).toEqual({ events: 4500 + 3, idempotency: 1 });
  expect(px.master.queue.history(first)).toEqual([]);
  expect(px.master.queue.history(second).map((e) => e.kind)).toEqual([
    "received",
    "sent",
    "removed",
  ]);
  expect(px.master.queue.idempotencyGet("api:old-key")).toBeNull();
  expect(eventCount(px.dir)).toBe(3);
  await px.waitForLog(
    /housekeeping: removed 4503 events and 1 idempotency keys older than \$event_history_time/,
  );
  // Nothing left to do: a second pass removes nothing and says nothing.
  expect(await px.master.housekeep()).toEqual({ events: 0, idempotency: 0 });
});

test("event_history_time = 0 keeps everything", async () => {
  const { px, mx } = await setup("event_history_time = 0\n");
  const id = await relay(px, mx, "kept");
  oldEvents(px.dir, 10, 400 * 86400_000);
  expect(await px.master.housekeep()).toEqual({ events: 0, idempotency: 0 });
  expect(px.master.queue.history(id).length).toBe(3);
  expect(eventCount(px.dir)).toBe(13);
});
