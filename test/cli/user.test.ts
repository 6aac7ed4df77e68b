import { afterEach, beforeEach, expect, test } from "bun:test";
import { run as user } from "../../src/cli/user.ts";
import { type ControlRequest, listenControl } from "../../src/master/control.ts";
import { captureIO, makeTestDir, runMain, type TestDir } from "./helpers.ts";

let t: TestDir;
let requests: ControlRequest[];
let stopControl: () => void;

beforeEach(() => {
  t = makeTestDir("virtual_mailbox_domains = example.com\n");
  requests = [];
  const server = listenControl(t.queueDir, (r) => requests.push(r));
  stopControl = () => server.stop();
});

afterEach(() => {
  stopControl();
  t.cleanup();
});

async function u(argv: string[], opts: { stdin?: string; tty?: boolean } = {}) {
  const c = captureIO(t.dir, "user", opts);
  const code = await user(argv, c.io);
  return { code, out: c.out(), err: c.err() };
}

async function notified(n: number): Promise<ControlRequest[]> {
  for (let i = 0; i < 200 && requests.length < n; i++) await Bun.sleep(5);
  return requests;
}

test("add, list, passwd, del with the password on standard input", async () => {
  expect(await u(["add", "Alice@Example.com"], { stdin: "s3cret\n" })).toEqual({
    code: 0,
    out: "added alice@example.com (login and virtual mailbox)\n",
    err: "",
  });
  expect(await u(["add", "bob"], { stdin: "pw with spaces\r\nignored\n" })).toEqual({
    code: 0,
    out: "added bob (login)\n",
    err: "",
  });
  const alice = t.queue.users.get("alice@example.com")!;
  expect(alice.hash.startsWith("$argon2id$")).toBe(true);
  expect(await Bun.password.verify("s3cret", alice.hash)).toBe(true);
  expect(await Bun.password.verify("pw with spaces", t.queue.users.get("bob")!.hash)).toBe(true);
  expect(await notified(2)).toEqual([{ kind: "wakeup" }, { kind: "wakeup" }]);

  expect(await u(["list"])).toEqual({ code: 0, out: "alice@example.com\nbob\n", err: "" });

  expect(await u(["passwd", "alice@example.com"], { stdin: "n3w" })).toEqual({
    code: 0,
    out: "",
    err: "",
  });
  expect(await Bun.password.verify("n3w", t.queue.users.get("alice@example.com")!.hash)).toBe(true);

  expect(await u(["del", "bob"])).toEqual({ code: 0, out: "", err: "" });
  expect(await u(["list"])).toEqual({ code: 0, out: "alice@example.com\n", err: "" });
  expect(await notified(4)).toHaveLength(4);
});

test("errors", async () => {
  await u(["add", "carol"], { stdin: "x\n" });
  expect(await u(["add", "carol"], { stdin: "y\n" })).toEqual({
    code: 1,
    out: "",
    err: "user: fatal: user carol already exists\n",
  });
  expect((await u(["passwd", "nobody"], { stdin: "y\n" })).err).toBe(
    "user: fatal: no user nobody\n",
  );
  expect((await u(["del", "nobody"])).err).toBe("user: fatal: no user nobody\n");
  expect((await u(["add", "dave"], { stdin: "" })).err).toBe(
    "user: fatal: no password on standard input\n",
  );
  expect((await u(["add", "dave"], { stdin: "\n" })).err).toBe(
    "user: fatal: no password on standard input\n",
  );
  expect(t.queue.users.get("dave")).toBeNull();
  expect((await u(["add", "bad name"], { stdin: "x\n" })).err).toBe(
    'user: fatal: invalid user name "bad name"\n',
  );
  const usage = "user: fatal: usage: posteix user add|passwd|del NAME | posteix user list\n";
  for (const argv of [[], ["add"], ["list", "x"], ["frob", "x"], ["add", "a", "pw"]]) {
    expect(await u(argv)).toEqual({ code: 1, out: "", err: usage });
  }
});

test("at a terminal: asked twice, must match", async () => {
  expect(await u(["add", "erin"], { tty: true, stdin: "one\ntwo\n" })).toEqual({
    code: 1,
    out: "",
    err: "Password: \nRetype password: \nuser: fatal: passwords do not match\n",
  });
  expect(t.queue.users.get("erin")).toBeNull();
  const ok = await u(["add", "erin"], { tty: true, stdin: "same\nsame\n" });
  expect(ok.code).toBe(0);
  expect(await Bun.password.verify("same", t.queue.users.get("erin")!.hash)).toBe(true);
});

test("the real process reads the password from a pipe", async () => {
  const r = await runMain(["-c", t.dir, "user", "add", "frank@example.com"], { stdin: "pw\n" });
  expect(r).toEqual({
    code: 0,
    stdout: "added frank@example.com (login and virtual mailbox)\n",
    stderr: "",
  });
  expect(await Bun.password.verify("pw", t.queue.users.get("frank@example.com")!.hash)).toBe(true);
});
