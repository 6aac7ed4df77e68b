import { afterAll, expect, test } from "bun:test";
import { buildConfig } from "../../src/config/config.ts";
import type { ParamName } from "../../src/config/params.ts";
import { PARAMS } from "../../src/config/params.ts";
import { checkValue } from "../../src/config/values.ts";
import { isolated, removeTempDirs, tempDir } from "./fixture.ts";

afterAll(removeTempDirs);

const { config, diagnostics } = buildConfig({ ...isolated, configDir: tempDir() });

test("built-in defaults load without diagnostics", () => {
  expect(diagnostics).toEqual([]);
});

test.each(Object.keys(PARAMS) as ParamName[])("%s has a doc line and a valid default", (name) => {
  const def = PARAMS[name];
  expect(def.doc.trim()).not.toBe("");
  expect(def.doc.includes("\n")).toBe(false);
  const value = config.str(name);
  expect(checkValue(name, def, value)).toBeNull();
});
