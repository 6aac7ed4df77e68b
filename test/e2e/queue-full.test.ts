/**
 * A full queue (the database cannot grow: $queue_database_size_limit, the same SQLITE_FULL a
 * full disk gives) answers end of data with 452 4.3.1, keeps the session going, leaves
 * nothing partial in the queue, and accepts mail again once there is room.
 */
import { afterAll, expect, test } from "bun:test";
import { startPosteix, type TestPosteix } from "../helpers/posteix.ts";
import { SmtpClient } from "../helpers/smtp-client.ts";

let px: TestPosteix;
afterAll(async () => {
  await px?.stop();
});

test("452 4.3.1 when the queue database is full; nothing partial; smaller mail still fits", async () => {
  px = await startPosteix({
    mainCf:
      "queue_database_size_limit = 3000000\nqueue_body_chunk_size = 65536\nmessage_size_limit = 50000000\nrelayhost = [127.0.0.1]:9\nminimal_backoff_time = 3600s\nmaximal_backoff_time = 3600s\n",
  });
  const c = await SmtpClient.connect(px.port());
  await c.reply();
  await c.cmd("EHLO client.test");
  const big = `Subject: too big for the disk\r\n\r\n${"0123456789abcdef".repeat(64).concat("\r\n").repeat(5000)}`;
  expect((await c.cmd("MAIL FROM:<a@example.com>")).join()).toMatch(/^250/);
  expect((await c.cmd("RCPT TO:<b@example.net>")).join()).toMatch(/^250/);
  expect((await c.cmd("DATA")).join()).toMatch(/^354/);
  await c.send(`${big}\r\n`);
  const reply = (await c.cmd(".", 20_000)).join("\n");
  expect(reply).toBe("452 4.3.1 Error: insufficient system storage");
  const s = px.master.queue.summary();
  expect(Object.values(s).reduce((n, x) => n + x.count, 0)).toBe(0);
  expect(px.master.queue.integrityCheck()).toEqual(["ok"]);

  // The session goes on, and a small message fits.
  expect((await c.cmd("MAIL FROM:<a@example.com>")).join()).toMatch(/^250/);
  expect((await c.cmd("RCPT TO:<b@example.net>")).join()).toMatch(/^250/);
  expect((await c.cmd("DATA")).join()).toMatch(/^354/);
  const ok = (await c.cmd("Subject: small\r\n\r\nfits\r\n.")).join("\n");
  expect(ok).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
  await c.cmd("QUIT");
  c.close();
});
