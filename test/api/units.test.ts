/**
 * The API's pure helpers, table-driven: CRLF normalisation across chunk borders, api_listen
 * parsing, older_than, header unfolding and token files.
 */
import { describe, expect, test } from "bun:test";
import { parseTokens } from "../../src/api/auth.ts";
import { olderThanTime } from "../../src/api/filters.ts";
import { parseListen } from "../../src/api/index.ts";
import { CrlfNormalizer } from "../../src/api/inject.ts";
import { parseHeaderSection } from "../../src/api/serialize.ts";

function normalize(chunks: string[]): string {
  const n = new CrlfNormalizer();
  const out: Uint8Array[] = [];
  for (const c of chunks) out.push(...n.push(Buffer.from(c, "latin1")));
  out.push(...n.end());
  return Buffer.concat(out).toString("latin1");
}

describe("CrlfNormalizer", () => {
  const cases: [string[], string][] = [
    [["a\nb\n"], "a\r\nb\r\n"],
    [["a\r\nb\r\n"], "a\r\nb\r\n"],
    [["a\r", "\nb"], "a\r\nb\r\n"],
    [["a", "\n", "\n", "b\n"], "a\r\n\r\nb\r\n"],
    [["\n"], "\r\n"],
    [["no end"], "no end\r\n"],
    [["ends in cr\r"], "ends in cr\r\n"],
    [["x\r\r\ny"], "x\r\r\ny\r\n"],
    [[], ""],
    [["", "a\n", ""], "a\r\n"],
    [["\xff\x00\n\x80"], "\xff\x00\r\n\x80\r\n"],
  ];
  for (const [input, want] of cases) {
    test(JSON.stringify(input), () => {
      expect(normalize(input)).toBe(want);
    });
  }
  test("every split of a mixed text gives the same bytes", () => {
    const text = "H: v\r\nX: y\n\r\nline\n\nlast\r\n";
    const want = "H: v\r\nX: y\r\n\r\nline\r\n\r\nlast\r\n";
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        expect(normalize([text.slice(0, i), text.slice(i, j), text.slice(j)])).toBe(want);
      }
    }
  });
});

describe("parseListen", () => {
  const cases: [string, { hostname: string; port: number } | string][] = [
    ["127.0.0.1:8025", { hostname: "127.0.0.1", port: 8025 }],
    ["[::1]:8025", { hostname: "::1", port: 8025 }],
    ["localhost:0", { hostname: "localhost", port: 0 }],
    ["8025", { hostname: "0.0.0.0", port: 8025 }],
    [":8025", { hostname: "0.0.0.0", port: 8025 }],
    ["host", 'api_listen: expected host:port, got "host"'],
    ["host:http", 'api_listen: bad port in "host:http"'],
    ["host:70000", 'api_listen: bad port in "host:70000"'],
  ];
  for (const [input, want] of cases) {
    test(input, () => {
      if (typeof want === "string") expect(() => parseListen(input)).toThrow(want);
      else expect(parseListen(input)).toEqual(want);
    });
  }
});

describe("older_than", () => {
  const now = Date.UTC(2026, 0, 10, 12, 0, 0);
  const cases: [string | number, number][] = [
    ["3600", now - 3_600_000],
    [3600, now - 3_600_000],
    ["90s", now - 90_000],
    ["90m", now - 5_400_000],
    ["2h", now - 7_200_000],
    ["3d", now - 3 * 86_400_000],
    ["1w", now - 7 * 86_400_000],
    ["2026-01-01", Date.UTC(2026, 0, 1)],
    ["2026-01-01T10:00:00Z", Date.UTC(2026, 0, 1, 10)],
    ["2026-01-01T10:00:00+02:00", Date.UTC(2026, 0, 1, 8)],
  ];
  for (const [input, want] of cases) {
    test(String(input), () => expect(olderThanTime(input, now)).toBe(want));
  }
});

test("header sections are unfolded and decoded as UTF-8", () => {
  const raw = Buffer.from(
    "Received: from a\r\n\tby b; date\r\nSubject: =?utf-8?q?x?=\r\n continued\r\nX-Ü: grüße\r\nbroken line\r\n",
    "utf8",
  );
  expect(parseHeaderSection(raw)).toEqual([
    { name: "Received", value: "from a by b; date" },
    { name: "Subject", value: "=?utf-8?q?x?= continued" },
    { name: "X-Ü", value: "grüße" },
  ]);
});

test("token files: one token per line, comments and blank lines skipped", () => {
  expect(parseTokens("# c\n\n abc \r\ndef\n#x\n")).toEqual(["abc", "def"]);
});
