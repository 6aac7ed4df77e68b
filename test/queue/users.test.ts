import { afterAll, expect, test } from "bun:test";
import { openQueue, type QueueError } from "../../src/queue/index.ts";
import { removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as QueueError).code;
  }
  return "none";
}

test("users: add, get, list, change password, delete; names are lowercase", async () => {
  const dir = tempDir("users");
  let q = openQueue({ directory: dir });
  const hash = await Bun.password.hash("secret", { algorithm: "argon2id" });
  const t = Date.now();
  q.users.add("Alice@Example.COM", hash);
  q.users.add("bob", "h2");
  const alice = q.users.get("alice@example.com")!;
  expect(alice.name).toBe("alice@example.com");
  expect(alice.hash).toBe(hash);
  expect(alice.created).toBeGreaterThanOrEqual(t);
  expect(await Bun.password.verify("secret", alice.hash)).toBe(true);
  expect(q.users.get(" ALICE@example.com ")?.name).toBe("alice@example.com");
  expect(q.users.list().map((u) => u.name)).toEqual(["alice@example.com", "bob"]);

  expect(codeOf(() => q.users.add("ALICE@example.com", "x"))).toBe("BAD_STATE");
  expect(codeOf(() => q.users.add("", "x"))).toBe("INVALID");
  expect(codeOf(() => q.users.add("a b", "x"))).toBe("INVALID");
  expect(codeOf(() => q.users.add("a\nb", "x"))).toBe("INVALID");
  expect(codeOf(() => q.users.setPassword("carol", "x"))).toBe("NOT_FOUND");
  expect(codeOf(() => q.users.delete("carol"))).toBe("NOT_FOUND");

  q.users.setPassword("BOB", "h3");
  q.close();
  q = openQueue({ directory: dir });
  try {
    expect(q.users.get("bob")!.hash).toBe("h3");
    q.users.delete("Bob");
    expect(q.users.get("bob")).toBeNull();
    expect(q.users.list().map((u) => u.name)).toEqual(["alice@example.com"]);
    expect(q.integrityCheck()).toEqual(["ok"]);
  } finally {
    q.close();
  }
  expect(codeOf(() => q.users.list())).toBe("QUEUE_ERROR");
});
