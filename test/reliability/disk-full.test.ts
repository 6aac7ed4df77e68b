/**
 * Disk full, both places posteix writes:
 *   - the queue database cannot grow ($queue_database_size_limit: SQLite's page limit, the same
 *     SQLITE_FULL a full disk gives): smtpd answers 452 4.3.1 at end of data, nothing is half
 *     written, the scheduler keeps running and deferring, and once deliveries free space the
 *     same session's next message is accepted -- by itself;
 *   - a Maildir's file system is full (a 1 MB tmpfs; skipped with a message where mounting is
 *     not permitted): deliveries defer with "No space left on device", new/ only ever holds
 *     whole files, tmp/ is cleaned, and when the file system grows the deferred mail is
 *     delivered at the next retry without anyone doing anything.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPosteix } from "../helpers/posteix.ts";
import { SmtpClient } from "../helpers/smtp-client.ts";
import { startSmtpPeer } from "../helpers/smtp-peer.ts";
import { freePort } from "./daemon.ts";

const cleanups: (() => void | Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function sendOne(c: SmtpClient, to: string, body: string): Promise<string> {
  expect((await c.cmd("MAIL FROM:<a@example.com>")).join()).toStartWith("250");
  expect((await c.cmd(`RCPT TO:<${to}>`)).join()).toStartWith("250");
  expect((await c.cmd("DATA")).join()).toStartWith("354");
  await c.send(body);
  return (await c.cmd(".", 30_000)).join("\n");
}

function blob(n: number, tag: string): string {
  const line = `${tag} ${"0123456789abcdef".repeat(4)}\r\n`;
  return `Subject: ${tag}\r\nX-Tag: ${tag}\r\n\r\n${line.repeat(Math.ceil(n / line.length))}`;
}

describe("the queue database is full", () => {
  test("452 4.3.1, nothing partial, deliveries defer; space freed by deliveries lets mail in again by itself", async () => {
    const peerPort = await freePort();
    const px = await startPosteix({
      mainCf: [
        "queue_database_size_limit = 2000000",
        "queue_body_chunk_size = 65536",
        `relayhost = [127.0.0.1]:${peerPort}`,
        "minimal_backoff_time = 1s",
        "maximal_backoff_time = 1s",
        "queue_run_delay = 1s",
        "destination_dead_time = 1s",
        "smtp_connect_timeout = 2s",
      ].join("\n"),
    });
    cleanups.push(() => px.stop());
    const c = await SmtpClient.connect(px.port());
    await c.reply();
    await c.cmd("EHLO client.test");
    // Fill it: 100 KB messages until the queue says it is full.
    let accepted = 0;
    let full = "";
    for (let i = 0; i < 100 && !full; i++) {
      const r = await sendOne(c, `r${i}@remote.test`, blob(100_000, `fill-${i}`));
      if (r.startsWith("250 ")) accepted++;
      else full = r;
    }
    expect(full).toBe("452 4.3.1 Error: insufficient system storage");
    expect(accepted).toBeGreaterThan(3);
    const sum = () => Object.values(px.master.queue.summary()).reduce((n, x) => n + x.count, 0);
    expect(sum()).toBe(accepted);
    expect(px.master.queue.integrityCheck()).toEqual(["ok"]);
    // Deliveries are tried (the next hop is down) and deferred, full database or not.
    await px.waitForLog(
      /status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: Connection refused\)/,
    );
    expect((await sendOne(c, "more@remote.test", blob(100_000, "still-full"))).slice(0, 9)).toBe(
      "452 4.3.1",
    );

    // The next hop comes back: deliveries free the space, and mail gets in again.
    const peer = await startSmtpPeer({ port: peerPort, discardBody: true });
    cleanups.push(() => peer.stop());
    const t0 = Date.now();
    await peer.waitForMessages(accepted, 30_000);
    for (let i = 0; i < 400 && sum() > 0; i++) await Bun.sleep(25);
    expect(sum()).toBe(0);
    const again = await sendOne(c, "after@remote.test", blob(100_000, "after"));
    expect(again).toMatch(/^250 2\.0\.0 Ok: queued as /);
    await peer.waitForMessages(accepted + 1, 15_000);
    console.log(
      `figures: queue database full: ${accepted} x 100 KB accepted, then "452 4.3.1"; all delivered ${Date.now() - t0} ms after the next hop came back; the same session's next message accepted`,
    );
    await c.cmd("QUIT");
    c.close();
    expect(px.master.queue.integrityCheck()).toEqual(["ok"]);
    expect(px.logs.filter((l) => /panic|unexpected error/.test(l))).toEqual([]);
  }, 90_000);
});

describe("a Maildir's file system is full", () => {
  const base = mkdtempSync(join(tmpdir(), "posteix-diskfull-"));
  const vmail = join(base, "vmail");
  mkdirSync(vmail);
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", vmail], {
    encoding: "utf8",
  });
  const mounted = mount.status === 0;
  cleanups.push(() => {
    if (mounted) spawnSync("umount", [vmail]);
    rmSync(base, { recursive: true, force: true });
  });
  if (!mounted) {
    console.log(
      `skipped: cannot mount a small tmpfs here (${(mount.stderr || mount.error?.message || "").trim()}); the Maildir disk-full test needs root and mount(8)`,
    );
  }

  test.skipIf(!mounted)(
    "deliveries defer with ENOSPC, new/ holds only whole files, and all is delivered once there is room",
    async () => {
      const px = await startPosteix({
        mainCf: [
          "virtual_mailbox_domains = vmail.test",
          `virtual_mailbox_base = ${vmail}`,
          "virtual_mailbox_maps = inline:{ box@vmail.test=box/ }",
          "minimal_backoff_time = 1s",
          "maximal_backoff_time = 1s",
          "queue_run_delay = 1s",
          "mynetworks = 127.0.0.0/8",
        ].join("\n"),
      });
      cleanups.push(() => px.stop());
      const c = await SmtpClient.connect(px.port());
      await c.reply();
      await c.cmd("EHLO client.test");
      // 8 x 300 KB into 1 MB: some fit, the rest cannot.
      const n = 8;
      for (let i = 0; i < n; i++) {
        expect(await sendOne(c, "box@vmail.test", blob(300_000, `mail-${i}`))).toMatch(/^250 /);
      }
      await c.cmd("QUIT");
      c.close();
      await px.waitForLog(
        /status=deferred \(maildir delivery failed: error writing message: No space left on device\)/,
        20_000,
      );
      const newDir = join(vmail, "box", "new");
      const whole = () => {
        const files = existsSync(newDir) ? readdirSync(newDir) : [];
        for (const f of files) {
          const size = Number(/,S=(\d+)/.exec(f)?.[1]);
          expect(statSync(join(newDir, f)).size).toBe(size);
          expect(
            readFileSync(join(newDir, f), "latin1").trimEnd().endsWith("0123456789abcdef"),
          ).toBe(true);
        }
        return files.length;
      };
      const during = whole();
      expect(during).toBeLessThan(n);
      const deferred =
        px.master.queue.summary().deferred.count + px.master.queue.summary().active.count;
      expect(deferred).toBeGreaterThan(0);

      // Room again: nobody touches posteix; the next retry delivers the rest.
      const t0 = Date.now();
      expect(spawnSync("mount", ["-o", "remount,size=20m", vmail]).status).toBe(0);
      for (let i = 0; i < 400 && whole() < n; i++) await Bun.sleep(50);
      expect(whole()).toBe(n);
      const tags = readdirSync(newDir)
        .map((f) => /X-Tag: (\S+)/.exec(readFileSync(join(newDir, f), "latin1"))?.[1])
        .sort();
      expect(tags).toEqual(Array.from({ length: n }, (_, i) => `mail-${i}`).sort());
      for (
        let i = 0;
        i < 200 && Object.values(px.master.queue.summary()).some((x) => x.count > 0);
        i++
      )
        await Bun.sleep(25);
      // Every failed attempt removed its half-written file from tmp/.
      expect(readdirSync(join(vmail, "box", "tmp"))).toEqual([]);
      console.log(
        `figures: Maildir file system full: ${during} of ${n} x 300 KB delivered into 1 MB, the rest deferred (ENOSPC), new/ whole, tmp/ empty; all ${n} delivered ${Date.now() - t0} ms after the file system grew`,
      );
      expect(px.logs.filter((l) => /panic|unexpected error/.test(l))).toEqual([]);
    },
    60_000,
  );
});
