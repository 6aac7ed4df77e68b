/**
 * mailq and postqueue -p / -j against a real queue holding a message in every state, compared
 * with Postfix's exact layout (showq_compat.c, showq_json.c).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run as mailq } from "../../src/cli/mailq.ts";
import { run as postqueue } from "../../src/cli/postqueue.ts";
import {
  AT,
  addMessage,
  captureIO,
  makeActive,
  makeDeferred,
  makeTestDir,
  runMain,
  type TestDir,
} from "./helpers.ts";

/** A message of exactly `size` bytes (CRLF line ends). */
export function bodyOf(size: number, subject = "test"): string {
  const head = `Subject: ${subject}\r\n\r\n`;
  const fill = size - head.length - 2;
  if (fill < 0) throw new Error("size too small");
  return `${head}${"x".repeat(fill)}\r\n`;
}

const REFUSED = "connect to mx.example.org[192.0.2.7]:25: Connection refused";
const GONE = "host mx.example.net[192.0.2.9] said: 550 5.1.1 <gone@example.net>: unknown user";

let t: TestDir;
const id: Record<string, string> = {};
let savedTZ: string | undefined;

beforeAll(async () => {
  savedTZ = process.env.TZ;
  process.env.TZ = "UTC";
  t = makeTestDir();
  const q = t.queue;
  id.active = await addMessage(q, {
    sender: "alice@example.com",
    recipients: ["bob@example.org", "carol@example.org"],
    body: bodyOf(1000),
    at: AT("2026-11-28T10:00:00Z"),
    client: true,
  });
  makeActive(q, id.active);
  id.deferred = await addMessage(q, {
    sender: "",
    recipients: ["x@example.org", "y@example.org", "z@example.org"],
    body: bodyOf(2048),
    at: AT("2026-11-28T10:01:00Z"),
  });
  makeDeferred(q, id.deferred, [REFUSED, REFUSED, null]);
  id.hold = await addMessage(q, {
    sender: "john doe@example.com",
    recipients: ["dave@example.org"],
    body: bodyOf(300),
    at: AT("2026-11-28T10:02:00Z"),
  });
  q.hold({ ids: [id.hold] });
  id.incoming = await addMessage(q, {
    sender: "eve@example.com",
    recipients: [{ address: "frank@example.org", original: "Frank@Example.ORG" }],
    body: bodyOf(123456),
    at: AT("2026-11-08T09:05:07Z"),
  });
  id.bounce = await addMessage(q, {
    sender: "grace@example.com",
    recipients: ["gone@example.net"],
    body: bodyOf(500),
    at: AT("2026-11-28T10:04:00Z"),
  });
  q.recordResults(id.bounce, [{ index: 0, status: "bounced", dsn: "5.1.1", diagnostic: GONE }]);
  q.setState(id.bounce, "bounce");
  id.corrupt = await addMessage(q, {
    sender: "heidi@example.com",
    recipients: ["ivan@example.org"],
    body: bodyOf(100),
    at: AT("2026-11-28T10:05:00Z"),
  });
  q.setState(id.corrupt, "corrupt");
});

afterAll(() => {
  t.cleanup();
  process.env.TZ = savedTZ;
});

function expectedMailq(): string {
  const pad = (reason: string) => " ".repeat(Math.max(0, 76 - reason.length));
  const total = Math.floor((1000 + 2048 + 300 + 123456 + 500 + 100) / 1024);
  return [
    "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------",
    `${id.active}*    1000 Sat Nov 28 10:00:00  alice@example.com`,
    "                                         bob@example.org",
    "                                         carol@example.org",
    "",
    `${id.incoming}  123456 Sun Nov  8 09:05:07  eve@example.com`,
    "                                         frank@example.org",
    "",
    `${id.deferred}    2048 Sat Nov 28 10:01:00  MAILER-DAEMON`,
    `${pad(REFUSED)}(${REFUSED})`,
    "                                         x@example.org",
    "                                         y@example.org",
    `${pad("reason unavailable")}(reason unavailable)`,
    "                                         z@example.org",
    "",
    `${id.hold}!     300 Sat Nov 28 10:02:00  "john doe"@example.com`,
    "                                         dave@example.org",
    "",
    `${id.bounce}     500 Sat Nov 28 10:04:00  grace@example.com`,
    `(${GONE})`,
    "                                         gone@example.net",
    "",
    // Ours: a corrupt message is marked "#", with why (Postfix's showq skips corrupt/).
    `${id.corrupt}#     100 Sat Nov 28 10:05:00  heidi@example.com`,
    `${" ".repeat(69)}(corrupt)`,
    "                                         ivan@example.org",
    "",
    `-- ${total} Kbytes in 6 Requests.`,
    "",
  ].join("\n");
}

