import { describe, expect, test } from "bun:test";
import { PARAMS } from "../../src/config/params.ts";
import {
  checkValue,
  parseBool,
  parseInteger,
  parseSize,
  parseTime,
  splitList,
  splitNameValue,
  stripBraces,
} from "../../src/config/values.ts";

describe("typed values", () => {
  test.each([
    ["yes", true],
    ["NO", false],
    ["Yes", true],
    ["true", undefined],
    ["", undefined],
  ] as const)("bool %p", (text, want) => expect(parseBool(text)).toBe(want));

  test.each([
    ["0", 0],
    ["42", 42],
    ["-3", -3],
    ["+7", 7],
    ["4x", undefined],
    ["", undefined],
    ["99999999999999999999", undefined],
  ] as const)("int %p", (text, want) => expect(parseInteger(text)).toBe(want));

  test.each([
    ["300s", "s", 300],
    ["5m", "s", 300],
    ["2h", "s", 7200],
    ["5d", "d", 432000],
    ["1w", "s", 604800],
    ["300", "s", 300],
    ["5", "d", 432000],
    ["0h", "h", 0],
    ["5x", "s", undefined],
    ["5M", "s", undefined],
    ["1.5h", "s", undefined],
    ["", "s", undefined],
  ] as const)("time %p unit %p", (text, unit, want) => expect(parseTime(text, unit)).toBe(want));

  test.each([
    ["10240000", 10240000],
    ["10k", 10240],
    ["10K", 10240],
    ["2m", 2097152],
    ["1g", 1073741824],
    ["1t", undefined],
    ["-1", undefined],
  ] as const)("size %p", (text, want) => expect(parseSize(text)).toBe(want));
});

describe("checkValue", () => {
  test.each([
    ["smtpd_timeout", "5x", 'bad time value "5x" for smtpd_timeout'],
    ["smtpd_timeout", "5m", null],
    [
      "smtpd_helo_required",
      "maybe",
      'bad bool value "maybe" for smtpd_helo_required (use yes or no)',
    ],
    ["smtpd_recipient_limit", "lots", 'bad int value "lots" for smtpd_recipient_limit'],
    ["message_size_limit", "10q", 'bad size value "10q" for message_size_limit'],
    ["message_size_limit", "10m", null],
    ["log_format", "xml", 'bad value "xml" for log_format (choose from: postfix, json)'],
    ["log_format", "json", null],
    ["alias_maps", "/etc/aliases", 'bad table "/etc/aliases" for alias_maps: need type:name'],
    ["alias_maps", "texthash:/etc/aliases inline:{a=b}", null],
    ["alias_maps", "inline:{a=b", 'missing "}" in value of alias_maps'],
    ["mynetworks", "1.2.3.4}", 'unbalanced "}" in value of mynetworks'],
  ] as const)("%s = %s", (name, value, want) => {
    expect(checkValue(name, PARAMS[name], value)).toBe(want);
  });
});

describe("lists", () => {
  test.each([
    ["a, b c,,d", ["a", "b", "c", "d"]],
    ["  \t", []],
    [
      "check_client_access inline:{ 1.2.3.4=REJECT, { a = b c } }, permit",
      ["check_client_access", "inline:{ 1.2.3.4=REJECT, { a = b c } }", "permit"],
    ],
    ["{ text with spaces }, x", ["text with spaces", "x"]],
    ["a\nb", ["a", "b"]],
  ] as const)("splitList %p", (text, want) => expect(splitList(text)).toEqual([...want]));

  test("stripBraces", () => {
    expect(stripBraces(" { a b } ")).toBe("a b");
    expect(stripBraces("{a}{b}")).toBe("{a}{b}");
    expect(stripBraces("plain")).toBe("plain");
  });

  test.each([
    ["a=b", { name: "a", value: "b" }],
    ["  a  =  b c  ", { name: "a", value: "b c" }],
    ["a =", { name: "a", value: "" }],
    ["= b", { error: "missing attribute name" }],
    ["a b = c", { error: "missing '=' after attribute name" }],
    ["a", { error: "missing '=' after attribute name" }],
  ] as const)("splitNameValue %p", (text, want) => expect(splitNameValue(text)).toEqual(want));
});
