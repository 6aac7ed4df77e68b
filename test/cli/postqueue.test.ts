/**
 * postqueue -f / -s / -i change the queue database directly and tell a running daemon through
 * its control socket (a real listener here); usage errors are Postfix's.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { run as postqueue, validSite } from "../../src/cli/postqueue.ts";
import { type ControlRequest, listenControl } from "../../src/master/control.ts";
import { addMessage, captureIO, makeDeferred, makeTestDir, type TestDir } from "./helpers.ts";

let t: TestDir;
let requests: ControlRequest[];
let stopControl: () => void;

beforeEach(() => {
  t = makeTestDir();
  requests = [];
  const server = listenControl(t.queueDir, (r) => requests.push(r));
  stopControl = () => server.stop();
});

afterEach(() => {
  stopControl();
  t.cleanup();
});

/** Wait (bounded) until the control listener got `n` requests. */
async function received(n: number): Promise<ControlRequest[]> {
  for (let i = 0; i < 200 && requests.length < n; i++) await Bun.sleep(5);
  return requests;
}

async function deferredTo(address: string): Promise<string> {
  const id = await addMessage(t.queue, {
    sender: "a@example.com",
    recipients: [address],
    body: "Subject: x\r\n\r\nx\r\n",
  });
  makeDeferred(t.queue, id, ["try again later"]);
  return id;
}

describe("flushing", () => {
  test("-f makes every deferred message due now and tells the daemon", async () => {
    const a = await deferredTo("a@example.org");
    const b = await deferredTo("b@example.net");
    const before = Date.now();
    const c = captureIO(t.dir, "postqueue");
    expect(await postqueue(["-f"], c.io)).toBe(0);
    expect(c.out() + c.err()).toBe("");
    for (const id of [a, b]) {
      const m = t.queue.get(id)!;
      expect(m.state).toBe("deferred");
      expect(m.nextAttempt!).toBeLessThanOrEqual(Date.now());
      expect(m.nextAttempt!).toBeGreaterThanOrEqual(before - 1);
    }
    expect(await received(1)).toEqual([{ kind: "flush" }]);
  });

  test("-s SITE flushes only mail for that destination", async () => {
    const a = await deferredTo("a@example.org");
    const b = await deferredTo("b@example.net");
    const c = captureIO(t.dir, "postqueue");
    expect(await postqueue(["-s", "example.org"], c.io)).toBe(0);
    expect(t.queue.get(a)!.nextAttempt!).toBeLessThanOrEqual(Date.now());
    expect(t.queue.get(b)!.nextAttempt!).toBeGreaterThan(Date.now() + 1_000_000);
    expect(await received(1)).toEqual([{ kind: "flush", site: "example.org" }]);
  });

  test("-i ID makes that deferred message due now", async () => {
    const a = await deferredTo("a@example.org");
    const b = await deferredTo("b@example.net");
    const c = captureIO(t.dir, "postqueue");
    expect(await postqueue([`-i${a.toLowerCase()}`], c.io)).toBe(0);
    expect(t.queue.get(a)!.state).toBe("incoming");
    expect(t.queue.get(b)!.state).toBe("deferred");
    expect(await received(1)).toEqual([{ kind: "wakeup" }]);
    // An unknown (well-formed) ID is silently fine, as with Postfix.
    const d = captureIO(t.dir, "postqueue");
    expect(await postqueue(["-i", "0123456789AB"], d.io)).toBe(0);
    expect(d.err()).toBe("");
  });

  test("works without a daemon (no control socket)", async () => {
    stopControl();
    const a = await deferredTo("a@example.org");
    const c = captureIO(t.dir, "postqueue");
    expect(await postqueue(["-f"], c.io)).toBe(0);
    expect(t.queue.get(a)!.nextAttempt!).toBeLessThanOrEqual(Date.now());
  });
});

describe("errors", () => {
  const USAGE =
    "postqueue: fatal: usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site\n";

  test.each([
    [[], USAGE],
    [["-p", "-j"], USAGE],
    [["-f", "extra"], USAGE],
    [["-x"], `postqueue: invalid option -- 'x'\n${USAGE}`],
    [["-s"], `postqueue: option requires an argument -- 's'\n${USAGE}`],
    [
      ["-s", "bad..site"],
      'postqueue: fatal: Cannot flush mail queue - invalid destination: "bad..site"\n',
    ],
    [["-i", "../etc"], 'postqueue: fatal: Cannot flush queue ID - invalid name: "../etc"\n'],
    [
      ["-s", "x".repeat(120)],
      `postqueue: fatal: Cannot flush mail queue - invalid destination: "${"x".repeat(100)}..."\n`,
    ],
  ])("%j", async (argv, err) => {
    const c = captureIO(t.dir, "postqueue");
    expect(await postqueue(argv as string[], c.io)).toBe(64);
    expect(c.err()).toBe(err as string);
    expect(requests).toEqual([]);
  });

  test("a missing queue directory is fatal", async () => {
    const e = makeTestDir();
    try {
      const missing = `${e.dir}/nowhere`;
      writeFileSync(`${e.dir}/main.cf`, `queue_directory = ${missing}\n`);
      const c = captureIO(e.dir, "postqueue");
      expect(await postqueue(["-f"], c.io)).toBe(69); // EX_UNAVAILABLE, as Postfix
      expect(c.err()).toBe(`postqueue: fatal: chdir ${missing}: No such file or directory\n`);
      expect(existsSync(missing)).toBe(false);
    } finally {
      e.cleanup();
    }
  });

  test.each([
    ["example.org", true],
    ["mail.example.org.", true],
    ["[192.0.2.1]", true],
    ["[IPv6:2001:db8::1]", true],
    ["192.0.2.1", false],
    ["[300.1.1.1]", false],
    ["-bad.example", false],
    ["a b", false],
    ["", false],
  ])("validSite(%j) = %p", (site, ok) => {
    expect(validSite(site)).toBe(ok);
  });
});
