import { expect, test } from "bun:test";
import { HeaderEndScanner } from "../../src/queue/header-scan.ts";

const enc = new TextEncoder();

// [message, header length (-1: no empty line)]
const CASES: [string, number][] = [
  ["A: b\r\n\r\nbody\r\n", 6],
  ["A: b\r\nC: d\r\n\r\n", 12],
  ["\r\nbody only\r\n", 0],
  ["\nbody\n", 0],
  ["A: b\n\nbody", 5],
  ["A: b\r\n folded\r\n\r\nx", 15],
  ["A: b\r\nC: d\r\n", -1],
  ["A: b\r\nC: d", -1],
  ["", -1],
  ["A: \r\r\n\r\n", 6],
  ["A: b\r\n\rX\r\n\r\n", 10],
];

test.each(CASES)("header end of %j in one piece", (text, want) => {
  const s = new HeaderEndScanner();
  expect(s.feed(enc.encode(text))).toBe(want);
});

test.each(CASES)("header end of %j split at every point and byte by byte", (text, want) => {
  const bytes = enc.encode(text);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const s = new HeaderEndScanner();
    let got = s.feed(bytes.subarray(0, cut));
    if (got < 0) got = s.feed(bytes.subarray(cut));
    expect(got).toBe(want);
  }
  const s = new HeaderEndScanner();
  let got = -1;
  for (let i = 0; i < bytes.length && got < 0; i++) got = s.feed(bytes.subarray(i, i + 1));
  expect(got).toBe(want);
});

test("the answer stays once found", () => {
  const s = new HeaderEndScanner();
  expect(s.feed(enc.encode("A: b\r\n\r\n"))).toBe(6);
  expect(s.feed(enc.encode("\r\n\r\n"))).toBe(6);
});
