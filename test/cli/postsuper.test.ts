/**
 * postsuper -d / -h / -H / -r on IDs, ALL, per queue and from standard input, with Postfix's
 * messages on standard error (postsuper.c: "ID: removed", "Deleted: 2 messages", ...).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { run as postsuper } from "../../src/cli/postsuper.ts";
import { type ControlRequest, listenControl } from "../../src/master/control.ts";
import type { QueueState } from "../../src/queue/index.ts";
import {
  addMessage,
  captureIO,
  makeActive,
  makeDeferred,
  makeTestDir,
  runMain,
  type TestDir,
} from "./helpers.ts";

let t: TestDir;
let requests: ControlRequest[];
let stopControl: () => void;
/** One message per state: state -> queue ID. */
let ids: Record<QueueState, string>;

const body = "Subject: x\r\n\r\nhello\r\n";

async function fill(): Promise<Record<QueueState, string>> {
  const q = t.queue;
  const add = () => addMessage(q, { sender: "a@example.com", recipients: ["b@example.org"], body });
  const active = await add();
  makeActive(q, active);
  const deferred = await add();
  makeDeferred(q, deferred, ["connection refused"]);
  const hold = await add();
  q.hold({ ids: [hold] });
  const bounce = await add();
  q.setState(bounce, "bounce");
  const corrupt = await add();
  q.setState(corrupt, "corrupt");
  const incoming = await add();
  return { incoming, active, deferred, hold, bounce, corrupt };
}

beforeEach(async () => {
  t = makeTestDir();
  requests = [];
  const server = listenControl(t.queueDir, (r) => requests.push(r));
  stopControl = () => server.stop();
  ids = await fill();
});

afterEach(() => {
  stopControl();
  t.cleanup();
});

function states(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, id] of Object.entries(ids)) out[name] = t.queue.get(id)?.state ?? "gone";
  return out;
}

async function sup(argv: string[], stdin?: string): Promise<{ code: number; err: string }> {
  const c = captureIO(t.dir, "postsuper", { stdin });
  const code = await postsuper(argv, c.io);
  expect(c.out()).toBe("");
  return { code, err: c.err() };
}

async function notified(): Promise<ControlRequest[]> {
  for (let i = 0; i < 200 && requests.length === 0; i++) await Bun.sleep(5);
  return requests;
}

describe("delete", () => {
  test("-d ID", async () => {
    expect(await sup(["-d", ids.deferred])).toEqual({
      code: 0,
      err: `postsuper: ${ids.deferred}: removed\npostsuper: Deleted: 1 message\n`,
    });
    expect(states().deferred).toBe("gone");
    expect(await notified()).toEqual([{ kind: "wakeup" }]);
    expect(t.queue.history(ids.deferred).at(-1)?.kind).toBe("deleted");
  });

  test("-d ALL: every queue but corrupt", async () => {
    expect(await sup(["-d", "ALL"])).toEqual({
      code: 0,
      err: "postsuper: Deleted: 5 messages\n",
    });
    expect(states()).toEqual({
      incoming: "gone",
      active: "gone",
      deferred: "gone",
      hold: "gone",
      bounce: "gone",
      corrupt: "corrupt",
    });
  });

  test("-d ALL deferred hold: only those queues", async () => {
    expect((await sup(["-d", "ALL", "deferred", "hold"])).err).toBe(
      "postsuper: Deleted: 2 messages\n",
    );
    const s = states();
    expect([s.deferred, s.hold, s.incoming, s.active]).toEqual([
      "gone",
      "gone",
      "incoming",
      "active",
    ]);
  });

  test("-d ALL corrupt; -d ID outside the named queue is left alone", async () => {
    expect((await sup(["-d", "ALL", "corrupt"])).err).toBe("postsuper: Deleted: 1 message\n");
    expect((await sup(["-d", ids.incoming, "hold"])).err).toBe("postsuper: Deleted: 0 messages\n");
    expect(states().incoming).toBe("incoming");
  });

  test("-d - reads IDs from standard input", async () => {
    const stdin = `${ids.hold}\nnot-an-id\n\n${ids.incoming.toLowerCase()}\r\n0123456789AB\n${ids.hold}\n`;
    expect(await sup(["-d", "-"], stdin)).toEqual({
      code: 0,
      err:
        "postsuper: warning: invalid mail queue id: not-an-id\n" +
        `postsuper: ${ids.hold}: removed\n` +
        `postsuper: ${ids.incoming.toLowerCase()}: removed\n` +
        "postsuper: Deleted: 2 messages\n",
    });
    expect(states().hold).toBe("gone");
    expect(states().incoming).toBe("gone");
  });

  test("-d - with more IDs than one batch", async () => {
    const many: string[] = [];
    const drafts = [];
    for (let i = 0; i < 1500; i++) {
      drafts.push(addMessage(t.queue, { sender: "", recipients: ["x@example.org"], body }));
    }
    many.push(...(await Promise.all(drafts)));
    const { code, err } = await sup(["-d", "-"], `${many.join("\n")}\n`);
    expect(code).toBe(0);
    const lines = err.trimEnd().split("\n");
    expect(lines.length).toBe(1501);
    expect(lines[0]).toBe(`postsuper: ${many[0]}: removed`);
    expect(lines[1499]).toBe(`postsuper: ${many[1499]}: removed`);
    expect(lines[1500]).toBe("postsuper: Deleted: 1500 messages");
    expect(t.queue.summary().incoming.count).toBe(1);
  });
});

