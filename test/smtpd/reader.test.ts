/**
 * The byte-level reader: command lines, DATA dot-unstuffing, BDAT, bare newlines and every SMTP
 * smuggling form, as table-driven cases and as a property test against a byte-at-a-time model.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type ReaderEvent, SmtpReader } from "../../src/smtpd/reader.ts";

const enc = (s: string) => Buffer.from(s, "latin1");
const dec = (b: Uint8Array) => Buffer.from(b).toString("latin1");

/** Everything the reader produces for `input` fed in `chunks`-sized pieces, as text events. */
function run(
  input: string,
  opts: {
    mode?: "command" | "data" | "bdat";
    size?: number;
    chunk?: number;
    normalize?: boolean;
    limit?: number;
  } = {},
): string[] {
  const r = new SmtpReader({ lineLimit: opts.limit ?? 100, normalizeBareLf: opts.normalize });
  if (opts.mode === "data") r.startData();
  if (opts.mode === "bdat") r.startBdat(opts.size ?? 0, { first: true, detectBare: true });
  const bytes = enc(input);
  const step = opts.chunk ?? bytes.length;
  const out: string[] = [];
  let data = "";
  const take = () => {
    for (let ev = r.next(); ev; ev = r.next()) {
      if (ev.kind === "data") {
        data += dec(ev.bytes);
        continue;
      }
      if (data) {
        out.push(`data:${data}`);
        data = "";
      }
      out.push(describe1(ev));
    }
  };
  for (let i = 0; i < bytes.length; i += Math.max(1, step)) {
    r.feed(bytes.subarray(i, i + Math.max(1, step)));
    take();
  }
  if (bytes.length === 0) take();
  if (data) out.push(`data:${data}`);
  return out;
}

function describe1(ev: ReaderEvent): string {
  switch (ev.kind) {
    case "line":
      return `line:${dec(ev.line)}${ev.bare ? `|bare-${ev.bare}` : ""}`;
    case "too-long":
      return "too-long";
    case "bare":
      return `bare-${ev.which}`;
    case "end":
      return "end";
    case "data":
      return `data:${dec(ev.bytes)}`;
  }
}

describe("command mode", () => {
  const cases: [string, string, string[]][] = [
    ["one line", "EHLO x\r\n", ["line:EHLO x"]],
    [
      "pipelined lines",
      "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n",
      ["line:MAIL FROM:<a>", "line:RCPT TO:<b>", "line:DATA"],
    ],
    ["partial line waits", "NOOP", []],
    ["empty line", "\r\n", ["line:"]],
    ["bare LF ends a line and is reported", "NOOP\n", ["line:NOOP|bare-LF"]],
    ["bare CR inside a line", "NO\rOP\r\n", ["line:NO\rOP|bare-CR"]],
    ["CR CR LF", "NOOP\r\r\n", ["line:NOOP\r|bare-CR"]],
    [
      "too long is skipped to its end, then reading goes on",
      `${"x".repeat(150)}\r\nQUIT\r\n`,
      ["too-long", "line:QUIT"],
    ],
    ["exactly the limit is fine", `${"y".repeat(100)}\r\n`, [`line:${"y".repeat(100)}`]],
    ["one over the limit", `${"y".repeat(101)}\r\n`, ["too-long"]],
  ];
  for (const [name, input, want] of cases) {
    test(name, () => {
      expect(run(input)).toEqual(want);
      // Any chunking gives the same events.
      for (const chunk of [1, 2, 3, 7]) expect(run(input, { chunk })).toEqual(want);
    });
  }

  test("a huge line is never buffered whole", () => {
    const r = new SmtpReader({ lineLimit: 100 });
    for (let i = 0; i < 1000; i++) {
      r.feed(enc("z".repeat(1000)));
      expect(r.next()).toBeNull();
      expect(r.pending).toBeLessThan(300);
    }
    r.feed(enc("\r\nQUIT\r\n"));
    expect(describe1(r.next()!)).toBe("too-long");
    expect(describe1(r.next()!)).toBe("line:QUIT");
  });
});

