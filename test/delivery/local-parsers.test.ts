/**
 * Pure parts of local delivery: CRLF to LF with ">From " quoting (any chunking), aliases(5)
 * values, the Delivered-To: scan, asctime.
 */

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { deliveredToSet } from "../../src/delivery/delivered-to.ts";
import { parseAliasValue } from "../../src/delivery/local/aliases.ts";
import { asctime, LfConverter } from "../../src/delivery/local-copy.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function convert(content: string, sizes: number[], quote: boolean, mbox: boolean): string {
  const c = new LfConverter(quote);
  const bytes = enc.encode(content);
  let out = "";
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    out += dec.decode(c.feed(bytes.subarray(pos, pos + n)), { stream: true });
    pos += n;
  }
  return out + dec.decode(c.finish(mbox));
}

describe("LfConverter", () => {
  test("table", () => {
    expect(convert("a\r\nb\r\n", [100], false, false)).toBe("a\nb\n");
    expect(convert("a\rb\r\n", [1], false, false)).toBe("a\rb\n");
    expect(convert("From me\r\nx\r\nFrom you\r\n>From x\r\n", [3], true, true)).toBe(
      ">From me\nx\n>From you\n>From x\n\n",
    );
    expect(convert("no newline", [4], true, true)).toBe("no newline\n\n");
    expect(convert("From", [2], true, false)).toBe("From");
    expect(convert("x\r", [1], false, false)).toBe("x\r");
  });

  test("fuzz: the result does not depend on chunking", () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom("F", "r", "o", "m", " ", "\r", "\n", "x"),
          maxLength: 80,
        }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (content, sizes, quote) => {
          const whole = convert(content, [content.length + 1], quote, true);
          expect(convert(content, sizes, quote, true)).toBe(whole);
          const lf = content.replace(/\r\n/g, "\n");
          // Only LF ends a line (a bare CR does not), so no /m flag here.
          const want = quote ? lf.replace(/(^|\n)(?=From )/g, "$1>") : lf;
          expect(whole).toBe(`${want}${want === "" || want.endsWith("\n") ? "" : "\n"}\n`);
        },
      ),
      { numRuns: 500 },
    );
  });
});

test("parseAliasValue", () => {
  expect(
    parseAliasValue(
      'bob, "|/usr/bin/prog -x, y", /var/log/mail, :include:/etc/list, \\root, <a@b.test>',
    ),
  ).toEqual([
    { kind: "address", address: "bob", noAlias: false },
    { kind: "command", command: "/usr/bin/prog -x, y" },
    { kind: "file", path: "/var/log/mail" },
    { kind: "include", path: "/etc/list" },
    { kind: "address", address: "root", noAlias: true },
    { kind: "address", address: "a@b.test", noAlias: false },
  ]);
});

test("deliveredToSet reads folded headers and stops at the body", async () => {
  const msg =
    "Received: x\r\nDelivered-To: A@B.test\r\nDelivered-To:\r\n  c@d.test\r\n\r\nDelivered-To: body@x\r\n";
  const bytes = enc.encode(msg);
  const found = await deliveredToSet(function* () {
    for (let i = 0; i < bytes.length; i += 3) yield bytes.subarray(i, i + 3);
  });
  expect([...found]).toEqual(["a@b.test", "c@d.test"]);
});

test("asctime pads the day with a space", () => {
  expect(asctime(new Date(2024, 0, 5, 9, 8, 7).getTime())).toBe("Fri Jan  5 09:08:07 2024");
  expect(asctime(new Date(2024, 10, 28, 23, 59, 0).getTime())).toBe("Thu Nov 28 23:59:00 2024");
});
