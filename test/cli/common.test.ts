import { describe, expect, test } from "bun:test";
import { getopt, LineReader, Output, usageError } from "../../src/cli/common.ts";
import { captureIO } from "./helpers.ts";

describe("getopt (POSIX, stops at the first operand)", () => {
  const spec = "c:d:h:H:pr:sSv";
  test.each([
    [["-d", "ABC"], [["d", "ABC"]], []],
    [["-dABC"], [["d", "ABC"]], []],
    [
      ["-psv"],
      [
        ["p", ""],
        ["s", ""],
        ["v", ""],
      ],
      [],
    ],
    [
      ["-pdABC", "-h", "ALL", "deferred"],
      [
        ["p", ""],
        ["d", "ABC"],
        ["h", "ALL"],
      ],
      ["deferred"],
    ],
    [["-d", "-", "hold", "-h", "x"], [["d", "-"]], ["hold", "-h", "x"]],
    [["--", "-d"], [], ["-d"]],
    [["-"], [], ["-"]],
    [[], [], []],
  ])("%j", (argv, opts, operands) => {
    expect(getopt(argv as string[], spec)).toEqual({
      opts: (opts as string[][]).map(([opt, arg]) => ({ opt, arg })),
      operands: operands as string[],
    });
  });

  test("errors", () => {
    expect(getopt(["-x"], spec)).toEqual({ bad: "x", missing: false });
    expect(getopt(["-p", "-d"], spec)).toEqual({ bad: "d", missing: true });
    expect(getopt(["-:"], spec)).toEqual({ bad: ":", missing: false });
  });

  test("usage error text is glibc's then Postfix's", () => {
    const c = captureIO(null, "postsuper");
    expect(usageError(c.io, { bad: "x", missing: false }, "usage: postsuper ...")).toBe(1);
    expect(c.err()).toBe(
      "postsuper: invalid option -- 'x'\npostsuper: fatal: usage: postsuper ...\n",
    );
    const d = captureIO(null, "postqueue");
    expect(usageError(d.io, { bad: "i", missing: true }, "usage: q", 64)).toBe(64);
    expect(d.err()).toBe(
      "postqueue: option requires an argument -- 'i'\npostqueue: fatal: usage: q\n",
    );
  });
});

function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}

async function allLines(r: LineReader): Promise<string[]> {
  const out: string[] = [];
  for (let l = await r.next(); l !== null && out.length < 100_000; l = await r.next()) out.push(l);
  return out;
}

describe("LineReader", () => {
  test("LF, CRLF, lines split across chunks, last line without newline", async () => {
    const r = new LineReader(streamOf(["a\nb", "c\r\n\nd", "ef\r", "\ng"]));
    expect(await allLines(r)).toEqual(["a", "bc", "", "def", "g"]);
  });

  test("a runaway line is cut, the next line is intact", async () => {
    const r = new LineReader(streamOf(["x".repeat(50), "y".repeat(50), "\nok\n"]), 10);
    expect(await allLines(r)).toEqual(["xxxxxxxxxx", "ok"]);
  });

  test("multi-byte characters split across chunks", async () => {
    const bytes = new TextEncoder().encode("jörg\n");
    const s = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.subarray(0, 2));
        c.enqueue(bytes.subarray(2));
        c.close();
      },
    });
    expect(await allLines(new LineReader(s))).toEqual(["jörg"]);
  });

  test("many short lines (no quadratic copying)", async () => {
    const big = "0123456789AB\n".repeat(200_000);
    const t0 = performance.now();
    const lines = await allLines(new LineReader(streamOf([big])));
    expect(lines.length).toBe(100_000); // allLines' own bound
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe("Output", () => {
  test("blocks of about blockSize, bytes in order with text", () => {
    const c = captureIO(null, "x");
    const out = new Output(c.io, 10);
    out.write("12345");
    expect(c.writes).toEqual([]);
    out.write("67890abc");
    expect(c.writes).toEqual(["1234567890abc"]);
    out.write("de");
    out.writeBytes(new Uint8Array([0x66, 0xff]));
    out.write("g");
    out.flush();
    expect(c.writes.length).toBe(4);
    expect([...c.bytes()]).toEqual([...new TextEncoder().encode("1234567890abcdef"), 0xff, 0x67]);
  });

  test("without stdoutBytes the bytes are decoded as UTF-8", () => {
    const c = captureIO(null, "x", { withBytes: false });
    const out = new Output(c.io);
    const b = new TextEncoder().encode("ü");
    out.writeBytes(b.subarray(0, 1));
    out.writeBytes(b.subarray(1));
    out.flush();
    expect(c.out()).toBe("ü");
  });
});