describe("data mode", () => {
  const cases: [string, string, string[]][] = [
    [
      "plain message",
      "Subject: a\r\n\r\nbody\r\n.\r\n",
      ["data:Subject: a\r\n\r\nbody\r\n", "end"],
    ],
    ["empty message", ".\r\n", ["end"]],
    ["dot-stuffed lines are unstuffed", "..a\r\n...\r\n.\r\n", ["data:.a\r\n..\r\n", "end"]],
    ["a dot inside a line stays", "a.b\r\n .\r\n.\r\n", ["data:a.b\r\n .\r\n", "end"]],
    [
      "commands after the end are commands",
      "x\r\n.\r\nQUIT\r\n",
      ["data:x\r\n", "end", "line:QUIT"],
    ],
    ["end needs CRLF.CRLF: .CRLF at start", "\r\n.\r\n", ["data:\r\n", "end"]],
    // SMTP smuggling forms: none of them ends DATA.
    [
      "smuggling \\n.\\n",
      "a\n.\nMAIL FROM:<x>\r\n.\r\n",
      ["data:a\n", "bare-LF", "data:MAIL FROM:<x>\r\n", "end"],
    ],
    [
      "smuggling \\n.\\r\\n",
      "a\n.\r\nRSET\r\n.\r\n",
      ["data:a\n", "bare-LF", "data:RSET\r\n", "end"],
    ],
    [
      "smuggling \\r.\\r",
      "a\r.\rRSET\r\n.\r\n",
      ["data:a\r", "bare-CR", "data:.\rRSET\r\n", "end"],
    ],
    [
      "smuggling \\r\\n.\\r",
      "a\r\n.\rRSET\r\n.\r\n",
      ["data:a\r\n", "data:\r", "bare-CR", "data:RSET\r\n", "end"],
    ],
    [
      "smuggling \\r\\n.\\n",
      "a\r\n.\nRSET\r\n.\r\n",
      ["data:a\r\n", "bare-LF", "data:RSET\r\n", "end"],
    ],
    [
      "smuggling \\r.\\r\\n",
      "a\r.\r\nb\r\n.\r\n",
      ["data:a\r", "bare-CR", "data:.\r\nb\r\n", "end"],
    ],
    ["NUL before the dot", "a\r\n\0.\r\n.\r\n", ["data:a\r\n\0.\r\n", "end"]],
    ["NUL after the dot", "a\r\n.\0\r\n.\r\n", ["data:a\r\n\0\r\n", "end"]],
    [
      "dot CR NUL",
      "a\r\n.\r\0\r\n.\r\n",
      ["data:a\r\n", "data:\r", "bare-CR", "data:\0\r\n", "end"],
    ],
    ["bare CR at a chunk end", "a\rb\r\n.\r\n", ["data:a\r", "bare-CR", "data:b\r\n", "end"]],
    ["bare LF in the middle", "a\nb\r\n.\r\n", ["data:a\n", "bare-LF", "data:b\r\n", "end"]],
  ];
  for (const [name, input, want] of cases) {
    test(name, () => {
      expect(merge(run(input, { mode: "data" }))).toEqual(merge(want));
      for (const chunk of [1, 2, 3, 5])
        expect(merge(run(input, { mode: "data", chunk }))).toEqual(merge(want));
    });
  }

  test("bare newlines are reported once per message", () => {
    expect(merge(run("a\nb\nc\r\n.\r\n", { mode: "data" }))).toEqual(
      ["data:a\nb\nc\r\n", "bare-LF", "end"].sort(),
    );
  });

  test("normalize: bare LF becomes CRLF, a dot line next to it is dropped, still no early end", () => {
    expect(
      merge(run("a\nb\r\n.\nc\r\n\n.\r\nd\r\n.\r\n", { mode: "data", normalize: true })),
    ).toEqual(merge(["data:a\r\nb\r\nc\r\n\r\nd\r\n", "bare-LF", "end"]));
  });

  test("content comes out as slices of the input, not copies", () => {
    const r = new SmtpReader({ lineLimit: 100 });
    r.startData();
    const chunk = enc("line one\r\nline two\r\n");
    r.feed(chunk);
    const ev = r.next()!;
    expect(ev.kind).toBe("data");
    if (ev.kind === "data") {
      expect(ev.bytes.buffer).toBe(chunk.buffer);
      expect(ev.bytes.length).toBe(chunk.length);
    }
  });
});

