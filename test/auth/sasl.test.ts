import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SaslExchange, type SaslStep, verifyCredentials } from "../../src/auth/sasl.ts";
import { openQueue, type QueueStore } from "../../src/queue/index.ts";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

let dir: string;
let queue: QueueStore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "posteix-sasl-"));
  queue = openQueue({ directory: join(dir, "queue") });
  queue.users.add("alice@example.com", await Bun.password.hash("s3cret", "argon2id"));
  queue.users.add("bob", await Bun.password.hash("pässwörd", "argon2id"));
});

afterAll(() => {
  queue.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs an exchange with scripted client lines; returns the 334 challenges and the last step. */
function run(mech: string, initial: string | undefined, lines: string[]) {
  const x = new SaslExchange(mech);
  const challenges: string[] = [];
  let step: SaslStep = x.start(initial);
  let i = 0;
  while (step.kind === "challenge") {
    challenges.push(`334 ${step.challenge}`);
    if (i >= lines.length) throw new Error("exchange wants more lines");
    step = x.next(lines[i++]);
  }
  return { challenges, step };
}

describe("SASL state machine", () => {
  test.each([
    ["PLAIN initial response", "PLAIN", b64("\0alice@example.com\0s3cret"), [], []],
    [
      "PLAIN after an empty challenge",
      "plain",
      undefined,
      [b64("\0alice@example.com\0s3cret")],
      ["334 "],
    ],
    ["PLAIN with authzid", "PLAIN", b64("alice@example.com\0alice@example.com\0s3cret"), [], []],
    [
      "LOGIN",
      "LOGIN",
      undefined,
      [b64("alice@example.com"), b64("s3cret")],
      ["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6"],
    ],
    [
      "LOGIN with the user name as initial response",
      "login",
      b64("alice@example.com"),
      [b64("s3cret")],
      ["334 UGFzc3dvcmQ6"],
    ],
  ])("%s", (_name, mech, initial, lines, challenges) => {
    const r = run(mech, initial, lines);
    expect(r.challenges).toEqual(challenges);
    expect(r.step.kind).toBe("credentials");
    if (r.step.kind === "credentials") {
      expect(r.step.authcid).toBe("alice@example.com");
      expect(r.step.password).toBe("s3cret");
    }
  });

  test.each([
    ["* cancels PLAIN", "PLAIN", undefined, ["*"], 501, "5.7.0", "Authentication aborted", false],
    [
      "* cancels LOGIN at the password",
      "LOGIN",
      undefined,
      [b64("alice"), "*"],
      501,
      "5.7.0",
      "Authentication aborted",
      false,
    ],
    [
      "bad base64 in the initial response",
      "PLAIN",
      "not base64!",
      [],
      501,
      "5.5.2",
      "Error: Invalid base64 data in initial response",
      false,
    ],
    [
      "bad base64 in a continued response",
      "LOGIN",
      undefined,
      ["AAA"],
      501,
      "5.5.2",
      "Error: Invalid base64 data in continued response",
      false,
    ],
    [
      "PLAIN without NULs",
      "PLAIN",
      b64("alice s3cret"),
      [],
      535,
      "5.7.8",
      "Error: authentication failed: authentication failure",
      true,
    ],
    [
      "PLAIN with an empty password",
      "PLAIN",
      b64("\0alice\0"),
      [],
      535,
      "5.7.8",
      "Error: authentication failed: authentication failure",
      true,
    ],
    [
      "an unknown mechanism",
      "CRAM-MD5",
      undefined,
      [],
      504,
      "5.5.4",
      "Unrecognized authentication type",
      false,
    ],
    [
      "a response over the limit",
      "LOGIN",
      undefined,
      ["A".repeat(12292)],
      500,
      "5.5.6",
      "SASL response limit exceeded",
      false,
    ],
  ])("%s", (_name, mech, initial, lines, code, enhanced, text, counts) => {
    const { step } = run(mech, initial, lines);
    expect(step).toMatchObject({ kind: "fail", reply: { code, enhanced, text }, counts });
  });

  test('"=" is an empty initial response', () => {
    const { step } = run("PLAIN", "=", []);
    expect(step.kind).toBe("fail");
    const login = new SaslExchange("LOGIN").start("=");
    expect(login).toMatchObject({ kind: "fail", reply: { code: 535 } });
  });

  test("misuse throws", () => {
    const x = new SaslExchange("PLAIN");
    expect(() => x.next("x")).toThrow();
    x.start(b64("\0a\0b"));
    expect(() => x.start()).toThrow();
    expect(() => x.next("x")).toThrow();
  });
});

describe("verifyCredentials against the user table", () => {
  const check = (authcid: string, password: string, authzid = "") =>
    verifyCredentials(queue.users, { authcid, authzid, password });

  test("right and wrong passwords, names in any case, UTF-8 passwords", async () => {
    expect(await check("alice@example.com", "s3cret")).toEqual({
      ok: true,
      user: "alice@example.com",
    });
    expect(await check("Alice@Example.COM", "s3cret")).toEqual({
      ok: true,
      user: "alice@example.com",
    });
    expect(await check("bob", "pässwörd")).toEqual({ ok: true, user: "bob" });
    expect(await check("alice@example.com", "S3cret")).toEqual({ ok: false, temporary: false });
    expect(await check("nobody", "s3cret")).toEqual({ ok: false, temporary: false });
    expect(await check("with space", "x")).toEqual({ ok: false, temporary: false });
  });

  test("the authorization identity must be empty or the login itself", async () => {
    expect((await check("alice@example.com", "s3cret", "alice@example.com")).ok).toBe(true);
    expect((await check("alice@example.com", "s3cret", "ALICE@example.com")).ok).toBe(true);
    expect(await check("alice@example.com", "s3cret", "bob")).toEqual({
      ok: false,
      temporary: false,
    });
  });

  test("a failing table is a temporary failure", async () => {
    const broken = {
      get(): never {
        throw Object.assign(new Error("database is locked"), { code: "QUEUE_ERROR" });
      },
    };
    expect(await verifyCredentials(broken, { authcid: "a", authzid: "", password: "b" })).toEqual({
      ok: false,
      temporary: true,
      reason: "database is locked",
    });
  });
});
