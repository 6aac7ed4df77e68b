// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} is Postfix syntax under test
import { afterAll, describe, expect, test } from "bun:test";
import { buildConfig } from "../../src/config/config.ts";
import { ExpandSyntaxError, expandText, references } from "../../src/config/expand.ts";
import { isolated, removeTempDirs, tempDir } from "./fixture.ts";

afterAll(removeTempDirs);

const vars: Record<string, string> = { a: "A", empty: "", b: "B" };
const lookup = (n: string) => vars[n];

describe("expandText", () => {
  test.each([
    ["plain text", "plain text"],
    ["$a", "A"],
    ["x${a}y", "xAy"],
    ["x$(a)y", "xAy"],
    ["$a.$b", "A.B"],
    ["$$a", "$a"],
    ["cost $5", "cost "], // "5" is a name, as in Postfix
    ["lone $ sign", "lone $ sign"],
    ["${a?yes}", "yes"],
    ["${empty?yes}", ""],
    ["${missing?yes}", ""],
    ["${a:no}", "A"],
    ["${empty:no}", "no"],
    ["${missing:no}", "no"],
    ["${a?{has $b}:{none}}", "has B"],
    ["${empty?{has $b}:{none}}", "none"],
    ["${a?${b?nested-$b}}", "nested-B"],
    ["${empty:${missing:${a}}}", "A"],
    ["${a? $b }", " B "],
    ["${a?{ braced }}", " braced "],
  ])("%p", (text, want) => expect(expandText(text, lookup)).toBe(want));

  test("undefined names expand to nothing and are reported", () => {
    const seen: string[] = [];
    expect(expandText("[$nope][${a}][${gone?x}]", lookup, (n) => seen.push(n))).toBe("[][A][]");
    expect(seen).toEqual(["nope"]);
  });

  test.each(["${a", "${a b}", "${?x}", "$(a"])("syntax error %p", (text) => {
    expect(() => expandText(text, lookup)).toThrow(ExpandSyntaxError);
  });

  test("references", () => {
    expect(references("$a ${b?$c} ${d:${e}} $$f")).toEqual([
      { name: "a", conditional: false },
      { name: "b", conditional: true },
      { name: "c", conditional: false },
      { name: "d", conditional: true },
      { name: "e", conditional: false },
    ]);
  });
});

describe("expansion in a loaded main.cf", () => {
  test("defaults, explicit values and nesting", () => {
    const dir = tempDir({
      "main.cf": [
        "myhostname = mx.example.org",
        "my_suffix = relay",
        "smtpd_banner = $myhostname ESMTP ${my_suffix?($my_suffix)}",
        "myorigin = ${mydomain:unset}",
        "",
      ].join("\n"),
    });
    const { config, diagnostics } = buildConfig({ ...isolated, configDir: dir });
    expect(diagnostics).toEqual([]);
    expect(config.str("smtpd_banner")).toBe("mx.example.org ESMTP (relay)");
    expect(config.str("mydomain")).toBe("example.org");
    expect(config.str("myorigin")).toBe("example.org");
    expect(config.list("mydestination")).toEqual([
      "mx.example.org",
      "localhost.example.org",
      "localhost",
    ]);
    expect(config.any("my_suffix")).toBe("relay");
    expect(config.any("not_a_param")).toBeUndefined();
    expect(config.expand("$mail_name at $myhostname")).toBe("posteix at mx.example.org");
    // Template parameters are left for their user.
    expect(config.str("default_rbl_reply")).toStartWith("$rbl_code Service unavailable");
  });

  test("a loop is an error naming the chain, at the line where it starts", () => {
    const dir = tempDir({
      "main.cf": "myhostname = $mydomain\nmydomain = x.$myhostname\n",
    });
    const { diagnostics } = buildConfig({ ...isolated, configDir: dir });
    expect(diagnostics).toContainEqual({
      severity: "error",
      file: `${dir}/main.cf`,
      line: 1,
      message: "parameter expansion loop: myhostname -> mydomain -> myhostname",
    });
  });

  test("a three-step loop through user parameters", () => {
    const dir = tempDir({
      "main.cf": "relayhost = $a\na = $b\nb = ${c?$c}\nc = $a\n",
    });
    const { config, diagnostics } = buildConfig({ ...isolated, configDir: dir });
    const loops = diagnostics.filter((d) => d.message.startsWith("parameter expansion loop"));
    expect(loops.map((d) => `${d.line}: ${d.message}`)).toContain(
      "2: parameter expansion loop: a -> b -> c -> a",
    );
    expect(() => config.str("relayhost")).toThrow("parameter expansion loop: a -> b -> c -> a");
  });

  test("an undefined $name expands to empty with a warning", () => {
    const dir = tempDir({ "main.cf": "relayhost = [$my_relay]:25\nmyorigin = ${nothing:x}\n" });
    const { config, diagnostics } = buildConfig({ ...isolated, configDir: dir });
    expect(diagnostics).toEqual([
      {
        severity: "warning",
        file: `${dir}/main.cf`,
        line: 1,
        message: "undefined parameter: my_relay (referenced by relayhost)",
      },
    ]);
    expect(config.str("relayhost")).toBe("[]:25");
    expect(config.str("myorigin")).toBe("x");
  });

  test("bad macro syntax is an error at its line", () => {
    const dir = tempDir({ "main.cf": "# c\nmyorigin = ${myhostname\n" });
    const { diagnostics } = buildConfig({ ...isolated, configDir: dir });
    expect(diagnostics).toEqual([
      {
        severity: "error",
        file: `${dir}/main.cf`,
        line: 2,
        message: 'myorigin: missing "}" in "${myhostname"',
      },
    ]);
  });
});
