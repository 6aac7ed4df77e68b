/**
 * Privileges. Started as root, posteix binds its ports (a privileged one here), then runs as
 * $mail_owner for good: /proc shows the new uid, gid and no other groups; the files it made
 * (queue database and its WAL, TLS key, API tokens, pid file, Maildirs) belong to it and are
 * not readable by others. `posteix init` makes the account when it is missing. Started by an
 * ordinary user, posteix changes nothing and runs as that user.
 *
 * Needs root (the test environment and CI run as root); skipped with a message otherwise.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureMailOwner, lookupMailOwner } from "../../src/master/privileges.ts";
import { SmtpClient } from "../helpers/smtp-client.ts";
import { type Daemon, freePort, startDaemon } from "./daemon.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const root = process.geteuid?.() === 0;
if (!root) console.log("skipped: the privilege tests need root (the daemon switches from root)");

const daemons: Daemon[] = [];
const dirs: string[] = [];
const users: string[] = [];
afterAll(async () => {
  for (const d of daemons) {
    await d.kill();
    d.remove();
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const u of users) spawnSync("userdel", [u]);
});

function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const m = /^(\w+):\s*(.*)$/.exec(l);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** A free port below 1024: only root may bind it. */
async function privilegedPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 600 + Math.floor(Math.random() * 400);
    try {
      const s = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
      s.stop(true);
      return port;
    } catch {
      // taken: try another
    }
  }
  throw new Error("no free privileged port");
}

