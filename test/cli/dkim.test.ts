import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { keysForDomain } from "../../src/auth/dkim-keys.ts";
import { run as dkim } from "../../src/cli/dkim.ts";
import { COMMANDS } from "../../src/main.ts";
import { captureIO, makeTestDir, type TestDir } from "./helpers.ts";

let t: TestDir;

beforeEach(() => {
  t = makeTestDir("dkim_selector = mail2024\n");
});

afterEach(() => t.cleanup());

async function d(argv: string[]) {
  const c = captureIO(t.dir, "dkim");
  const code = await dkim(argv, c.io);
  return { code, out: c.out(), err: c.err() };
}

const RECORD = /^(\S+)\._domainkey\.(\S+)\. IN TXT ((?:"[^"]{1,255}" ?)+)$/;

test("keygen prints the record to publish; list shows every key", async () => {
  const dir = join(t.queueDir, "dkim");
  const rsa = await d(["keygen", "example.com"]);
  expect(rsa.code).toBe(0);
  expect(rsa.err).toBe("");
  const lines = rsa.out.trimEnd().split("\n");
  expect(lines.length).toBe(2);
  expect(lines[0]).toBe(
    `; example.com selector mail2024, RSA 2048, key in ${join(dir, "example.com.mail2024.rsa.key")}`,
  );
  const m = RECORD.exec(lines[1]);
  expect(m).not.toBeNull();
  expect(m![1]).toBe("mail2024");
  expect(m![2]).toBe("example.com");
  const txt = m![3]
    .trim()
    .split(/" "/)
    .map((s) => s.replace(/^"|"$/g, ""))
    .join("");
  expect(txt).toStartWith("v=DKIM1; k=rsa; p=MII");
  expect(statSync(join(dir, "example.com.mail2024.rsa.key")).mode & 0o777).toBe(0o600);

  const ed = await d(["keygen", "Example.org", "--selector", "ed1", "--type", "ed25519"]);
  expect(ed.code).toBe(0);
  expect(ed.out).toMatch(
    /^; example\.org selector ed1, Ed25519, key in .*\/example\.org\.ed1\.ed25519\.key\ned1\._domainkey\.example\.org\. IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="\n$/,
  );
  const eq = await d(["keygen", "--type=ed25519", "--selector=two", "example.com"]);
  expect(eq.code).toBe(0);

  const list = await d(["list"]);
  expect(list.code).toBe(0);
  expect(list.out.split("\n").filter((l) => l.startsWith(";"))).toEqual([
    `; example.com selector mail2024, RSA 2048, key in ${join(dir, "example.com.mail2024.rsa.key")}`,
    `; example.com selector two, Ed25519, key in ${join(dir, "example.com.two.ed25519.key")}`,
    `; example.org selector ed1, Ed25519, key in ${join(dir, "example.org.ed1.ed25519.key")}`,
  ]);
  expect(list.out).toContain(`${lines[1]}\n`);
  expect(list.out).toContain(ed.out);
  expect(keysForDomain(dir, "example.com").map((k) => k.type)).toEqual(["rsa", "ed25519"]);
});

test("errors and usage", async () => {
  expect(await d(["list"])).toEqual({
    code: 0,
    out: "",
    err: `dkim: no DKIM keys in ${join(t.queueDir, "dkim")}\n`,
  });
  expect(existsSync(join(t.queueDir, "dkim"))).toBe(false);
  const usage =
    "dkim: fatal: usage: posteix dkim keygen DOMAIN [--selector SELECTOR] [--type rsa|ed25519] | posteix dkim list\n";
  for (const argv of [
    [],
    ["keygen"],
    ["keygen", "a.example", "b.example"],
    ["keygen", "a.example", "--type", "dsa"],
    ["keygen", "a.example", "--selector"],
    ["list", "x"],
    ["frob"],
  ]) {
    expect(await d(argv)).toEqual({ code: 64, out: "", err: usage });
  }
  expect(await d(["keygen", "bad_domain!"])).toEqual({
    code: 1,
    out: "",
    err: 'dkim: fatal: invalid domain name "bad_domain!"\n',
  });
  expect((await d(["keygen", "a.example"])).code).toBe(0);
  const again = await d(["keygen", "a.example"]);
  expect(again.code).toBe(1);
  expect(again.err).toBe(
    `dkim: fatal: ${join(t.queueDir, "dkim", "a.example.mail2024.rsa.key")} exists already (choose another selector to rotate keys)\n`,
  );
});

test("registered in the multi-call binary", async () => {
  expect(typeof COMMANDS.dkim).toBe("function");
  expect((await COMMANDS.dkim()).run).toBe(dkim);
});
