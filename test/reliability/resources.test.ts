/**
 * Resource exhaustion against a real posteix process, each with a measured answer: thousands of
 * idle connections, a byte a second, endless lines, endless headers, a flood of RCPT commands,
 * AUTH brute force, an unterminated BDAT. The daemon's memory is read from /proc, times from
 * the client's clock; the figures are printed (`figures:` lines) for the issue report.
 *
 * Small timeouts keep the test short: smtpd_timeout = 3s. POSTEIX_LONG=1 scales the floods up.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { join } from "node:path";
import { openQueue } from "../../src/queue/index.ts";
import { SmtpClient } from "../helpers/smtp-client.ts";
import { type Daemon, startDaemon } from "./daemon.ts";

const LONG = process.env.POSTEIX_LONG === "1";
const MB = 1024 * 1024;

function figure(what: string, value: string): void {
  console.log(`figures: ${what}: ${value}`);
}

/** A raw connection from a chosen loopback address, reading everything it is sent. */
interface Raw {
  sock: net.Socket;
  text: string;
  closed: boolean;
  closedAt: number;
  opened: number;
  firstReplyAt: number;
}

function rawConnect(port: number, localAddress: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const r: Raw = {
      sock: net.createConnection({ host: "127.0.0.1", port, localAddress }),
      text: "",
      closed: false,
      closedAt: 0,
      opened: Date.now(),
      firstReplyAt: 0,
    };
    r.sock.setNoDelay(true);
    r.sock.on("data", (d) => {
      if (!r.firstReplyAt) r.firstReplyAt = Date.now();
      r.text += d.toString("latin1");
    });
    r.sock.on("close", () => {
      r.closed = true;
      r.closedAt = Date.now();
    });
    r.sock.on("error", () => {});
    r.sock.once("connect", () => resolve(r));
    r.sock.once("error", (e) => {
      if (!r.closed) reject(e);
    });
  });
}

/** Write, waiting for the socket to drain (or close, or 10 s). */
async function put(r: Raw, data: Buffer | string): Promise<void> {
  if (r.closed || r.sock.write(data)) return;
  await Promise.race([
    new Promise((ok) => r.sock.once("drain", ok)),
    until(() => r.closed, 10_000, 10),
  ]);
}

async function until(cond: () => boolean, ms: number, step = 20): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await Bun.sleep(step);
  }
  return cond();
}

/** Time for a fresh client from `addr` to read its 220, in ms. */
async function greetingTime(port: number, addr: string): Promise<{ ms: number; reply: string }> {
  const t0 = performance.now();
  const r = await rawConnect(port, addr);
  await until(() => r.text.includes("\r\n") || r.closed, 5000, 2);
  const ms = performance.now() - t0;
  r.sock.destroy();
  return { ms, reply: r.text.split("\r\n")[0] };
}

