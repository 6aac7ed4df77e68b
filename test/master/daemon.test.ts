/**
 * The daemon commands as a user runs them, as real processes: init, check, start, status,
 * reload (adds and removes a listener without dropping a session in flight), stop; and the
 * queue tools talking to the running daemon through the control socket.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { SmtpClient } from "../helpers/smtp-client.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const dirs: string[] = [];
const pids: number[] = [];
afterAll(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function posteix(args: string[], stdin?: string) {
  const p = Bun.spawnSync([process.execPath, MAIN, ...args], {
    stdin: stdin === undefined ? "ignore" : Buffer.from(stdin),
    env: { ...process.env, POSTEIX_CONFIG_DIR: "" },
  });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

async function greeting(port: number): Promise<string> {
  const c = await SmtpClient.connect(port);
  const g = (await c.reply()).join("\n");
  c.close();
  return g;
}

describe("posteix daemon commands", () => {
  test("init writes commented files; check accepts them and names file and line of a mistake", () => {
    const dir = mkdtempSync(join(tmpdir(), "posteix-daemon-"));
    // Run as root, the daemon becomes $mail_owner: it must reach its directories.
    chmodSync(dir, 0o755);
    dirs.push(dir);
    const init = posteix(["init", join(dir, "etc")]);
    expect(init.code).toBe(0);
    const mainCf = readFileSync(join(dir, "etc", "main.cf"), "utf8");
    expect(mainCf).toContain("#");
    expect(mainCf).toContain(`queue_directory = ${join(dir, "etc", "data")}`);
    expect(readFileSync(join(dir, "etc", "master.cf"), "utf8")).toMatch(
      /^127\.0\.0\.1:2525\s+inet/m,
    );
    expect(posteix(["init", join(dir, "etc")]).code).toBe(1); // refuses to overwrite

    const ok = posteix(["-c", join(dir, "etc"), "check"]);
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);

    writeFileSync(join(dir, "etc", "main.cf"), `${mainCf}\nsmtpd_timeout = 5x\n`);
    const bad = posteix(["-c", join(dir, "etc"), "check"]);
    expect(bad.code).toBe(1);
    const line = mainCf.split("\n").length + 1;
    expect(bad.err).toContain(
      `${join(dir, "etc", "main.cf")}, line ${line}: bad time value "5x" for smtpd_timeout`,
    );
  });

  test("start, status, reload adding and removing a listener, stop; sessions survive a reload", async () => {
    const dir = mkdtempSync(join(tmpdir(), "posteix-daemon-"));
    // Run as root, the daemon becomes $mail_owner: it must reach its directories.
    chmodSync(dir, 0o755);
    dirs.push(dir);
    const [p1, p2] = [await freePort(), await freePort()];
    writeFileSync(
      join(dir, "main.cf"),
      `queue_directory = ${dir}/data\nmyhostname = mail.example.com\napi_listen =\nsmtpd_peername_lookup = no\n`,
    );
    const transports =
      "smtp unix - - n - - smtp\nlocal unix - n n - - local\nerror unix - - n - - error\n";
    writeFileSync(join(dir, "master.cf"), `127.0.0.1:${p1} inet n - n - - smtpd\n${transports}`);

    expect(posteix(["-c", dir, "status"]).code).toBe(1);
    const start = posteix(["-c", dir, "start"]);
    expect(start.code).toBe(0);
    const pid = Number(readFileSync(join(dir, "data", "posteix.pid"), "utf8"));
    pids.push(pid);
    // `run` re-executed itself (same PID, start saw it) with the heap sized for 1 GB, unless
    // the machine has less.
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    const sized = environ.filter((e) => e.startsWith("BUN_JSC_forceRAMSize="));
    expect(sized).toEqual(totalmem() > 1073741824 ? ["BUN_JSC_forceRAMSize=1073741824"] : []);
    const status = posteix(["-c", dir, "status"]);
    expect(status.code).toBe(0);
    expect(status.out).toContain(`PID: ${pid}`);
    expect(await greeting(p1)).toMatch(/^220 mail\.example\.com ESMTP posteix/);

    // A session open across the reload keeps working.
    const c = await SmtpClient.connect(p1);
    await c.reply();
    expect((await c.cmd("EHLO a.test")).join("\n")).toMatch(/^250-/);

    writeFileSync(
      join(dir, "master.cf"),
      `127.0.0.1:${p2} inet n - n - - smtpd -o smtpd_banner=second\n${transports}`,
    );
    expect(posteix(["-c", dir, "reload"]).code).toBe(0);
    const deadline = Date.now() + 5000;
    let g2 = "";
    while (Date.now() < deadline) {
      g2 = await greeting(p2).catch(() => "");
      if (g2) break;
      await Bun.sleep(50);
    }
    expect(g2).toMatch(/^220 second/);
    // The old listener is gone for new connections...
    await expect(greeting(p1)).rejects.toThrow();
    // ...but the session in flight finishes its transaction.
    expect((await c.cmd("MAIL FROM:<a@example.com>")).join("\n")).toMatch(/^250 2\.1\.0/);
    expect((await c.cmd("RCPT TO:<root@mail.example.com>")).join("\n")).toMatch(/^250 2\.1\.5/);
    expect((await c.cmd("DATA")).join("\n")).toMatch(/^354/);
    expect((await c.cmd("Subject: across reload\r\n\r\nhi\r\n.")).join("\n")).toMatch(
      /^250 2\.0\.0 Ok: queued as/,
    );
    await c.cmd("QUIT");
    c.close();

    // A bad configuration is refused by reload with file and line; the daemon keeps running.
    writeFileSync(
      join(dir, "main.cf"),
      `queue_directory = ${dir}/data\nmessage_size_limit = lots\n`,
    );
    const badReload = posteix(["-c", dir, "reload"]);
    expect(badReload.code).toBe(1);
    expect(badReload.err).toContain("main.cf, line 2:");
    expect(await greeting(p2)).toMatch(/^220 second/);
    writeFileSync(
      join(dir, "main.cf"),
      `queue_directory = ${dir}/data\nmyhostname = mail.example.com\napi_listen =\n`,
    );

    const stop = posteix(["-c", dir, "stop"]);
    expect(stop.code).toBe(0);
    expect(existsSync(join(dir, "data", "posteix.pid"))).toBe(false);
    expect(posteix(["-c", dir, "status"]).code).toBe(1);
    const log = readFileSync(join(dir, "data", "posteix.log"), "utf8");
    expect(log).toMatch(/posteix\/master\[\d+\]: reload -- configuration re-read/);
    expect(log).toMatch(/posteix\/smtpd\[\d+\]: [0-9A-F]+: client=localhost\[127\.0\.0\.1\]/);
  });

  test("sendmail queues while the daemon is down; the daemon delivers it when started", async () => {
    const dir = mkdtempSync(join(tmpdir(), "posteix-daemon-"));
    // Run as root, the daemon becomes $mail_owner: it must reach its directories.
    chmodSync(dir, 0o755);
    dirs.push(dir);
    const port = await freePort();
    writeFileSync(
      join(dir, "main.cf"),
      `queue_directory = ${dir}/data\nmyhostname = mail.example.com\napi_listen =\n`,
    );
    writeFileSync(
      join(dir, "master.cf"),
      `127.0.0.1:${port} inet n - n - - smtpd\nlocal unix - n n - - local\nsmtp unix - - n - - smtp\n`,
    );
    const sm = posteix(
      ["-c", dir, "sendmail", "-i", "-f", "alice@example.com", "root@mail.example.com"],
      "Subject: offline\n\nqueued while down\n",
    );
    expect(sm.code).toBe(0);
    const mailq = posteix(["-c", dir, "mailq"]);
    expect(mailq.out).toMatch(/^-Queue ID-/);
    expect(mailq.out).toContain("alice@example.com");
    expect(mailq.out).toContain("root@mail.example.com");
    expect(mailq.out).toMatch(/-- 0 Kbytes in 1 Request\.\n$/);

    expect(posteix(["-c", dir, "start"]).code).toBe(0);
    pids.push(Number(readFileSync(join(dir, "data", "posteix.pid"), "utf8")));
    const maildir = join(dir, "data", "mail", "root", "new");
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(existsSync(maildir) && readdirSync(maildir).length > 0))
      await Bun.sleep(50);
    expect(readdirSync(maildir).length).toBe(1);
    expect(posteix(["-c", dir, "mailq"]).out).toBe("Mail queue is empty\n");
    expect(posteix(["-c", dir, "stop"]).code).toBe(0);
  });
});
