/**
 * The local delivery agent with real files: Maildir and mbox mailboxes, aliases(5) through a
 * texthash: table, files, commands, :include:, loops, and forwarding through a recording
 * cleanup (the component's contract).
 */

import { beforeEach, describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createLocalAgent, type LocalAgent } from "../../src/delivery/local/index.ts";
import { createResolver } from "../../src/dns/index.ts";
import {
  makeConfig,
  makeRequest,
  type RecordedMessage,
  recipient,
  recordingCleanup,
  removeTempDirs,
  tempDir,
} from "./support.ts";

let root: string;
let forwarded: RecordedMessage[];
let agent: LocalAgent;

const BODY = "Subject: test\r\nFrom: someone@client.test\r\n\r\nhello\r\nFrom here on\r\n.\r\n";

function setup(extraAliases = "", params: Record<string, string> = {}) {
  writeFileSync(
    join(root, "passwd"),
    [
      "root:x:0:0:root:/root:/bin/bash",
      `alice:x:1001:1001:Alice:${root}/home/alice:/bin/sh`,
      `bob:x:1002:1002:Bob:${root}/home/bob:/bin/sh`,
      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
      "",
    ].join("\n"),
  );
  mkdirSync(join(root, "home/alice"), { recursive: true });
  mkdirSync(join(root, "home/bob"), { recursive: true });
  mkdirSync(join(root, "out"), { recursive: true });
  chmodSync(join(root, "out"), 0o777);
  chmodSync(root, 0o755);
  writeFileSync(
    join(root, "aliases"),
    [
      "postmaster: alice",
      "team: alice, bob, carol@remote.test, Dave@Remote.test",
      "owner-team: alice",
      `archive: ${root}/out/archive.mbox`,
      `maildirfile: ${root}/out/md/`,
      `pipe: "|cat > ${root}/out/piped.txt"`,
      'tempfail: "|echo busy; exit 75"',
      'nouser: "|echo no such user >&2; exit 67"',
      `inc: :include:${root}/list.inc`,
      "selfish: selfish, \\bob",
      "loopa: loopb",
      "loopb: loopa",
      extraAliases,
    ].join("\n"),
  );
  writeFileSync(join(root, "list.inc"), `# members\nbob\n${root}/out/inc.mbox\n`);
  const rec = recordingCleanup();
  forwarded = rec.messages;
  agent = createLocalAgent(
    {
      resolver: createResolver({ servers: ["127.0.0.1:1"] }),
      newCleanup: rec.newCleanup,
      hostname: "client.test",
    },
    { passwdFile: join(root, "passwd") },
  );
  return makeConfig({
    mydestination: "local.test",
    alias_maps: `texthash:${root}/aliases`,
    mail_spool_directory: `${root}/spool/`,
    recipient_delimiter: "+",
    allow_mail_to_files: "alias, include",
    allow_mail_to_commands: "alias",
    ...params,
  });
}

function deliver(cfg: ReturnType<typeof setup>, rcpt: string, body = BODY) {
  return agent.deliver(
    makeRequest({
      cfg,
      transport: "local",
      nexthop: "client.test",
      recipients: [rcpt],
      body,
      chunkSize: 5,
    }),
  );
}

function maildirFiles(dir: string): string[] {
  return existsSync(join(dir, "new")) ? readdirSync(join(dir, "new")).sort() : [];
}

beforeEach(() => {
  removeTempDirs();
  root = tempDir("posteix-local-");
});

