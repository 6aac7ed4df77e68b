import { expect, test } from "bun:test";
import { amount, mailDate, printable, wrapLine } from "../../src/bounce/text.ts";

test("mailDate is RFC 5322 and round-trips", () => {
  for (const t of [0, Date.UTC(2024, 1, 29, 23, 59, 59), Date.UTC(2031, 11, 1, 0, 0, 0)]) {
    const s = mailDate(t);
    expect(s).toMatch(
      /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/,
    );
    expect(Date.parse(s)).toBe(t);
  }
});

test("wrapLine breaks at spaces with a 4-space indent, like Postfix", () => {
  expect(wrapLine("short")).toEqual(["short"]);
  const words = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
  const lines = wrapLine(words);
  for (const l of lines) expect(l.length).toBeLessThanOrEqual(79);
  for (const l of lines.slice(1)) expect(l).toStartWith("    ");
  expect(lines.map((l) => l.trim()).join(" ")).toBe(words);
  // A word longer than a line stays whole up to the hard limit, then is cut.
  expect(wrapLine(`a ${"x".repeat(100)} b`)).toEqual(["a", `    ${"x".repeat(100)}`, "    b"]);
  const huge = wrapLine("y".repeat(2000));
  expect(huge.join("").replace(/ /g, "")).toBe("y".repeat(2000));
  for (const l of huge) expect(l.length).toBeLessThanOrEqual(998);
});

test("printable masks controls always and non-ASCII unless UTF-8", () => {
  expect(printable("a\r\nb\tc\x00d\x7f", false)).toBe("a b c?d?");
  expect(printable("Grüße", false)).toBe("Gr??e");
  expect(printable("Grüße", true)).toBe("Grüße");
});

test("amount", () => {
  expect([amount(4), amount(0.5), amount(1 / 3), amount(120)]).toEqual(["4", "0.5", "0.3", "120"]);
});
