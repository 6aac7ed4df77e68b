import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openQueue } from "../../src/queue/index.ts";
import { BUN, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

// The only outside witness of an fsync is the kernel: count them with strace where it exists.
test.skipIf(!Bun.which("strace"))(
  "group commits and operator moves fsync; spills and scheduler moves do not",
  async () => {
    const dir = tempDir("fsync");
    openQueue({ directory: dir }).close(); // creation fsyncs stay out of the count
    const trace = join(dir, "strace.txt");
    const proc = Bun.spawn(
      [
        "strace",
        "-f",
        "-e",
        "trace=fsync,fdatasync,write",
        "-o",
        trace,
        BUN,
        join(import.meta.dir, "fixtures", "fsync-probe.ts"),
        dir,
      ],
      { stdout: "ignore", stderr: "pipe" },
    );
    expect(await proc.exited).toBe(0);
    const counts: Record<string, number> = {};
    let phase = "open";
    for (const line of readFileSync(trace, "utf8").split("\n")) {
      const mark = /write\(2, "MARK (\w+)/.exec(line);
      if (mark) phase = mark[1];
      else if (/\b(fsync|fdatasync)\(/.test(line)) counts[phase] = (counts[phase] ?? 0) + 1;
    }
    expect(counts.batches).toBe(5);
    expect(counts.scheduler).toBeUndefined();
    expect(counts.operator).toBe(1);
  },
  30_000,
);
