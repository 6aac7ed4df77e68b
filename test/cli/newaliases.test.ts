import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run as newaliases, splitAliasValue } from "../../src/cli/newaliases.ts";
import { captureIO, runMain } from "./helpers.ts";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "posteix-aliases-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function config(mainCf: string, files: Record<string, string> = {}): void {
  writeFileSync(join(dir, "main.cf"), `queue_directory = ${join(dir, "queue")}\n${mainCf}`);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

async function run(argv: string[] = []) {
  const c = captureIO(dir, "newaliases");
  const code = await newaliases(argv, c.io);
  return { code, out: c.out(), err: c.err() };
}

test("checks each texthash/hash file and counts its aliases", async () => {
  config("alias_maps = hash:aliases, texthash:/dev/null, inline:{a=b}\n", {
    aliases: '# comment\npostmaster: root\nroot: alice, bob@example.org\n"x y": alice\n',
  });
  expect(await run()).toEqual({
    code: 0,
    out: "hash:aliases: 3 aliases\ntexthash:/dev/null: 0 aliases\n",
    err: "",
  });
});

test("warnings with file and line; :include: files and empty members", async () => {
  const file = join(dir, "aliases");
  config(`alias_maps = texthash:${file}\n`, {
    aliases: "root: alice\nroot: bob\nlist: :include:/nonexistent/list, ,carol\nbroken\n",
  });
  expect(await run()).toEqual({
    code: 0,
    out: `texthash:${file}: 2 aliases\n`,
    err:
      `newaliases: warning: ${file}, line 2: duplicate entry: "root"\n` +
      `newaliases: warning: ${file}, line 4: expected format: key whitespace value\n` +
      `newaliases: warning: ${file}: alias list: include file /nonexistent/list does not exist\n` +
      `newaliases: warning: ${file}: alias list: empty list member in ":include:/nonexistent/list, ,carol"\n`,
  });
});

test("alias_database wins over alias_maps; a missing file is an error", async () => {
  config("alias_maps = texthash:/dev/null\nalias_database = hash:missing\n");
  expect(await run()).toEqual({
    code: 1,
    out: "",
    err: `newaliases: fatal: ${join(dir, "missing")}: cannot open table file: ENOENT\n`,
  });
});

test("nothing to check with the built-in inline aliases; regexp tables are opened", async () => {
  config("");
  expect(await run()).toEqual({ code: 0, out: "no alias files to check in alias_maps\n", err: "" });
  config("alias_maps = regexp:re\n", { re: "/^(.*)-owner$/ $1\n" });
  expect(await run()).toEqual({ code: 0, out: "regexp:re: ok\n", err: "" });
});

test("usage and the real process", async () => {
  config("");
  expect((await run(["-x"])).code).toBe(64);
  const r = await runMain(["-c", dir, "newaliases"]);
  expect(r).toEqual({ code: 0, stdout: "no alias files to check in alias_maps\n", stderr: "" });
});

test("splitAliasValue keeps quoted commas", () => {
  expect(splitAliasValue('a, "b,c"@x, |"cmd, arg" ,d')).toEqual([
    "a",
    '"b,c"@x',
    '|"cmd, arg"',
    "d",
  ]);
});
