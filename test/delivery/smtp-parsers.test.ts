/**
 * The smtp client's pure parts, table-driven and fuzzed: dot-stuffing, reply parsing, EHLO
 * keywords, next-hop syntax, xtext.
 */

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { xtext } from "../../src/delivery/smtp/commands.ts";
import { DotStuffer } from "../../src/delivery/smtp/dot-stuff.ts";
import { parseEhlo } from "../../src/delivery/smtp/ehlo.ts";
import { parseNexthop } from "../../src/delivery/smtp/nexthop.ts";
import { ReplyParser, replyDsn, replyText } from "../../src/delivery/smtp/reply.ts";

const enc = new TextEncoder();
const dec = new TextDecoder("latin1");

function stuff(content: string, chunkSizes: number[] = [content.length || 1], limit = 0): string {
  const s = new DotStuffer(limit);
  const bytes = enc.encode(content);
  let out = "";
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const n = Math.max(1, chunkSizes[i % chunkSizes.length]);
    out += dec.decode(s.encode(bytes.subarray(pos, pos + n)));
    pos += n;
  }
  return out + dec.decode(s.finish());
}

describe("DotStuffer", () => {
  const cases: Array<[string, string]> = [
    ["", ".\r\n"],
    ["a\r\n", "a\r\n.\r\n"],
    ["a", "a\r\n.\r\n"],
    [".", "..\r\n.\r\n"],
    [".\r\n", "..\r\n.\r\n"],
    ["x\r\n.\r\ny\r\n", "x\r\n..\r\ny\r\n.\r\n"],
    ["a\nb\n", "a\r\nb\r\n.\r\n"],
    ["a\rb\r", "a\r\nb\r\n.\r\n"],
    ["a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"],
    ["\n.\n", "\r\n..\r\n.\r\n"],
    ["..x\r\n", "...x\r\n.\r\n"],
    ["a.b\r\n", "a.b\r\n.\r\n"],
  ];
  for (const [input, want] of cases)
    test(`${JSON.stringify(input)} -> ${JSON.stringify(want)}`, () => {
      expect(stuff(input)).toBe(want);
      expect(stuff(input, [1])).toBe(want);
      expect(stuff(input, [2, 1])).toBe(want);
    });

  test("returns the chunk itself when nothing changes", () => {
    const chunk = enc.encode("Subject: x\r\n\r\nbody\r\n");
    expect(new DotStuffer().encode(chunk)).toBe(chunk);
  });

  test("folds long lines with CRLF SPACE at the limit", () => {
    const line = "x".repeat(100);
    expect(stuff(`${line}\r\n`, [7], 40)).toBe(
      `${"x".repeat(40)}\r\n ${"x".repeat(39)}\r\n ${"x".repeat(21)}\r\n.\r\n`,
    );
  });

  test("fuzz: chunking never matters, no bare CR/LF, the only end of data is the last", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom("a", ".", "\r", "\n", " ", "é"), maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }),
        (content, sizes) => {
          const whole = stuff(content);
          expect(stuff(content, sizes)).toBe(whole);
          // Every CR is followed by LF and every LF preceded by CR.
          expect(/\r(?!\n)|(?<!\r)\n/.test(whole)).toBe(false);
          expect(whole.endsWith("\r\n.\r\n") || whole === ".\r\n").toBe(true);
          expect(whole.indexOf("\r\n.\r\n")).toBe(whole === ".\r\n" ? -1 : whole.length - 5);
          // Unstuffing gives back the content with line ends normalised.
          const body = whole.slice(0, whole.length - 3);
          const unstuffed = body.replace(/(^|\r\n)\./g, "$1");
          let norm = content.replace(/\r\n|\r|\n/g, "\r\n");
          if (norm !== "" && !norm.endsWith("\r\n")) norm += "\r\n";
          expect(unstuffed).toBe(dec.decode(enc.encode(norm)));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("ReplyParser", () => {
  test("single and multi-line replies, split anywhere", () => {
    const wire = "220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250 SIZE 1000\r\n550 5.1.1 no\n";
    for (let step = 1; step <= wire.length; step++) {
      const p = new ReplyParser();
      const got = [];
      for (let i = 0; i < wire.length; i += step)
        got.push(...p.feed(enc.encode(wire.slice(i, i + step))));
      expect(got.map((r) => r.code)).toEqual([220, 250, 550]);
      expect(got[1].lines).toEqual(["250-mx", "250-PIPELINING", "250 SIZE 1000"]);
    }
  });

  test("enhanced codes from the text, else derived from the class", () => {
    const r = (code: number, ...lines: string[]) => ({ code, lines });
    expect(replyDsn(r(550, "550 5.1.1 no such user"))).toBe("5.1.1");
    expect(replyDsn(r(550, "550 no such user"))).toBe("5.0.0");
    expect(replyDsn(r(450, "450 5.7.1 mismatched class"))).toBe("4.7.1");
    expect(replyDsn(r(250, "250 2.0.0 ok"))).toBe("2.0.0");
    expect(replyDsn(r(421, "421"))).toBe("4.0.0");
    expect(replyText(r(550, "550-5.7.1 a", "550 5.7.1 b"))).toBe("550-5.7.1 a 550 5.7.1 b");
  });

  test("garbage is a reply with code 0; an endless line is an error", () => {
    const p = new ReplyParser();
    expect(p.feed(enc.encode("hello there\r\n"))).toEqual([{ code: 0, lines: ["hello there"] }]);
    expect(() => new ReplyParser().feed(new Uint8Array(70_000).fill(65))).toThrow();
  });
});

test("parseEhlo", () => {
  const f = parseEhlo({
    code: 250,
    lines: [
      "250-mx hello",
      "250-PIPELINING",
      "250-SIZE 52428800",
      "250-8BITMIME",
      "250-STARTTLS",
      "250-DSN",
      "250 SMTPUTF8",
    ],
  });
  expect(f).toEqual({
    esmtp: true,
    pipelining: true,
    size: 52428800,
    eightBitMime: true,
    smtputf8: true,
    dsn: true,
    starttls: true,
    chunking: false,
  });
  expect(parseEhlo({ code: 250, lines: ["250-mx", "250 SIZE"] }).size).toBe(0);
});

test("parseNexthop", () => {
  expect(parseNexthop("example.com", false)).toEqual({
    kind: "mx",
    domain: "example.com",
    port: 25,
  });
  expect(parseNexthop("example.com:2525", false)).toEqual({
    kind: "mx",
    domain: "example.com",
    port: 2525,
  });
  expect(parseNexthop("example.com:submission", false)).toEqual({
    kind: "mx",
    domain: "example.com",
    port: 587,
  });
  expect(parseNexthop("[mx.example.com]", false)).toEqual({
    kind: "host",
    host: "mx.example.com",
    port: 25,
  });
  expect(parseNexthop("[10.0.0.1]:26", false)).toEqual({
    kind: "host",
    host: "10.0.0.1",
    port: 26,
  });
  expect(parseNexthop("[ipv6:2001:db8::1]:25", false)).toEqual({
    kind: "host",
    host: "2001:db8::1",
    port: 25,
  });
  expect(parseNexthop("[x]:notaport", false)).toBeNull();
  expect(parseNexthop("inet:127.0.0.1:24", true)).toEqual({
    kind: "host",
    host: "127.0.0.1",
    port: 24,
  });
  expect(parseNexthop("inet:lmtp.local", true)).toEqual({
    kind: "host",
    host: "lmtp.local",
    port: 24,
  });
  expect(parseNexthop("unix:/run/lmtp", true)).toEqual({ kind: "unix", path: "/run/lmtp" });
  expect(parseNexthop("/run/lmtp", true)).toEqual({ kind: "unix", path: "/run/lmtp" });
});

test("xtext (RFC 3461 section 4) over UTF-8 bytes", () => {
  expect(xtext("plain@example.com")).toBe("plain@example.com");
  expect(xtext("a+b=c d")).toBe("a+2Bb+3Dc+20d");
  expect(xtext("é")).toBe("+C3+A9");
});