describe("idle connections", () => {
  test(`${LONG ? 5000 : 2000} idle connections from one client: anvil and maxproc cap them, memory stays bounded, another client is greeted at once`, async () => {
    const n = LONG ? 5000 : 2000;
    // 127.0.0.1 outside $mynetworks: not exempt from the per-client limits.
    const d = await startDaemon({ mainCf: "smtpd_timeout = 20s\nmynetworks = 192.0.2.0/24\n" });
    try {
      const before = d.rss();
      const conns: Raw[] = [];
      const t0 = Date.now();
      for (let i = 0; i < n; i += 200) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(200, n - i) }, () =>
            rawConnect(d.port, "127.0.0.1").catch(() => null),
          ),
        );
        for (const r of batch) if (r) conns.push(r);
      }
      await until(() => conns.every((c) => c.text.includes("\r\n") || c.closed), 20_000);
      const greeted = conns.filter((c) => c.text.startsWith("220") && !c.closed).length;
      const refused = conns.filter((c) => /^421 /.test(c.text)).length;
      const peak = d.rss();
      const legit = await greetingTime(d.port, "127.0.0.2");
      figure(
        "idle connections, one client",
        `${conns.length} opened in ${Date.now() - t0} ms; ${greeted} greeted and held, ${refused} told 421 and closed; daemon RSS ${(before / MB).toFixed(0)} -> ${(peak / MB).toFixed(0)} MB; another client's greeting after ${legit.ms.toFixed(0)} ms`,
      );
      expect(conns.length).toBe(n);
      // smtpd_client_connection_count_limit (50) per client; the rest refused with 421.
      expect(greeted).toBeLessThanOrEqual(50);
      expect(refused + greeted).toBe(n);
      expect(legit.reply).toStartWith("220 ");
      expect(legit.ms).toBeLessThan(1000);
      expect(peak - before).toBeLessThan(100 * MB);
      for (const c of conns) c.sock.destroy();
    } finally {
      await d.stop();
      d.remove();
    }
  }, 120_000);

  test("2000 idle sessions from 40 clients (maxproc raised): held in bounded memory, another client still greeted within a second, all cut by smtpd_timeout", async () => {
    const clients = 40;
    const per = 50;
    const d = await startDaemon({ mainCf: "smtpd_timeout = 4s\n", maxproc: "2500" });
    try {
      const before = d.rss();
      const conns: Raw[] = [];
      const t0 = Date.now();
      for (let c = 0; c < clients; c++) {
        const batch = await Promise.all(
          Array.from({ length: per }, () => rawConnect(d.port, `127.0.1.${c + 1}`)),
        );
        conns.push(...batch);
      }
      await until(() => conns.every((c) => c.text.includes("\r\n")), 20_000);
      const opened = Date.now() - t0;
      const greeted = conns.filter((c) => c.text.startsWith("220") && !c.closed).length;
      const peak = d.rss();
      const legit = await greetingTime(d.port, "127.0.0.2");
      // Every idle session ends with 421 4.4.2 at $smtpd_timeout.
      const cutStart = Date.now();
      await until(() => conns.every((c) => c.closed), 15_000, 50);
      const timedOut = conns.filter((c) => c.text.includes("421 4.4.2")).length;
      const cutMs = Math.max(...conns.map((c) => c.closedAt - c.opened));
      await Bun.sleep(500);
      const after = d.rss();
      figure(
        "idle connections, 40 clients x 50",
        `${greeted}/${conns.length} greeted in ${opened} ms; daemon RSS ${(before / MB).toFixed(0)} -> ${(peak / MB).toFixed(0)} MB (${((peak - before) / conns.length / 1024).toFixed(1)} KB per session), ${(after / MB).toFixed(0)} MB after; another client's greeting after ${legit.ms.toFixed(0)} ms while they were held; all cut by smtpd_timeout=4s (longest session ${cutMs} ms, ${timedOut} with 421 4.4.2), ${Date.now() - cutStart} ms after the last greeting`,
      );
      expect(greeted).toBe(clients * per);
      expect(legit.reply).toStartWith("220 ");
      expect(legit.ms).toBeLessThan(1000);
      expect(peak - before).toBeLessThan(200 * MB);
      expect(conns.every((c) => c.closed)).toBe(true);
      expect(timedOut).toBe(conns.length);
      expect(cutMs).toBeLessThan(4000 + 3000);
    } finally {
      await d.stop();
      d.remove();
    }
  }, 120_000);
});