describe("mailboxes", () => {
  test("Maildir: exact content, file name, no partial file, directory modes", async () => {
    const cfg = setup();
    const r = await deliver(cfg, "alice@local.test");
    expect(r.recipients[0]).toEqual({
      index: 0,
      status: "sent",
      dsn: "2.0.0",
      diagnostic: "delivered to maildir",
      relay: "local",
    });
    const dir = join(root, "spool/alice");
    const files = maildirFiles(dir);
    expect(files.length).toBe(1);
    const m = /^(\d+)\.M(\d+)P(\d+)Q(\d+)\.client\.test,S=(\d+)$/.exec(files[0]);
    expect(m).not.toBeNull();
    expect(Number(m?.[3])).toBe(process.pid);
    const content = readFileSync(join(dir, "new", files[0]), "utf8");
    expect(content).toBe(
      "Return-Path: <sender@client.test>\nDelivered-To: alice@local.test\nSubject: test\nFrom: someone@client.test\n\nhello\nFrom here on\n.\n",
    );
    expect(Number(m?.[5])).toBe(Buffer.byteLength(content));
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
    expect(readdirSync(join(dir, "cur"))).toEqual([]);
    for (const d of ["", "new", "tmp", "cur"])
      expect(statSync(join(dir, d)).mode & 0o777).toBe(0o700);
    if (process.getuid?.() === 0) expect(statSync(join(dir, "new", files[0])).uid).toBe(1001);
  });

  test("Maildir: two deliveries get two unique names", async () => {
    const cfg = setup();
    await deliver(cfg, "alice@local.test");
    await deliver(cfg, "alice@local.test");
    const files = maildirFiles(join(root, "spool/alice"));
    expect(files.length).toBe(2);
    expect(files[0]).not.toBe(files[1]);
  });

  test("Maildir: a failure while writing leaves nothing in new/ or tmp/ (deferred 4.3.0)", async () => {
    const cfg = setup();
    const req = makeRequest({
      cfg,
      transport: "local",
      nexthop: "client.test",
      recipients: ["alice@local.test"],
    });
    let calls = 0;
    req.body = async function* () {
      calls++;
      yield new TextEncoder().encode("Subject: x\r\n\r\npart one\r\n");
      // The first read is the Delivered-To scan; the second writes the mailbox and fails.
      if (calls > 1) throw Object.assign(new Error("EIO: i/o error, read"), { code: "EIO" });
    };
    const r = await agent.deliver(req);
    expect(r.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.3.0",
      diagnostic: "maildir delivery failed: error writing message: Input/output error",
    });
    const dir = join(root, "spool/alice");
    expect(readdirSync(join(dir, "new"))).toEqual([]);
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
  });

  test("$mailbox_size_limit: bounced 5.2.2, no file left", async () => {
    const cfg = setup("", { mailbox_size_limit: "60" });
    const r = await deliver(cfg, "alice@local.test");
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.2.2",
      diagnostic: "maildir delivery failed: error writing message: File too large",
    });
    expect(readdirSync(join(root, "spool/alice/new"))).toEqual([]);
    expect(readdirSync(join(root, "spool/alice/tmp"))).toEqual([]);
  });

  test("recipient_delimiter: user+ext goes to user's mailbox; unknown user bounces 5.1.1", async () => {
    const cfg = setup();
    const r = await deliver(cfg, "Alice+Lists@local.test");
    expect(r.recipients[0].status).toBe("sent");
    const files = maildirFiles(join(root, "spool/alice"));
    expect(readFileSync(join(root, "spool/alice/new", files[0]), "utf8")).toContain(
      "Delivered-To: alice+lists@local.test\n",
    );
    const r2 = await deliver(cfg, "zed@local.test");
    expect(r2.recipients[0]).toEqual({
      index: 0,
      status: "bounced",
      dsn: "5.1.1",
      diagnostic: 'unknown user: "zed"',
      relay: "local",
    });
  });

  test("mbox in the spool: From line, >From quoting, blank line, lock removed", async () => {
    const cfg = setup("", { mail_spool_directory: `${root}/mail` });
    const arrival = new Date(2024, 0, 5, 9, 8, 7).getTime();
    const req = makeRequest({
      cfg,
      transport: "local",
      nexthop: "client.test",
      recipients: ["bob@local.test"],
      body: BODY,
      message: { arrivalTime: arrival },
    });
    await agent.deliver(req);
    await agent.deliver({ ...req, message: { ...req.message, sender: "" } });
    const text = readFileSync(join(root, "mail/bob"), "utf8");
    const one = (sender: string) =>
      `From ${sender === "" ? "MAILER-DAEMON" : sender}  Fri Jan  5 09:08:07 2024\nReturn-Path: <${sender}>\nDelivered-To: bob@local.test\nSubject: test\nFrom: someone@client.test\n\nhello\n>From here on\n.\n\n`;
    expect(text).toBe(one("sender@client.test") + one(""));
    expect(existsSync(join(root, "mail/bob.lock"))).toBe(false);
  });

  test("$home_mailbox: Maildir/ and Mailbox under the home directory", async () => {
    const cfg = setup("", { home_mailbox: "Maildir/" });
    await deliver(cfg, "bob@local.test");
    expect(maildirFiles(join(root, "home/bob/Maildir")).length).toBe(1);
    const cfg2 = setup("", { home_mailbox: "Mailbox" });
    const r = await deliver(cfg2, "bob@local.test");
    expect(r.recipients[0].diagnostic).toBe("delivered to mailbox");
    expect(readFileSync(join(root, "home/bob/Mailbox"), "utf8")).toStartWith(
      "From sender@client.test  ",
    );
  });

  test("Delivered-To: loop bounces 5.4.6", async () => {
    const cfg = setup();
    const r = await deliver(cfg, "alice@local.test", `Delivered-To: ALICE@local.test\r\n${BODY}`);
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.4.6",
      diagnostic: "mail forwarding loop for alice@local.test",
    });
    expect(maildirFiles(join(root, "spool/alice"))).toEqual([]);
  });
});