describe("mailq", () => {
  test("Postfix's layout, every state, in showq's order", async () => {
    const c = captureIO(t.dir, "mailq");
    expect(await mailq([], c.io)).toBe(0);
    expect(c.err()).toBe("");
    expect(c.out()).toBe(expectedMailq());
  });

  test("postqueue -p prints the same", async () => {
    const c = captureIO(t.dir, "postqueue");
    expect(await postqueue(["-p"], c.io)).toBe(0);
    expect(c.out()).toBe(expectedMailq());
  });

  test("-c on the command line selects the configuration", async () => {
    const c = captureIO(null, "mailq");
    expect(await mailq(["-c", t.dir], c.io)).toBe(0);
    expect(c.out()).toBe(expectedMailq());
  });

  test("the real process prints the same (TZ=UTC)", async () => {
    const r = await runMain(["-c", t.dir, "mailq"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(expectedMailq());
    const p = await runMain(["postqueue", "-c", t.dir, "-p"]);
    expect(p.stdout).toBe(expectedMailq());
  });

  test("empty queue; a missing queue database is not created", async () => {
    const e = makeTestDir();
    try {
      const c = captureIO(e.dir, "mailq");
      expect(await mailq([], c.io)).toBe(0);
      expect(c.out()).toBe("Mail queue is empty\n");
      const missing = join(e.dir, "nowhere");
      writeFileSync(join(e.dir, "main.cf"), `queue_directory = ${missing}\n`);
      const d = captureIO(e.dir, "mailq");
      expect(await mailq([], d.io)).toBe(0);
      expect(d.out()).toBe("Mail queue is empty\n");
      expect(existsSync(missing)).toBe(false);
    } finally {
      e.cleanup();
    }
  });

  test("bad options and operands", async () => {
    const c = captureIO(t.dir, "mailq");
    expect(await mailq(["-x"], c.io)).toBe(64);
    expect(c.err()).toBe(
      "mailq: invalid option -- 'x'\nmailq: fatal: usage: mailq [-c config_dir] [-v]\n",
    );
    const d = captureIO(t.dir, "mailq");
    expect(await mailq(["extra"], d.io)).toBe(64);
  });

  test("configuration errors are reported with file and line", async () => {
    const e = makeTestDir("smtpd_timeout = 5x\n");
    try {
      const c = captureIO(e.dir, "mailq");
      expect(await mailq([], c.io)).toBe(1);
      expect(c.err()).toBe(
        `mailq: fatal: ${join(e.dir, "main.cf")}, line 2: bad time value "5x" for smtpd_timeout\n`,
      );
      expect(c.out()).toBe("");
    } finally {
      e.cleanup();
    }
  });
});

describe("postqueue -j", () => {
  test("one JSON object per line, Postfix's fields and order", async () => {
    const c = captureIO(t.dir, "postqueue");
    expect(await postqueue(["-j"], c.io)).toBe(0);
    const lines = c.out().split("\n");
    expect(lines.pop()).toBe("");
    const objs = lines.map((l) => JSON.parse(l));
    expect(objs.map((o) => [o.queue_name, o.queue_id])).toEqual([
      ["active", id.active],
      ["incoming", id.incoming],
      ["deferred", id.deferred],
      ["hold", id.hold],
      ["bounce", id.bounce],
      ["corrupt", id.corrupt],
    ]);
    expect(lines[2]).toBe(
      `{"queue_name": "deferred", "queue_id": "${id.deferred}", ` +
        `"arrival_time": ${AT("2026-11-28T10:01:00Z") / 1000}, "message_size": 2048, ` +
        `"forced_expire": false, "sender": "MAILER-DAEMON", "recipients": [` +
        `{"orig_address": "x@example.org", "address": "x@example.org", "delay_reason": "${REFUSED}"}, ` +
        `{"orig_address": "y@example.org", "address": "y@example.org", "delay_reason": "${REFUSED}"}, ` +
        `{"orig_address": "z@example.org", "address": "z@example.org"}]}`,
    );
    expect(objs[1].recipients).toEqual([
      { orig_address: "Frank@Example.ORG", address: "frank@example.org" },
    ]);
    expect(objs[3].sender).toBe('"john doe"@example.com');
    expect(objs[4].recipients[0].bounce_reason).toBe(GONE);
    for (const o of objs) {
      expect(Object.keys(o)).toEqual([
        "queue_name",
        "queue_id",
        "arrival_time",
        "message_size",
        "forced_expire",
        "sender",
        "recipients",
      ]);
    }
  });

  test("empty queue prints nothing", async () => {
    const e = makeTestDir();
    try {
      const c = captureIO(e.dir, "postqueue");
      expect(await postqueue(["-j"], c.io)).toBe(0);
      expect(c.out()).toBe("");
    } finally {
      e.cleanup();
    }
  });
});
