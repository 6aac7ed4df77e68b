import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { containsBytes, excerpt } from "../../src/bounce/original.ts";

const enc = new TextEncoder();
const dec = (parts: Iterable<Uint8Array>): string => {
  const copies: Uint8Array[] = [];
  for (const p of parts) copies.push(p.slice());
  return Buffer.concat(copies).toString("latin1");
};

/** Split bytes into chunks of the given sizes (cycled). */
function* chunks(bytes: Uint8Array, sizes: number[]): Generator<Uint8Array> {
  let i = 0;
  let k = 0;
  while (i < bytes.length) {
    const n = Math.max(1, sizes[k++ % sizes.length]);
    yield bytes.subarray(i, i + n);
    i += n;
  }
}

/** The specification, written the slow and obvious way over the whole message. */
function reference(text: string, headersOnly: boolean, limit: number): string {
  const lines: string[] = [];
  let i = 0;
  while (i < text.length) {
    const lf = text.indexOf("\n", i);
    const end = lf === -1 ? text.length : lf + 1;
    lines.push(text.slice(i, end));
    i = end;
  }
  let out = "";
  for (const line of lines) {
    if (headersOnly && !/^([ \t]|[\x21-\x39\x3b-\x7e]{1,998}[ \t]*:)/.test(line)) break;
    if (limit > 0 && out.length + line.length > limit) break;
    out += line;
  }
  if (out !== "" && !out.endsWith("\n")) out += "\r\n";
  return out;
}

const MSG = [
  "Received: from a",
  "\tby b;",
  "\tThu, 28 Nov 2024",
  "Subject : obsolete syntax",
  `X-Long: ${"x".repeat(120)}`,
  "",
  "body line 1",
  "From: not a header any more",
  "",
].join("\r\n");

describe("excerpt", () => {
  const cases: {
    name: string;
    input: string;
    headersOnly: boolean;
    limit: number;
    want: string;
  }[] = [
    { name: "full, no limit", input: MSG, headersOnly: false, limit: 0, want: MSG },
    {
      name: "full, unterminated last line gets CRLF",
      input: "A: b\r\n\r\nno newline",
      headersOnly: false,
      limit: 0,
      want: "A: b\r\n\r\nno newline\r\n",
    },
    {
      name: "headers only stop at the empty line",
      input: MSG,
      headersOnly: true,
      limit: 0,
      want: MSG.slice(0, MSG.indexOf("\r\n\r\n") + 2),
    },
    {
      name: "headers only stop at a body line without an empty line",
      input: "A: 1\r\nB: 2\r\nplain text\r\nC: 3\r\n",
      headersOnly: true,
      limit: 0,
      want: "A: 1\r\nB: 2\r\n",
    },
    {
      name: "full with a limit is cut on a line boundary",
      input: "line one\r\nline two\r\nline three\r\n",
      headersOnly: false,
      limit: 25,
      want: "line one\r\nline two\r\n",
    },
    {
      name: "exactly at the limit",
      input: "line one\r\nline two\r\n",
      headersOnly: false,
      limit: 20,
      want: "line one\r\nline two\r\n",
    },
    {
      name: "headers only with a limit",
      input: "A: 1\r\nB: 22\r\nC: 333\r\n\r\nbody\r\n",
      headersOnly: true,
      limit: 14,
      want: "A: 1\r\nB: 22\r\n",
    },
    {
      name: "unterminated header line at the end",
      input: "A: 1\r\nB: 2",
      headersOnly: true,
      limit: 0,
      want: "A: 1\r\nB: 2\r\n",
    },
    { name: "empty input", input: "", headersOnly: false, limit: 0, want: "" },
    { name: "empty input, headers", input: "", headersOnly: true, limit: 10, want: "" },
    {
      name: "first line too long for the limit",
      input: "x".repeat(50),
      headersOnly: false,
      limit: 10,
      want: "",
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      expect(reference(c.input, c.headersOnly, c.limit)).toBe(c.want);
      const bytes = enc.encode(c.input);
      // Every chunking gives the same result.
      for (let size = 1; size <= Math.max(1, bytes.length) + 1; size++) {
        const got = dec(excerpt(chunks(bytes, [size]), c));
        if (got !== c.want) throw new Error(`chunk size ${size}: ${JSON.stringify(got)}`);
      }
    });
  }

  test("matches the reference for random messages and chunkings", () => {
    const token = fc.constantFrom(
      "Subject: x",
      "X-A",
      ":",
      " ",
      "\t",
      "\r\n",
      "\n",
      "\r",
      "body",
      "a",
      "--b",
      "\x00",
    );
    fc.assert(
      fc.property(
        fc.array(token, { maxLength: 60 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 120 }),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 5 }),
        (tokens, headersOnly, limit, sizes) => {
          const input = tokens.join("");
          const got = dec(excerpt(chunks(enc.encode(input), sizes), { headersOnly, limit }));
          expect(got).toBe(reference(input, headersOnly, limit));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("stops pulling chunks once the header section ended", () => {
    let pulled = 0;
    function* source() {
      yield enc.encode("A: 1\r\n\r\n");
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield enc.encode("body\r\n");
      }
    }
    expect(dec(excerpt(source(), { headersOnly: true, limit: 0 }))).toBe("A: 1\r\n");
    expect(pulled).toBe(0);
  });

  test("does not keep views of chunks that the source reuses", () => {
    // A source that overwrites one buffer for every chunk.
    const buf = new Uint8Array(4);
    const input = "AB: 1234\r\nCD: 5\r\n\r\n";
    function* source() {
      for (let i = 0; i < input.length; i += 4) {
        const part = enc.encode(input.slice(i, i + 4));
        buf.fill(0);
        buf.set(part);
        yield buf.subarray(0, part.length);
      }
    }
    const out: string[] = [];
    for (const c of excerpt(source(), { headersOnly: true, limit: 100 })) {
      out.push(Buffer.from(c).toString("latin1"));
    }
    expect(out.join("")).toBe("AB: 1234\r\nCD: 5\r\n");
  });
});

describe("containsBytes", () => {
  test("finds a needle across every chunk boundary", () => {
    const hay = enc.encode(`${"x".repeat(40)}--boundary-1--${"y".repeat(40)}`);
    for (let size = 1; size <= hay.length; size++) {
      expect(containsBytes(chunks(hay, [size]), enc.encode("boundary-1"))).toBe(true);
      expect(containsBytes(chunks(hay, [size]), enc.encode("boundary-2"))).toBe(false);
    }
  });

  test("random haystacks agree with indexOf", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom("a", "b", "c"), maxLength: 40 }),
        fc.string({ unit: fc.constantFrom("a", "b", "c"), minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }),
        (hay, needle, sizes) => {
          expect(containsBytes(chunks(enc.encode(hay), sizes), enc.encode(needle))).toBe(
            hay.includes(needle),
          );
        },
      ),
      { numRuns: 3000 },
    );
  });
});
