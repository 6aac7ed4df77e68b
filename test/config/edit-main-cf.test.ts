import { afterAll, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { editMainCf } from "../../src/config/edit-main-cf.ts";
import { removeTempDirs, tempDir } from "./fixture.ts";

afterAll(removeTempDirs);

test("changes lines in place, drops their continuations, keeps comments, appends new names", () => {
  const before = [
    "# main.cf",
    "myhostname = old.example",
    "",
    "mydestination = a,",
    "    b,",
    "# a comment between continuation lines",
    "    c",
    "#relayhost = [commented.example]",
    "relayhost = [old.example]",
    "mynetworks = 127.0.0.0/8",
    "",
  ].join("\n");
  const dir = tempDir({ "main.cf": before });
  const path = join(dir, "main.cf");
  chmodSync(path, 0o640);
  const warnings = editMainCf(path, {
    relayhost: "[new.example]:587",
    zz_new: "last",
    mydestination: "$myhostname, localhost",
    aa_new: "first",
  });
  expect(warnings).toEqual([]);
  expect(readFileSync(path, "utf8")).toBe(
    [
      "# main.cf",
      "myhostname = old.example",
      "",
      "mydestination = $myhostname, localhost",
      "# a comment between continuation lines",
      "#relayhost = [commented.example]",
      "relayhost = [new.example]:587",
      "mynetworks = 127.0.0.0/8",
      "aa_new = first",
      "zz_new = last",
      "",
    ].join("\n"),
  );
  expect(statSync(path).mode & 0o777).toBe(0o640);
  expect(readdirSync(dir)).toEqual(["main.cf"]); // no temp file left
});

test("creates a missing file; a file without a final newline", () => {
  const dir = tempDir();
  const path = join(dir, "main.cf");
  editMainCf(path, { relayhost: "" });
  expect(readFileSync(path, "utf8")).toBe("relayhost = \n");
  writeFileSync(path, "a = 1");
  editMainCf(path, { b: "2" });
  expect(readFileSync(path, "utf8")).toBe("a = 1\nb = 2\n");
});

test("every entry of a name set twice is changed, with a warning", () => {
  const dir = tempDir({ "main.cf": "x = 1\ny = 2\nx = 3\n" });
  const path = join(dir, "main.cf");
  expect(editMainCf(path, { x: "9" })).toEqual([`${path}: multiple entries for "x"`]);
  expect(readFileSync(path, "utf8")).toBe("x = 9\ny = 2\nx = 9\n");
});

test("refuses multi-line values and bad names", () => {
  const dir = tempDir();
  expect(() => editMainCf(join(dir, "main.cf"), { x: "a\nb" })).toThrow("multi-line");
  expect(() => editMainCf(join(dir, "main.cf"), { "a b": "1" })).toThrow(
    'bad parameter name: "a b"',
  );
});
