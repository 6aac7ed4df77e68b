/**
 * sendmail as users and scripts run it: a real process reading standard input, queueing
 * through cleanup into the real queue (no daemon needed).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { parseSendmailArgs } from "../../src/cli/sendmail.ts";
import { openQueue } from "../../src/queue/index.ts";

const me = userInfo().username;
const MAIN = join(import.meta.dir, "../../src/main.ts");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(): string {
  const dir = mkdtempSync(join(tmpdir(), "posteix-sendmail-"));
  dirs.push(dir);
  writeFileSync(
    join(dir, "main.cf"),
    `queue_directory = ${dir}/data\nmyhostname = mail.example.com\nmydomain = example.com\nmyorigin = example.com\n`,
  );
  return dir;
}

function sendmail(dir: string, args: string[], stdin: string) {
  const p = Bun.spawnSync([process.execPath, MAIN, "-c", dir, "sendmail", ...args], {
    stdin: Buffer.from(stdin, "latin1"),
    env: { ...process.env, POSTEIX_CONFIG_DIR: "" },
  });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

function queued(dir: string) {
  const q = openQueue({ directory: join(dir, "data") });
  try {
    return [...q.iterate({})].map((m) => ({
      ...m,
      content: Buffer.concat([...q.body(m.id)]).toString("latin1"),
    }));
  } finally {
    q.close();
  }
}

describe("sendmail", () => {
  test("argument parsing: both -f addr and -faddr, -oi, -N/-R/-V, ignored compatibility flags", () => {
    expect(parseSendmailArgs(["-oi", "-fbob@x.test", "-Fbob", "-odq", "a@b.test"])).toMatchObject({
      dotEndsInput: false,
      sender: "bob@x.test",
      fullName: "bob",
      recipients: ["a@b.test"],
    });
    expect(
      parseSendmailArgs(["-t", "-N", "success,failure", "-R", "hdrs", "-V", "env1"]),
    ).toMatchObject({
      extract: true,
      notify: ["SUCCESS", "FAILURE"],
      ret: "HDRS",
      envid: "env1",
    });
    expect(() => parseSendmailArgs(["-N", "sometimes"])).toThrow("bad -N option value");
    expect(() => parseSendmailArgs(["-Z"])).toThrow("invalid option");
  });

  test("queues stdin with LF line endings as CRLF; a lone dot ends input unless -i", () => {
    const dir = setup();
    const r = sendmail(
      dir,
      ["-f", "bob@example.net", "carol@example.org"],
      "Subject: one\n\nline\n.\nafter the dot\n",
    );
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    const r2 = sendmail(dir, ["-i", "dave@example.org"], "Subject: two\n\nline\n.\nkept\n");
    expect(r2.code).toBe(0);
    const [m1, m2] = queued(dir);
    expect(m1.sender).toBe("bob@example.net");
    expect(m1.recipients.map((x) => x.address)).toEqual(["carol@example.org"]);
    expect(m1.content).toMatch(/\r\n\r\nline\r\n$/);
    expect(m2.sender).toBe(`${me}@example.com`); // login name @ $myorigin
    expect(m2.content).toMatch(/\r\n\r\nline\r\n\.\r\nkept\r\n$/);
    expect(m2.content).toMatch(
      /^Received: by mail\.example\.com \(posteix, from userid \d+\)\r\n\tid [0-9A-F]+\r\n\tfor <dave@example\.org>; /,
    );
    expect(m2.content).toContain(`\r\nFrom: <${me}@example.com>\r\n`);
    expect(m2.content).toMatch(/\r\nMessage-ID: <\d{14}\.[0-9A-F]+@mail\.example\.com>\r\n/);
  });

  test("-t takes recipients from the headers, adds command-line ones and drops Bcc; -F names the sender", () => {
    const dir = setup();
    const r = sendmail(
      dir,
      ["-t", "-i", "-F", "Alice Example", "extra@example.org"],
      "To: a@example.org\nCc: b@example.org\nBcc: secret@example.org\nSubject: t\n\nbody\n",
    );
    expect(r.code).toBe(0);
    const [m] = queued(dir);
    expect(m.recipients.map((x) => x.address).sort()).toEqual([
      "a@example.org",
      "b@example.org",
      "extra@example.org",
      "secret@example.org",
    ]);
    expect(m.content).not.toContain("Bcc:");
    expect(m.content).toContain(`\r\nFrom: Alice Example <${me}@example.com>\r\n`);
  });

  test("DSN options are kept with the message", () => {
    const dir = setup();
    expect(
      sendmail(
        dir,
        ["-i", "-N", "success", "-R", "hdrs", "-V", "ENV-1", "x@example.org"],
        "Subject: d\n\nb\n",
      ).code,
    ).toBe(0);
    const [m] = queued(dir);
    expect(m.ret).toBe("HDRS");
    expect(m.envid).toBe("ENV-1");
    expect(m.recipients[0].notify).toEqual(["SUCCESS"]);
  });

  test("errors: no recipients, bad address", () => {
    const dir = setup();
    const none = sendmail(dir, [], "Subject: x\n\n");
    expect(none.code).toBe(64);
    expect(none.err).toContain("no recipient addresses found");
    const bad = sendmail(dir, ["-i", "not an address@"], "Subject: x\n\n");
    expect(bad.code).toBe(65);
    expect(queued(dir)).toHaveLength(0);
  });

  test("-bs speaks SMTP on standard input and output; -bp lists the queue", () => {
    const dir = setup();
    const dialog = [
      "EHLO local.test",
      "MAIL FROM:<bob@example.net>",
      "RCPT TO:<carol@example.org>",
      "DATA",
      "Subject: via -bs",
      "",
      "hi",
      ".",
      "QUIT",
      "",
    ].join("\r\n");
    const r = sendmail(dir, ["-bs"], dialog);
    expect(r.code).toBe(0);
    const lines = r.out.split("\r\n");
    expect(lines[0]).toMatch(/^220 mail\.example\.com ESMTP posteix/);
    expect(r.out).toContain("250 2.1.0 Ok\r\n");
    expect(r.out).toContain("250 2.1.5 Ok\r\n");
    expect(r.out).toContain("354 End data with <CR><LF>.<CR><LF>\r\n");
    expect(r.out).toMatch(/250 2\.0\.0 Ok: queued as [0-9A-F]+\r\n221 2\.0\.0 Bye\r\n$/);
    const [m] = queued(dir);
    expect(m.sender).toBe("bob@example.net");
    expect(m.content).toContain("\r\nSubject: via -bs\r\n");

    const bp = sendmail(dir, ["-bp"], "");
    expect(bp.code).toBe(0);
    expect(bp.out).toMatch(
      /^-Queue ID- +--Size-- ----Arrival Time---- -Sender\/Recipient-------\n[0-9A-F]+ /,
    );
    expect(bp.out).toContain("carol@example.org");
  });
});