/** Every file and directory under dir with its owner and mode. */
function tree(dir: string): { path: string; uid: number; mode: number }[] {
  const out: { path: string; uid: number; mode: number }[] = [];
  const walk = (p: string) => {
    const st = statSync(p);
    out.push({ path: p, uid: st.uid, mode: st.mode & 0o7777 });
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(dir);
  return out;
}

describe.skipIf(!root)("started as root", () => {
  test("ensureMailOwner makes a missing system account (no login, no home), finds an existing one, refuses bad names", () => {
    const name = `pxt${Math.floor(Math.random() * 1e6)}`;
    users.push(name);
    expect(lookupMailOwner(name)).toBeUndefined();
    const made = ensureMailOwner(name);
    expect(made.created).toBe(true);
    expect(made.owner.uid).toBeGreaterThan(0);
    const entry = spawnSync("getent", ["passwd", name], { encoding: "utf8" }).stdout;
    expect(entry).toMatch(/:(\/usr\/sbin\/nologin|\/sbin\/nologin|\/bin\/false)\n?$/);
    expect(ensureMailOwner(name)).toEqual({ owner: made.owner, created: false });
    expect(() => ensureMailOwner("bad name;rm")).toThrow(/not a valid account name/);
  });

  test("posteix init makes the mail_owner account when missing", () => {
    const dir = mkdtempSync(join(tmpdir(), "posteix-init-"));
    dirs.push(dir);
    const p = Bun.spawnSync([process.execPath, MAIN, "init", join(dir, "etc")], {
      env: { ...process.env, POSTEIX_CONFIG_DIR: "" },
    });
    expect(p.exitCode).toBe(0);
    expect(lookupMailOwner("posteix")).toBeDefined();
  });

  test("binds a privileged port, then runs as mail_owner; what it writes is its own and private", async () => {
    const owner = ensureMailOwner("posteix").owner;
    const port = await privilegedPort();
    const apiPort = await freePort();
    const d = await startDaemon({
      port,
      mainCf: [
        `api_listen = 127.0.0.1:${apiPort}`,
        "mynetworks = 127.0.0.0/8",
        "virtual_mailbox_domains = vmail.test",
        "virtual_mailbox_maps = inline:{ box@vmail.test=box/ }",
        "",
      ].join("\n"),
    });
    daemons.push(d);
    const st = procStatus(d.proc.pid);
    // Real, effective, saved and file-system ids: all of them the account, none 0.
    expect(st.Uid.split(/\s+/).map(Number)).toEqual([owner.uid, owner.uid, owner.uid, owner.uid]);
    expect(st.Gid.split(/\s+/).map(Number)).toEqual([owner.gid, owner.gid, owner.gid, owner.gid]);
    expect(st.Groups.trim().split(/\s+/).map(Number)).toEqual([owner.gid]);
    expect(
      d.logs.some((l) => l.includes(`running as posteix (uid ${owner.uid}, gid ${owner.gid})`)),
    ).toBe(true);

    // It serves on the privileged port and delivers into a Maildir as posteix.
    const c = await SmtpClient.connect(port);
    expect((await c.reply()).join()).toStartWith("220 ");
    await c.cmd("EHLO client.test");
    await c.cmd("MAIL FROM:<a@example.test>");
    await c.cmd("RCPT TO:<box@vmail.test>");
    await c.cmd("DATA");
    expect((await c.cmd("Subject: private\r\n\r\nhello\r\n.")).join()).toStartWith("250 ");
    await c.cmd("QUIT");
    c.close();
    const newDir = join(d.dir, "data", "vmail", "box", "new");
    for (let i = 0; i < 200 && !(existsSync(newDir) && readdirSync(newDir).length > 0); i++)
      await Bun.sleep(25);
    expect(readdirSync(newDir).length).toBe(1);

    const files = tree(join(d.dir, "data"));
    const names = files.map((f) => f.path.slice(d.dir.length + 1));
    for (const want of [
      "data/queue.db",
      "data/queue.db-wal",
      "data/smtpd-key.pem",
      "data/posteix.pid",
    ])
      expect(names).toContain(want);
    expect(names.some((n) => n.startsWith("data/vmail/box/new/"))).toBe(true);
    expect(names.some((n) => /token/.test(n))).toBe(true);
    const bad = files.filter((f) => f.uid !== owner.uid || (f.mode & 0o007) !== 0);
    expect(bad.map((f) => `${f.path} uid=${f.uid} mode=${f.mode.toString(8)}`)).toEqual([]);
    console.log(
      `figures: privileges: bound port ${port} as root, then uid/gid ${owner.uid}/${owner.gid} (posteix), groups [${owner.gid}]; ${files.length} files and directories under data/, all owned by posteix, none readable by others`,
    );
    expect(await d.stop()).toBe(0);
  }, 60_000);

  test("the account can never be root, and a directory it cannot reach is named at start", async () => {
    // A parent directory closed to others: posteix says which path and why, and exits 1.
    const closed = mkdtempSync(join(tmpdir(), "posteix-closed-"));
    dirs.push(closed);
    const cfg = join(closed, "etc");
    spawnSync("mkdir", ["-p", cfg]);
    const port = await freePort();
    const p = Bun.spawnSync([process.execPath, MAIN, "init", cfg], {
      env: { ...process.env, POSTEIX_CONFIG_DIR: "" },
    });
    expect(p.exitCode).toBe(0);
    Bun.write(
      join(cfg, "master.cf"),
      `127.0.0.1:${port} inet n - n - - smtpd\nsmtp unix - - n - - smtp\n`,
    );
    spawnSync("chmod", ["0700", closed]);
    const run = Bun.spawnSync([process.execPath, MAIN, "-c", cfg, "run", "--quiet"], {
      env: { ...process.env, POSTEIX_CONFIG_DIR: "" },
      timeout: 30_000,
    });
    expect(run.exitCode).toBe(1);
    expect(run.stderr.toString()).toMatch(
      /posteix: fatal: running as posteix, posteix cannot (write|read) .*: every directory above it must be searchable by posteix/,
    );

    const root0 = Bun.spawnSync(
      [process.execPath, MAIN, "-c", cfg, "postconf", "-e", "mail_owner = root"],
      { env: { ...process.env, POSTEIX_CONFIG_DIR: "" } },
    );
    expect(root0.exitCode).toBe(0);
    spawnSync("chmod", ["0755", closed]);
    const run2 = Bun.spawnSync([process.execPath, MAIN, "-c", cfg, "run", "--quiet"], {
      env: { ...process.env, POSTEIX_CONFIG_DIR: "" },
      timeout: 30_000,
    });
    expect(run2.exitCode).toBe(1);
    expect(run2.stderr.toString()).toContain('mail_owner "root" must not be root');
  }, 60_000);
});

describe.skipIf(!root || !existsSync("/usr/bin/setpriv"))("started by an ordinary user", () => {
  test("runs as that user, changes nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "posteix-user-"));
    chownSync(dir, 65534, 65534);
    const d = await startDaemon({
      dir,
      command: [
        "/usr/bin/setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        process.execPath,
        MAIN,
      ],
    });
    daemons.push(d);
    const st = procStatus(d.proc.pid);
    expect(st.Uid.split(/\s+/).map(Number)).toEqual([65534, 65534, 65534, 65534]);
    expect(d.logs.some((l) => /running as /.test(l))).toBe(false);
    const c = await SmtpClient.connect(d.port);
    expect((await c.reply()).join()).toStartWith("220 ");
    c.close();
    expect(statSync(join(dir, "data", "queue.db")).uid).toBe(65534);
    expect(await d.stop()).toBe(0);
  }, 60_000);
});