describe("aliases", () => {
  test("local members delivered here, the others resubmitted as one new message", async () => {
    const cfg = setup();
    const r = await agent.deliver(
      makeRequest({
        cfg,
        transport: "local",
        nexthop: "client.test",
        recipients: [
          recipient(0, "team@local.test", { notify: ["SUCCESS"], original: "Team@local.test" }),
        ],
        body: BODY,
      }),
    );
    expect(r.recipients[0]).toEqual({
      index: 0,
      status: "sent",
      dsn: "2.0.0",
      diagnostic: "delivered to maildir; forwarded as F0RWARD1",
      relay: "local",
    });
    expect(maildirFiles(join(root, "spool/alice")).length).toBe(1);
    expect(maildirFiles(join(root, "spool/bob")).length).toBe(1);
    expect(forwarded.length).toBe(1);
    const f = forwarded[0];
    // owner-team exists: the list owner is the sender of the forwarded copy.
    expect(f.input).toMatchObject({ sender: "owner-team@local.test", trusted: false });
    expect(f.recipients).toEqual([
      { address: "carol@remote.test", original: "Team@local.test", notify: ["SUCCESS"] },
      { address: "Dave@Remote.test", original: "Team@local.test", notify: ["SUCCESS"] },
    ]);
    expect(f.content).toBe(`Delivered-To: team@local.test\r\n${BODY}`);
  });

  test("postmaster through the default-style alias; self-reference and \\user skip aliases", async () => {
    const cfg = setup();
    expect((await deliver(cfg, "postmaster@local.test")).recipients[0].status).toBe("sent");
    expect(maildirFiles(join(root, "spool/alice")).length).toBe(1);
    // "selfish: selfish, \bob": no user selfish, so that part bounces; bob gets a copy.
    const r = await deliver(cfg, "selfish@local.test");
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      diagnostic: 'unknown user: "selfish"',
    });
    expect(maildirFiles(join(root, "spool/bob")).length).toBe(1);
  });

  test("an alias loop bounces 5.4.6", async () => {
    const cfg = setup();
    const r = await deliver(cfg, "loopa@local.test");
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.4.6",
      diagnostic: "mail forwarding loop for loopa@local.test",
    });
  });

  test("/file: appended in mbox format; a path ending in / is a Maildir", async () => {
    const cfg = setup();
    await deliver(cfg, "archive@local.test");
    const r = await deliver(cfg, "archive@local.test");
    expect(r.recipients[0]).toMatchObject({
      status: "sent",
      diagnostic: `delivered to file: ${root}/out/archive.mbox`,
    });
    const text = readFileSync(join(root, "out/archive.mbox"), "utf8");
    expect(text.match(/^From sender@client\.test {2}/gm)?.length).toBe(2);
    expect(text).toContain("Delivered-To: archive@local.test\nSubject: test\n");
    expect(text).toContain("\n>From here on\n");
    await deliver(cfg, "maildirfile@local.test");
    expect(maildirFiles(join(root, "out/md")).length).toBe(1);
  });

  test("/file refused when $allow_mail_to_files does not allow aliases", async () => {
    const cfg = setup("", { allow_mail_to_files: "forward" });
    const r = await deliver(cfg, "archive@local.test");
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.7.1",
      diagnostic: "mail to file is restricted",
    });
  });

  test("|command: message on stdin; exit 75 defers, 67 bounces with sysexits' DSN", async () => {
    const cfg = setup();
    const r = await deliver(cfg, "pipe@local.test");
    expect(r.recipients[0]).toMatchObject({
      status: "sent",
      diagnostic: `delivered to command: cat > ${root}/out/piped.txt`,
    });
    const piped = readFileSync(join(root, "out/piped.txt"), "utf8");
    expect(piped).toMatch(
      /^From sender@client\.test {2}\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n/,
    );
    expect(piped.slice(piped.indexOf("\n") + 1)).toBe(
      "Return-Path: <sender@client.test>\nDelivered-To: pipe@local.test\nSubject: test\nFrom: someone@client.test\n\nhello\nFrom here on\n.\n",
    );
    const t = await deliver(cfg, "tempfail@local.test");
    expect(t.recipients[0]).toMatchObject({
      status: "deferred",
      dsn: "4.3.0",
      diagnostic:
        'Command died with status 75: "echo busy; exit 75" (temporary failure). Command output: busy',
    });
    const b = await deliver(cfg, "nouser@local.test");
    expect(b.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.1.1",
      diagnostic:
        'Command died with status 67: "echo no such user >&2; exit 67" (user unknown). Command output: no such user',
    });
  });

  test("|command refused when $allow_mail_to_commands does not allow aliases", async () => {
    const cfg = setup("", { allow_mail_to_commands: "forward" });
    const r = await deliver(cfg, "pipe@local.test");
    expect(r.recipients[0]).toMatchObject({
      status: "bounced",
      dsn: "5.7.1",
      diagnostic: "mail to command is restricted",
    });
    expect(existsSync(join(root, "out/piped.txt"))).toBe(false);
  });

  test(":include: reads more destinations", async () => {
    const cfg = setup();
    const r = await deliver(cfg, "inc@local.test");
    expect(r.recipients[0]).toMatchObject({
      status: "sent",
      diagnostic: `delivered to maildir; delivered to file: ${root}/out/inc.mbox`,
    });
    expect(maildirFiles(join(root, "spool/bob")).length).toBe(1);
    expect(readFileSync(join(root, "out/inc.mbox"), "utf8")).toContain(
      "Delivered-To: inc@local.test\n",
    );
  });
});
