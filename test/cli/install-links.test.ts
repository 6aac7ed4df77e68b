import { afterEach, beforeEach, expect, test } from "bun:test";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../src/cli/install-links.ts";
import { captureIO, runMain } from "./helpers.ts";

const NAMES = ["sendmail", "mailq", "postqueue", "postsuper", "postcat", "postconf", "newaliases"];
let dir: string;
let bin: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "posteix-links-"));
  bin = join(dir, "posteix");
  writeFileSync(bin, "#!/bin/sh\n", { mode: 0o755 });
  mkdirSync(join(dir, "bin"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function install(...argv: string[]) {
  const c = captureIO(null, "install-links");
  const code = await run(argv, c.io);
  return { code, out: c.out(), err: c.err() };
}

test("creates every link to the executable, then leaves them unchanged", async () => {
  const target = join(dir, "bin");
  const r = await install("--target", bin, target);
  expect(r).toEqual({
    code: 0,
    out: NAMES.map((n) => `${join(target, n)} -> ${bin}\n`).join(""),
    err: "",
  });
  for (const n of NAMES) {
    expect(lstatSync(join(target, n)).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(target, n))).toBe(bin);
  }
  const again = await install("--target", bin, target);
  expect(again.out).toBe(NAMES.map((n) => `${join(target, n)} -> ${bin} (unchanged)\n`).join(""));
});

test("defaults to the running executable", async () => {
  const r = await install(join(dir, "bin"));
  expect(r.code).toBe(0);
  expect(readlinkSync(join(dir, "bin", "mailq"))).toBe(process.execPath);
});

test("refuses to replace a file or a foreign link, changing nothing; --force replaces", async () => {
  const target = join(dir, "bin");
  writeFileSync(join(target, "sendmail"), "real sendmail");
  const r = await install("--target", bin, target);
  expect(r.code).toBe(1);
  expect(r.err).toBe(
    `install-links: fatal: ${join(target, "sendmail")} exists and is not a link; use --force to replace it\n`,
  );
  expect(readdirSync(target)).toEqual(["sendmail"]);

  rmSync(join(target, "sendmail"));
  symlinkSync("/usr/sbin/other-mta", join(target, "postconf"));
  const l = await install("--target", bin, target);
  expect(l.err).toBe(
    `install-links: fatal: ${join(target, "postconf")} exists and is a link to another file; use --force to replace it\n`,
  );
  expect(readdirSync(target)).toEqual(["postconf"]);

  writeFileSync(join(target, "sendmail"), "real sendmail");
  const f = await install("--force", "--target", bin, target);
  expect(f.code).toBe(0);
  expect(f.out).toContain(`${join(target, "sendmail")} -> ${bin} (replaced)\n`);
  expect(f.out).toContain(`${join(target, "postconf")} -> ${bin} (replaced)\n`);
  expect(readlinkSync(join(target, "sendmail"))).toBe(bin);
  expect(readlinkSync(join(target, "postconf"))).toBe(bin);
  expect(readFileSync(join(target, "sendmail"), "utf8")).toBe("#!/bin/sh\n");
  expect(readdirSync(target).sort()).toEqual([...NAMES].sort());
});

test("a link through another path to the same file counts as ours", async () => {
  const target = join(dir, "bin");
  symlinkSync(bin, join(dir, "alias"));
  symlinkSync(join(dir, "alias"), join(target, "mailq"));
  const r = await install("--target", bin, target);
  expect(r.out).toContain(`${join(target, "mailq")} -> ${bin} (unchanged)\n`);
});

test("errors", async () => {
  expect((await install()).err).toBe(
    "install-links: fatal: usage: posteix install-links [--force] [--target FILE] DIR\n",
  );
  expect((await install(join(dir, "missing"))).err).toBe(
    `install-links: fatal: ${join(dir, "missing")}: No such file or directory\n`,
  );
  mkdirSync(join(dir, "bin", "mailq"));
  expect((await install("--force", "--target", bin, join(dir, "bin"))).err).toBe(
    `install-links: fatal: ${join(dir, "bin", "mailq")} is a directory; not replacing it\n`,
  );
});

test("through the real dispatcher; a process started by a link's name runs that command", async () => {
  const target = join(dir, "bin");
  const r = await runMain(["install-links", "--target", bin, target]);
  expect(r).toEqual({
    code: 0,
    stdout: NAMES.map((n) => `${join(target, n)} -> ${bin}\n`).join(""),
    stderr: "",
  });
  // A link to the compiled binary starts it with argv[0] = the link's path.
  writeFileSync(join(dir, "main.cf"), `queue_directory = ${join(dir, "queue")}\n`);
  const q = await runMain(["-c", dir], { argv0: join(target, "mailq") });
  expect(q).toEqual({ code: 0, stdout: "Mail queue is empty\n", stderr: "" });
});