describe("bdat mode", () => {
  test("exactly N bytes, no unstuffing, then commands", () => {
    expect(merge(run("..x\r\n.\r\nQUIT\r\n", { mode: "bdat", size: 8 }))).toEqual(
      merge(["data:..x\r\n.\r\n", "end", "line:QUIT"]),
    );
    for (const chunk of [1, 4]) {
      expect(merge(run("..x\r\n.\r\nQUIT\r\n", { mode: "bdat", size: 8, chunk }))).toEqual(
        merge(["data:..x\r\n.\r\n", "end", "line:QUIT"]),
      );
    }
  });
  test("BDAT 0 LAST ends at once", () => {
    expect(run("", { mode: "bdat", size: 0 })).toEqual(["end"]);
  });
  test("bare LF in BDAT content is reported", () => {
    expect(merge(run("a\nb", { mode: "bdat", size: 3 }))).toEqual(
      merge(["data:a\nb", "bare-LF", "end"]),
    );
  });
  test("CRLF split over two BDAT chunks is not bare", () => {
    const r = new SmtpReader({ lineLimit: 100 });
    r.startBdat(2, { first: true, detectBare: true });
    r.feed(enc("a\r"));
    const evs: string[] = [];
    for (let e = r.next(); e; e = r.next()) evs.push(describe1(e));
    r.startBdat(2, { first: false, detectBare: true });
    r.feed(enc("\nb"));
    for (let e = r.next(); e; e = r.next()) evs.push(describe1(e));
    expect(evs).toEqual(["data:a\r", "end", "data:\nb", "end"]);
  });
});

/** Data events merged (chunking splits them freely), the rest kept in order. */
function merge(events: string[]): string[] {
  const out: string[] = [];
  let data = "";
  let bare: string[] = [];
  for (const e of events) {
    if (e.startsWith("data:")) data += e.slice(5);
    else if (e.startsWith("bare-")) bare.push(e);
    else {
      if (data) out.push(`data:${data}`);
      data = "";
      out.push(...bare);
      bare = [];
      out.push(e);
    }
  }
  if (data) out.push(`data:${data}`);
  out.push(...bare);
  return out.sort();
}

// ---------------------------------------------------------------------- property test

/**
 * A byte-at-a-time model of DATA: returns the unstuffed content, whether and where data ended,
 * and whether a bare CR or LF was seen before the end.
 */
function model(input: Uint8Array): { content: string; endAt: number; bare: boolean } {
  let content = "";
  let bare = false;
  let bol = true; // after CRLF (or at start)
  let line = "";
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    line += String.fromCharCode(c);
    if (c === 10) {
      const crlf = line.length >= 2 && line[line.length - 2] === "\r";
      const body = line.slice(0, crlf ? -2 : -1);
      if (/\r/.test(body)) bare = true;
      if (!crlf) bare = true;
      if (bol && crlf && body === ".") return { content, endAt: i + 1, bare };
      // The model only defines content for clean CRLF lines.
      const unstuffed = body.startsWith(".") ? body.slice(1) : body;
      content += `${unstuffed}${crlf ? "\r\n" : "\n"}`;
      bol = crlf;
      line = "";
    }
  }
  if (/\r[^\n]/.test(line) || (line.length > 0 && line.slice(0, -1).includes("\r"))) bare = true;
  return { content, endAt: -1, bare };
}

const LONG = process.env.POSTEIX_LONG === "1";

