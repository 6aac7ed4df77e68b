/**
 * The crash test (test/reliability/crash.ts) in a small form for `npm test`, on the sources
 * (bun src/main.ts): two SIGKILLs of each kind, a few hundred messages. The compiled binary's
 * longer run is `npm run test:crash` (scripts/crash-test.ts), also run by .ci/run.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { crashFailed, formatReport, runCrashTest } from "./crash.ts";

const LONG = process.env.POSTEIX_LONG === "1";

test(
  "SIGKILL at every kind of moment: nothing acknowledged lost, nothing delivered without 250, no partial file, database intact",
  async () => {
    const report = await runCrashTest({
      command: [process.execPath, join(import.meta.dir, "../../src/main.ts")],
      kills: LONG ? 60 : 12,
      messages: LONG ? 2000 : 300,
      clients: 4,
    });
    console.log(
      formatReport(report)
        .split("\n")
        .map((l) => `figures: crash (sources): ${l}`)
        .join("\n"),
    );
    expect(report.lost).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.bouncesMissing).toEqual([]);
    expect(report.incompleteFiles).toEqual([]);
    expect(report.problems).toEqual([]);
    expect(report.integrity).toBe("ok");
    expect(crashFailed(report)).toBe(false);
  },
  LONG ? 900_000 : 180_000,
);
