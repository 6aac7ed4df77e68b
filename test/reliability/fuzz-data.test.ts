/**
 * Property tests of the DATA state machine, both ways: what smtpd's reader takes in and what
 * the smtp client's DotStuffer puts on the wire. For any stored content, cut into any chunks:
 *   - the wire carries no bare CR and no bare LF, so no smuggling form can reach a next hop;
 *   - its only end of data is the one at its end, and our own reader, fed the wire in any
 *     chunks, ends exactly there and gives back the content with its line ends made CRLF;
 *   - the reader's events do not depend on how the input is cut.
 * (The reader's own model and smuggling properties are in test/smtpd/reader.test.ts.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DotStuffer } from "../../src/delivery/smtp/dot-stuff.ts";
import { SmtpReader } from "../../src/smtpd/reader.ts";
import { check, report, rssMB, runs } from "./fuzz.ts";

const FILE = "fuzz-data.test.ts";
afterAll(() => report(FILE));

const CR = 13;
const LF = 10;
const dec = (b: Uint8Array) => Buffer.from(b).toString("latin1");
const enc = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

/** Content bytes from an alphabet dense in line ends, dots and NULs. */
const content = fc.oneof(
  fc
    .array(fc.constantFrom(..."a.\r\n\0 .".split("").map((c) => c.charCodeAt(0))), {
      maxLength: 120,
    })
    .map((a) => Uint8Array.from(a)),
  fc
    .array(
      fc.constantFrom(
        "\n.\n",
        "\n.\r\n",
        "\r.\r",
        "\r\n.\r",
        "\r\n.\n",
        "\r.\r\n",
        "\r\n.\0\r\n",
        "\n.\0\n",
        "\r\n.\r\n",
        ".",
        "..",
        "line",
        "\r\n",
        "\n",
        "\r",
        "MAIL FROM:<evil@example.org>\r\n",
      ),
      { maxLength: 12 },
    )
    .map((parts) => enc(parts.join(""))),
  fc.uint8Array({ maxLength: 200 }),
);

/** Cut points: the sizes of consecutive chunks (the last one takes the rest). */
const cuts = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 });

function chunked(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(bytes.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

function stuff(bytes: Uint8Array, sizes: number[], lineLimit: number): Uint8Array {
  const s = new DotStuffer(lineLimit);
  const parts = chunked(bytes, sizes).map((c) => s.encode(c));
  parts.push(s.finish());
  return Buffer.concat(parts.map((p) => Buffer.from(p)));
}

/** The content with every line end made CRLF, ending in CRLF unless empty. */
function normalized(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === CR) {
      out += "\r\n";
      if (bytes[i + 1] === LF) i++;
    } else if (c === LF) out += "\r\n";
    else out += String.fromCharCode(c);
  }
  if (out.length > 0 && !out.endsWith("\r\n")) out += "\r\n";
  return out;
}

describe("DATA to the next hop (DotStuffer)", () => {
  test("no bare CR or LF on the wire; one end of data, at the end; our reader gets the content back", () => {
    const before = rssMB();
    check(
      FILE,
      fc.property(content, cuts, cuts, (bytes, sizes, readSizes) => {
        const wire = stuff(bytes, sizes, 0);
        for (let i = 0; i < wire.length; i++) {
          if (wire[i] === CR) expect(wire[i + 1]).toBe(LF);
          if (wire[i] === LF) expect(wire[i - 1]).toBe(CR);
        }
        const text = dec(wire);
        const firstEnd = text.startsWith(".\r\n") ? 0 : text.indexOf("\r\n.\r\n") + 2;
        expect(firstEnd).toBe(text.length - 3);

        const r = new SmtpReader({ lineLimit: 1000 });
        r.startData();
        let got = "";
        let ends = 0;
        let bare = 0;
        for (const piece of chunked(wire, readSizes)) {
          r.feed(piece);
          for (let ev = r.next(); ev; ev = r.next()) {
            if (ev.kind === "data") got += dec(ev.bytes);
            else if (ev.kind === "end") ends++;
            else if (ev.kind === "bare") bare++;
          }
        }
        expect(ends).toBe(1);
        expect(bare).toBe(0);
        expect(r.pending).toBe(0);
        expect(got).toBe(normalized(bytes));
      }),
      runs(5_000, 300_000),
    );
    expect(rssMB() - before).toBeLessThan(300);
  }, 600_000);

  test("with line folding ($smtp_line_length_limit) the wire stays clean and ends once", () => {
    check(
      FILE,
      fc.property(content, cuts, fc.integer({ min: 40, max: 80 }), (bytes, sizes, limit) => {
        const wire = stuff(bytes, sizes, limit);
        let col = 0;
        for (let i = 0; i < wire.length; i++) {
          if (wire[i] === CR) expect(wire[i + 1]).toBe(LF);
          if (wire[i] === LF) {
            expect(wire[i - 1]).toBe(CR);
            col = 0;
          } else if (wire[i] !== CR) col++;
          // +1: a dot-stuffed line may be one longer than the limit, as Postfix's.
          expect(col).toBeLessThanOrEqual(limit + 1);
        }
        const text = dec(wire);
        const firstEnd = text.startsWith(".\r\n") ? 0 : text.indexOf("\r\n.\r\n") + 2;
        expect(firstEnd).toBe(text.length - 3);
      }),
      runs(2_000, 100_000),
    );
  }, 600_000);
});

describe("DATA from a client (SmtpReader)", () => {
  test("any bytes in any chunks: events are the same as fed at once; content never grows past the input", () => {
    check(
      FILE,
      fc.property(content, cuts, (bytes, sizes) => {
        const events = (pieces: Uint8Array[]) => {
          const r = new SmtpReader({ lineLimit: 1000 });
          r.startData();
          const out: string[] = [];
          let data = "";
          let total = 0;
          for (const p of pieces) {
            r.feed(p);
            for (let ev = r.next(); ev; ev = r.next()) {
              if (ev.kind === "data") {
                data += dec(ev.bytes);
                total += ev.bytes.length;
                continue;
              }
              if (data) out.push(`data:${data}`);
              data = "";
              out.push(ev.kind === "line" ? `line:${dec(ev.line)}` : ev.kind);
              if (ev.kind === "end") return { out, total };
            }
          }
          if (data) out.push(`data:${data}`);
          return { out, total };
        };
        const whole = events([bytes]);
        const cut = events(chunked(bytes, sizes));
        // Where the stream ends decides nothing but where data events split.
        const join = (xs: string[]) => xs.join("|").replace(/\|data:/g, "");
        expect(join(cut.out)).toBe(join(whole.out));
        expect(whole.total).toBeLessThanOrEqual(bytes.length);
      }),
      runs(3_000, 200_000),
    );
  }, 600_000);
});