describe("property: DATA against the model", () => {
  const alphabet = fc.constantFrom(..."ab.\r\n\0".split("").map((c) => c.charCodeAt(0)));
  test("end of data, content and bare newline detection agree with the model for any chunking", () => {
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 60 }),
        fc.integer({ min: 1, max: 9 }),
        (arr, step) => {
          const input = Uint8Array.from(arr);
          const want = model(input);
          const r = new SmtpReader({ lineLimit: 100 });
          r.startData();
          let got = "";
          let ended = -1;
          let bare = false;
          let consumed = 0;
          outer: for (let i = 0; i < input.length; i += step) {
            const piece = input.subarray(i, i + step);
            r.feed(piece);
            for (let ev = r.next(); ev; ev = r.next()) {
              if (ev.kind === "data") got += dec(ev.bytes);
              else if (ev.kind === "bare") bare = true;
              else if (ev.kind === "end") {
                ended = i + piece.length - r.pending;
                break outer;
              }
            }
            consumed = i + piece.length;
          }
          void consumed;
          expect(ended).toBe(want.endAt);
          if (!want.bare) {
            expect(bare).toBe(false);
            if (want.endAt !== -1) expect(got).toBe(want.content);
          } else {
            // Whatever the content, a bare newline before the end must have been reported.
            expect(bare).toBe(true);
          }
        },
      ),
      { numRuns: LONG ? 200_000 : 3_000 },
    );
  });

  test("smuggling: a message with any bare CR/LF dot sequence never ends early", () => {
    const smuggle = fc.constantFrom(
      "\n.\n",
      "\n.\r\n",
      "\r.\r",
      "\r\n.\r",
      "\r\n.\n",
      "\r.\r\n",
      "\n.\0\r\n",
      "\r\n.\0\r\n",
      "\r\n\0.\r\n",
      "\n.\0\n",
      "\r\n.\0\n",
    );
    fc.assert(
      fc.property(
        fc.string({ unit: "binary-ascii", maxLength: 20 }),
        smuggle,
        fc.integer({ min: 1, max: 7 }),
        // Also in Postfix's "normalize" mode (clients in $smtpd_forbid_bare_newline_exclusions).
        fc.boolean(),
        (pre, sm, step, normalize) => {
          // "x" first: a message that starts with ".\r\n" really is empty and ended.
          const text = `x${pre.replace(/[\r\n]/g, "")}${sm}MAIL FROM:<evil>\r\n`;
          const events = run(text, { mode: "data", chunk: step, normalize });
          expect(events).not.toContain("end");
        },
      ),
      { numRuns: LONG ? 100_000 : 2_000 },
    );
  });
});

describe("property: command mode and BDAT", () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .array(fc.constantFrom(..."AB \r\n\0:<>".split("").map((c) => c.charCodeAt(0))), {
        maxLength: 300,
      })
      .map((a) => Uint8Array.from(a)),
  );

  test("lines never exceed the limit nor hold a LF; the events do not depend on the chunking", () => {
    fc.assert(
      fc.property(
        bytes,
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 4, max: 40 }),
        (input, step, limit) => {
          const text = Buffer.from(input).toString("latin1");
          const whole = run(text, { limit });
          const cut = run(text, { limit, chunk: step });
          expect(cut).toEqual(whole);
          let lines = 0;
          for (const ev of whole) {
            if (!ev.startsWith("line:")) {
              expect(ev).toBe("too-long");
              continue;
            }
            lines++;
            const line = ev.slice(5).replace(/\|bare-(LF|CR)$/, "");
            expect(line.length).toBeLessThanOrEqual(limit);
            expect(line).not.toContain("\n");
          }
          // Every complete line (LF-terminated) yields exactly one event.
          const lfs = input.filter((b) => b === 10).length;
          expect(whole.length).toBe(lfs);
          void lines;
        },
      ),
      { numRuns: LONG ? 100_000 : 2_000 },
    );
  });

  test("an endless line is skipped without being held: the buffer stays bounded", () => {
    const r = new SmtpReader({ lineLimit: 100 });
    const junk = new Uint8Array(65536).fill(0x41);
    for (let i = 0; i < (LONG ? 10_000 : 200); i++) {
      r.feed(junk);
      expect(r.next()).toBeNull();
      expect(r.pending).toBeLessThanOrEqual(200);
    }
    r.feed(Buffer.from("\r\nQUIT\r\n"));
    expect(r.next()).toEqual({ kind: "too-long" });
    expect(r.next()).toEqual({ kind: "line", line: new Uint8Array(Buffer.from("QUIT")) });
  });

  test("BDAT takes exactly its size, whatever the bytes and the chunking; what follows is commands", () => {
    fc.assert(
      fc.property(
        bytes,
        fc.integer({ min: 1, max: 13 }),
        fc.nat({ max: 300 }),
        (input, step, want) => {
          const size = Math.min(want, input.length);
          const text = Buffer.from(input).toString("latin1");
          const events = run(`${text}`, { mode: "bdat", size, chunk: step });
          const end = events.indexOf("end");
          expect(end).not.toBe(-1);
          const data = events
            .slice(0, end)
            .filter((e) => e.startsWith("data:"))
            .map((e) => e.slice(5))
            .join("");
          expect(data).toBe(text.slice(0, size));
          // After the chunk: command lines only (one per LF in the rest).
          const rest = text.slice(size);
          expect(events.slice(end + 1).length).toBe(rest.split("\n").length - 1);
        },
      ),
      { numRuns: LONG ? 100_000 : 2_000 },
    );
  });
});