describe("hostile sessions", () => {
  let d: Daemon;
  beforeAll(async () => {
    const dir = (await import("node:fs")).mkdtempSync(
      join((await import("node:os")).tmpdir(), "posteix-rel-"),
    );
    const q = openQueue({ directory: join(dir, "data") });
    q.users.add("alice@example.test", await Bun.password.hash("right-password", "argon2id"));
    q.close();
    d = await startDaemon({
      dir,
      mainCf: [
        "smtpd_timeout = 3s",
        "mynetworks = 127.0.0.0/8",
        "relayhost = [127.0.0.1]:9",
        "minimal_backoff_time = 3600s",
        "maximal_backoff_time = 3600s",
        "smtpd_sasl_auth_enable = yes",
        "smtpd_tls_auth_only = no",
        "smtpd_auth_failure_limit = 5",
        "smtpd_auth_lockout_time = 60s",
        "message_size_limit = 5000000",
        "",
      ].join("\n"),
    });
  });
  afterAll(async () => {
    await d?.stop();
    d?.remove();
  });

  async function session(addr = "127.0.0.1"): Promise<Raw> {
    const r = await rawConnect(d.port, addr);
    await until(() => r.text.includes("\r\n"), 5000, 5);
    return r;
  }

  async function say(r: Raw, line: string, want: RegExp, ms = 5000): Promise<string> {
    const from = r.text.length;
    r.sock.write(`${line}\r\n`);
    await until(() => want.test(r.text.slice(from)) || r.closed, ms, 5);
    return r.text.slice(from);
  }

  test("a byte a second is cut by smtpd_timeout, in a command and in DATA", async () => {
    const r = await session();
    const t0 = Date.now();
    const line = "EHLO slow.example\r\n";
    for (let i = 0; i < line.length && !r.closed; i++) {
      r.sock.write(line[i]);
      await until(() => r.closed, 1000, 50);
    }
    const cmdMs = Date.now() - t0;
    expect(r.closed).toBe(true);
    expect(r.text).toContain("421 4.4.2 mx.example.test Error: timeout exceeded");

    const s = await session();
    expect(await say(s, "EHLO slow.example", /^250 /m)).toMatch(/^250 /m);
    expect(await say(s, "MAIL FROM:<a@example.test>", /^250 /m)).toStartWith("250");
    expect(await say(s, "RCPT TO:<b@remote.test>", /^250 /m)).toStartWith("250");
    expect(await say(s, "DATA", /^354 /m)).toStartWith("354");
    const t1 = Date.now();
    const body = "Subject: slow\r\n\r\n".padEnd(200, "x");
    for (let i = 0; i < body.length && !s.closed; i++) {
      s.sock.write(body[i]);
      await until(() => s.closed, 1000, 50);
    }
    const dataMs = Date.now() - t1;
    expect(s.closed).toBe(true);
    expect(s.text).toContain("421 4.4.2");
    figure(
      "a byte a second",
      `command cut after ${cmdMs} ms, DATA cut after ${dataMs} ms (smtpd_timeout=3s, smtpd_per_request_deadline=yes, smtpd_min_data_rate=500)`,
    );
    expect(cmdMs).toBeLessThan(5000);
    expect(dataMs).toBeLessThan(5000);
  }, 30_000);

  test("an endless command line: memory flat, cut by the deadline however fast it comes", async () => {
    const r = await session();
    const before = d.rss();
    const chunk = Buffer.alloc(MB, 0x41);
    let sent = 0;
    const t0 = Date.now();
    while (!r.closed && Date.now() - t0 < 15_000) {
      await put(r, chunk);
      sent += chunk.length;
    }
    const peak = d.rss();
    figure(
      "endless command line",
      `${(sent / MB).toFixed(0)} MB without a line end at full speed, cut after ${Date.now() - t0} ms; daemon RSS ${(before / MB).toFixed(0)} -> ${(peak / MB).toFixed(0)} MB`,
    );
    expect(r.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(6000);
    // The 421 is sent, but a client still blasting may not read it: closing a socket with
    // unread input resets it (as Postfix's close() does), and a reset discards what the client
    // had not read yet.
    expect(r.text).toMatch(/^220 .*\r\n(421 4\.4\.2 .*\r\n)?$/s);
    // Gigabytes went through 1 MB reads; what RSS shows is garbage not yet collected.
    expect(peak - before).toBeLessThan(100 * MB);
  }, 30_000);

  test("endless header lines and one endless header: bounded by message_size_limit, memory flat", async () => {
    const r = await session();
    await say(r, "EHLO headers.example", /^250 /m);
    await say(r, "MAIL FROM:<a@example.test>", /^250 /m);
    await say(r, "RCPT TO:<b@remote.test>", /^250 /m);
    await say(r, "DATA", /^354 /m);
    const before = d.rss();
    const t0 = Date.now();
    // 200,000 short header fields, then an ending: far past message_size_limit (5 MB).
    const line = Buffer.from("X-Flood: 0123456789abcdef0123456789abcdef\r\n");
    const block = Buffer.concat(Array.from({ length: 1000 }, () => line));
    let sent = 0;
    for (let i = 0; i < (LONG ? 1000 : 200) && !r.closed; i++) {
      await put(r, block);
      sent += block.length;
    }
    const reply = await say(r, "\r\nbody\r\n.", /^\d{3} /m, 30_000);
    const peak = d.rss();
    figure(
      "endless header lines",
      `${(sent / MB).toFixed(1)} MB of header fields (${(sent / line.length).toFixed(0)} lines) in ${Date.now() - t0} ms -> "${reply.trim()}"; daemon RSS ${(before / MB).toFixed(0)} -> ${(peak / MB).toFixed(0)} MB`,
    );
    expect(reply).toMatch(/^552 5\.3\.4 /);
    expect(peak - before).toBeLessThan(60 * MB);

    // One header folded forever.
    await say(r, "MAIL FROM:<a@example.test>", /^250 /m);
    await say(r, "RCPT TO:<b@remote.test>", /^250 /m);
    await say(r, "DATA", /^354 /m);
    r.sock.write("Subject: start\r\n");
    const fold = Buffer.concat(Array.from({ length: 1000 }, () => Buffer.from(" folded more\r\n")));
    const t1 = Date.now();
    for (let i = 0; i < 300 && !r.closed; i++) {
      await put(r, fold);
    }
    const reply2 = await say(r, "\r\nbody\r\n.", /^\d{3} /m, 30_000);
    const peak2 = d.rss();
    figure(
      "one endless folded header",
      `${((300 * fold.length) / MB).toFixed(1)} MB in one header in ${Date.now() - t1} ms -> "${reply2.trim()}"; daemon RSS ${(peak2 / MB).toFixed(0)} MB`,
    );
    expect(reply2).toMatch(/^(250|552) /);
    expect(peak2 - before).toBeLessThan(60 * MB);
    r.sock.destroy();
  }, 60_000);

  test("a million RCPT commands pipelined: cut by the recipient and error limits, fast", async () => {
    const r = await session();
    await say(r, "EHLO rcpt.example", /^250 /m);
    await say(r, "MAIL FROM:<a@example.test>", /^250 /m);
    const before = d.rss();
    const total = 1_000_000;
    const per = 10_000;
    const block = Buffer.from("RCPT TO:<someone@remote.test>\r\n".repeat(per));
    const t0 = Date.now();
    let sent = 0;
    while (sent < total && !r.closed) {
      await put(r, block);
      sent += per;
    }
    await until(() => r.closed, 20_000, 10);
    const ms = Date.now() - t0;
    const replies = r.text.split("\r\n").filter((l) => /^\d{3} /.test(l));
    const ok = replies.filter((l) => l.startsWith("250 2.1.5")).length;
    const tooMany = replies.filter((l) => l.startsWith("452 4.5.3")).length;
    const peak = d.rss();
    figure(
      "a million RCPT",
      `${sent} RCPT sent; session cut after ${ms} ms: ${ok} accepted, ${tooMany} told 452 4.5.3, then "${replies.at(-1)}"; daemon RSS ${(before / MB).toFixed(0)} -> ${(peak / MB).toFixed(0)} MB`,
    );
    expect(r.closed).toBe(true);
    expect(ok).toBe(1000);
    expect(replies.at(-1)).toMatch(/^421 4\.7\.0 .*too many errors/);
    expect(ms).toBeLessThan(15_000);
    expect(peak - before).toBeLessThan(100 * MB);
  }, 60_000);

  test("AUTH brute force: locked out after smtpd_auth_failure_limit, even with the right password; other clients unaffected", async () => {
    const plain = (p: string) => Buffer.from(`\0alice@example.test\0${p}`).toString("base64");
    const t0 = Date.now();
    let attempts = 0;
    let locked = "";
    for (let conn = 0; conn < 10 && !locked; conn++) {
      const r = await session("127.0.0.3");
      await say(r, "EHLO brute.example", /^250 /m);
      for (let i = 0; i < 10 && !r.closed; i++) {
        attempts++;
        const reply = await say(r, `AUTH PLAIN ${plain(`guess-${attempts}`)}`, /^\d{3} /m);
        if (reply.startsWith("421")) {
          locked = reply.trim();
          break;
        }
        expect(reply).toMatch(/^535 /);
      }
      r.sock.destroy();
    }
    const lockMs = Date.now() - t0;
    // Locked: the right password does not help from there...
    const r = await session("127.0.0.3");
    await say(r, "EHLO brute.example", /^250 /m);
    const right = await say(r, `AUTH PLAIN ${plain("right-password")}`, /^\d{3} /m);
    r.sock.destroy();
    // ...but another client logs in.
    const o = await session("127.0.0.4");
    await say(o, "EHLO other.example", /^250 /m);
    const other = await say(o, `AUTH PLAIN ${plain("right-password")}`, /^\d{3} /m);
    o.sock.destroy();
    figure(
      "AUTH brute force",
      `locked out after ${attempts} guesses in ${lockMs} ms ("${locked}"); right password then: "${right.trim()}"; another client: "${other.trim()}"`,
    );
    expect(attempts).toBeLessThanOrEqual(6);
    expect(locked).toMatch(/^421 4\.7\.0 .*too many AUTH failures/);
    expect(right).toMatch(/^421 /);
    expect(other).toMatch(/^235 /);
  }, 60_000);

  test("an unterminated BDAT: cut by the deadline, nothing queued, memory flat", async () => {
    const r = await session();
    await say(r, "EHLO bdat.example", /^250 /m);
    await say(r, "MAIL FROM:<a@example.test>", /^250 /m);
    await say(r, "RCPT TO:<bdat@remote.test>", /^250 /m);
    const before = d.rss();
    const t0 = Date.now();
    // Announces 1 GB, sends 100 KB, then nothing.
    r.sock.write("BDAT 1000000000 LAST\r\n");
    r.sock.write(Buffer.alloc(100_000, 0x61));
    await until(() => r.closed, 15_000, 20);
    const ms = Date.now() - t0;
    const peak = d.rss();
    figure(
      "unterminated BDAT",
      `BDAT 1000000000 with 100 KB sent, session cut after ${ms} ms: "${r.text.trim().split("\r\n").at(-1)}"; daemon RSS ${(before / MB).toFixed(0)} -> ${(peak / MB).toFixed(0)} MB`,
    );
    expect(r.closed).toBe(true);
    expect(r.text).toContain("421 4.4.2");
    expect(ms).toBeLessThan(8000);
    expect(peak - before).toBeLessThan(50 * MB);
    const q = d.cli(["mailq"]);
    expect(q.out).not.toContain("bdat@remote.test");
  }, 30_000);

  test("the daemon is still well after all of it", async () => {
    const c = await SmtpClient.connect(d.port);
    expect((await c.reply()).join()).toStartWith("220 ");
    expect((await c.cmd("EHLO after.example")).at(-1)).toStartWith("250 ");
    await c.cmd("QUIT");
    c.close();
    expect(d.logs.filter((l) => /panic|unexpected error/.test(l))).toEqual([]);
  });
});