describe("hold, release, requeue", () => {
  test("-h ALL holds incoming, active and deferred mail", async () => {
    expect((await sup(["-h", "ALL"])).err).toBe("postsuper: Placed on hold: 3 messages\n");
    expect(states()).toEqual({
      incoming: "hold",
      active: "hold",
      deferred: "hold",
      hold: "hold",
      bounce: "bounce",
      corrupt: "corrupt",
    });
    expect(await notified()).toEqual([{ kind: "wakeup" }]);
  });

  test("-h ALL deferred; -h ID already on hold counts nothing", async () => {
    expect((await sup(["-h", "ALL", "deferred"])).err).toBe(
      "postsuper: Placed on hold: 1 message\n",
    );
    expect((await sup(["-h", ids.hold])).err).toBe("postsuper: Placed on hold: 0 messages\n");
    expect(states().incoming).toBe("incoming");
  });

  test("-H ID and -H ALL release to deferred, due at once", async () => {
    expect((await sup(["-H", ids.hold])).err).toBe(
      `postsuper: ${ids.hold}: released from hold\npostsuper: Released from hold: 1 message\n`,
    );
    const m = t.queue.get(ids.hold)!;
    expect(m.state).toBe("deferred");
    expect(m.nextAttempt!).toBeLessThanOrEqual(Date.now());
    expect((await sup(["-H", "ALL"])).err).toBe("postsuper: Released from hold: 0 messages\n");
  });

  test("-r ALL requeues incoming, deferred and hold", async () => {
    expect((await sup(["-r", "ALL"])).err).toBe("postsuper: Requeued: 3 messages\n");
    const s = states();
    expect([s.deferred, s.hold, s.active, s.bounce]).toEqual([
      "incoming",
      "incoming",
      "active",
      "bounce",
    ]);
  });

  test("several options run in command-line order; summaries in Postfix's order", async () => {
    const { err } = await sup([
      "-h",
      ids.incoming,
      "-H",
      ids.incoming,
      "-d",
      ids.active,
      "-r",
      "ALL",
    ]);
    expect(err).toBe(
      `postsuper: ${ids.incoming}: placed on hold\n` +
        `postsuper: ${ids.incoming}: released from hold\n` +
        `postsuper: ${ids.active}: removed\n` +
        "postsuper: Requeued: 3 messages\n" +
        "postsuper: Deleted: 1 message\n" +
        "postsuper: Placed on hold: 1 message\n" +
        "postsuper: Released from hold: 1 message\n",
    );
    expect(states().incoming).toBe("incoming");
  });

  test("nothing changed: no notification", async () => {
    expect((await sup(["-d", "0123456789AB", "-H", "ALL", "deferred"])).err).toBe(
      "postsuper: Deleted: 0 messages\npostsuper: Released from hold: 0 messages\n",
    );
    await Bun.sleep(50);
    expect(requests).toEqual([]);
  });
});

describe("checks and errors", () => {
  const USAGE =
    "postsuper: fatal: usage: postsuper [-c config_dir] [-d queue_id (delete)] " +
    "[-h queue_id (hold)] [-H queue_id (un-hold)] [-p (purge temporary files)] " +
    "[-r queue_id (requeue)] [-s (structure fix)] [-S (redundant structure fix)]" +
    "[-v (verbose)] [queue...]\n";

  test("bare postsuper and -s check the database quietly", async () => {
    expect(await sup([])).toEqual({ code: 0, err: "" });
    expect(await sup(["-s"])).toEqual({ code: 0, err: "" });
    expect(await sup(["-p"])).toEqual({ code: 0, err: "" });
  });

  test.each([
    [["-x"], `postsuper: invalid option -- 'x'\n${USAGE}`],
    [["-d"], `postsuper: option requires an argument -- 'd'\n${USAGE}`],
    [["-d", "ALL", "spool"], "postsuper: fatal: invalid directory name: spool\n"],
    [["-c", "relative", "-d", "ALL"], "postsuper: fatal: -c requires absolute pathname\n"],
    [["-e", "ALL"], "postsuper: fatal: -e: forced expiration is not supported\n"],
  ])("%j", async (argv, err) => {
    expect(await sup(argv as string[])).toEqual({ code: 1, err: err as string });
    expect(Object.values(states()).includes("gone")).toBe(false);
  });

  test("a missing queue directory is fatal, as Postfix's chdir", async () => {
    const e = makeTestDir();
    try {
      const missing = `${e.dir}/nowhere`;
      writeFileSync(`${e.dir}/main.cf`, `queue_directory = ${missing}\n`);
      const c = captureIO(e.dir, "postsuper");
      expect(await postsuper(["-d", "ALL"], c.io)).toBe(1);
      expect(c.err()).toBe(`postsuper: fatal: chdir ${missing}: No such file or directory\n`);
      expect(existsSync(missing)).toBe(false);
    } finally {
      e.cleanup();
    }
  });

  test("maildrop is a valid, empty queue", async () => {
    expect((await sup(["-d", "ALL", "maildrop"])).err).toBe("postsuper: Deleted: 0 messages\n");
  });
});

test("the real process: postsuper -d - with IDs on standard input", async () => {
  const r = await runMain(["-c", t.dir, "postsuper", "-d", "-"], {
    stdin: `${ids.deferred}\n${ids.hold}\n`,
  });
  expect(r).toEqual({
    code: 0,
    stdout: "",
    stderr:
      `postsuper: ${ids.deferred}: removed\npostsuper: ${ids.hold}: removed\n` +
      "postsuper: Deleted: 2 messages\n",
  });
  expect(states().deferred).toBe("gone");
});
