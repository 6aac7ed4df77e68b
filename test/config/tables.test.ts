// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} is Postfix syntax under test
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildConfig } from "../../src/config/config.ts";
import { ConfigError } from "../../src/config/errors.ts";
import {
  isPatternTable,
  openTable,
  registerTableType,
  TableSpecError,
  unregisterTableType,
} from "../../src/config/tables.ts";
import type { ConfigDiagnostic } from "../../src/config/types.ts";
import { isolated, removeTempDirs, tempDir } from "./fixture.ts";

afterAll(removeTempDirs);

/** Opens a table from a file written with `text`; returns it with the warnings it gave. */
function fileTable(type: string, text: string) {
  const dir = tempDir({ table: text });
  const warnings: ConfigDiagnostic[] = [];
  const table = openTable(`${type}:${join(dir, "table")}`, { warn: (d) => warnings.push(d) });
  return { table, warnings, file: join(dir, "table") };
}

function openError(spec: string): string {
  try {
    openTable(spec);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    if (e instanceof TableSpecError) return e.message;
    throw e;
  }
  throw new Error("no error");
}

describe("texthash: and hash:", () => {
  const text = [
    "# access table",
    "Example.COM      REJECT spam source",
    "user@example.org OK",
    "",
    "multi   first part,",
    "   second part",
    "2001:db8::1      DISCARD",
    "example.com      OK",
    "lonely",
  ].join("\n");

  test.each(["texthash", "hash"])("%s", (type) => {
    const { table, warnings, file } = fileTable(type, text);
    expect(table.lookup("example.com")).toBe("REJECT spam source");
    expect(table.lookup("EXAMPLE.com")).toBe("REJECT spam source");
    expect(table.lookup("user@example.org")).toBe("OK");
    expect(table.lookup("multi")).toBe("first part, second part");
    expect(table.lookup("2001:db8::1")).toBe("DISCARD");
    expect(table.lookup("nothing")).toBeUndefined();
    expect(table.spec).toBe(`${type}:${file}`);
    expect(isPatternTable(table)).toBe(false);
    expect(warnings).toEqual([
      { severity: "warning", file, line: 8, message: 'duplicate entry: "example.com"' },
      { severity: "warning", file, line: 9, message: "expected format: key whitespace value" },
    ]);
  });

  test("aliases(5) lines", () => {
    const { table, warnings } = fileTable(
      "texthash",
      [
        "postmaster: root",
        "team:    alice, bob,",
        "         carol@example.com",
        '"john doe": jd',
        "inc: :include:/etc/posteix/list",
        "pipe: |/usr/bin/procmail -a x",
        "file:/var/log/file-without-space",
        "Root: alice@example.com",
        "empty:",
      ].join("\n"),
    );
    expect(table.lookup("postmaster")).toBe("root");
    expect(table.lookup("team")).toBe("alice, bob, carol@example.com");
    expect(table.lookup("john doe")).toBe("jd");
    expect(table.lookup("inc")).toBe(":include:/etc/posteix/list");
    expect(table.lookup("pipe")).toBe("|/usr/bin/procmail -a x");
    expect(table.lookup("root")).toBe("alice@example.com");
    expect(warnings.map((w) => [w.line, w.message])).toEqual([
      [7, "expected format: key whitespace value"],
      [9, "expected format: name: value"],
    ]);
  });

  test("a missing file is an error naming it", () => {
    const path = join(tempDir(), "absent");
    expect(openError(`texthash:${path}`)).toBe(`${path}: cannot open table file: ENOENT`);
  });

  test("relative names resolve against the config dir", () => {
    const dir = tempDir({
      "main.cf": "alias_maps = texthash:aliases\n",
      aliases: "postmaster: admin@example.com\n",
    });
    const { config, diagnostics } = buildConfig({ ...isolated, configDir: dir });
    expect(diagnostics).toEqual([]);
    const [t] = config.tables("alias_maps");
    expect(t!.lookup("postmaster")).toBe("admin@example.com");
    // Opened once per configuration.
    expect(config.tables("alias_maps")[0]).toBe(t!);
    expect(config.tables("local_recipient_maps")[1]).toBe(t!);
  });
});

describe("inline: and static:", () => {
  test("inline", () => {
    const t = openTable("inline:{ Alice=a@x, bob=b@x, { carol = value with spaces, and comma } }");
    expect(t.lookup("alice")).toBe("a@x");
    expect(t.lookup("ALICE")).toBe("a@x");
    expect(t.lookup("carol")).toBe("value with spaces, and comma");
    expect(t.lookup("bob")).toBe("b@x");
    expect(t.lookup("dave")).toBeUndefined();
  });

  test.each([
    ["inline:a=b", "inline:a=b: need inline:{name=value, ...}"],
    ["inline:{a=b, c}", "inline:{a=b, c}: missing '=' after attribute name: \"c\""],
    // Without braces, "b = c" is three elements.
    ["inline:{b = c}", "inline:{b = c}: missing '=' after attribute name: \"b\""],
    ["nosuch:x", "unsupported dictionary type: nosuch"],
    ["noType", 'need dictionary type:name, got "noType"'],
    ["unix:shadow", "unix:shadow: unknown table, use passwd.byname or group.byname"],
  ])("bad spec %p", (spec, message) => expect(openError(spec)).toBe(message));

  test("static", () => {
    expect(openTable("static:OK").lookup("anything")).toBe("OK");
    expect(openTable("static:{ REJECT go away }").lookup("x")).toBe("REJECT go away");
  });

  test("proxy: is transparent", () => {
    expect(openTable("proxy:static:1").lookup("x")).toBe("1");
  });
});

describe("regexp: and pcre:", () => {
  const rules = [
    "# header checks",
    "/^Subject:.*viagra/      REJECT no spam",
    "/^(From|Sender): (.*)@spam\\.example$/ WARN $1 is $2 (${2}) costs $$5",
    "!/@example\\.com$/ DISCARD not ours",
    "/^x-[[:digit:]]+$/   DIGITS",
  ].join("\n");

  test("first match, case-insensitive by default, $n substitution, negation", () => {
    const { table } = fileTable("regexp", rules);
    expect(isPatternTable(table)).toBe(true);
    expect(table.lookup("subject: Cheap VIAGRA")).toBe("REJECT no spam");
    expect(table.lookup("From: bob@spam.example")).toBe("WARN From is bob (bob) costs $5");
    expect(table.lookup("someone@elsewhere.org")).toBe("DISCARD not ours");
    expect(table.lookup("x-123@example.com")).toBeUndefined();
    expect(table.lookup("alice@example.com")).toBeUndefined();
  });

  test("POSIX classes and no-i flag", () => {
    const { table } = fileTable(
      "regexp",
      "/^[[:upper:]]+$/i UPPER\n/^a[]b]c$/ BRACKET\n/^\\<word\\>$/ WORD\n/a.b/m DOT\n",
    );
    expect(table.lookup("ABC")).toBe("UPPER");
    expect(table.lookup("abc")).toBe("BRACKET"); // not UPPER: the i flag turned case on
    expect(table.lookup("a]c")).toBe("BRACKET");
    expect(table.lookup("word")).toBe("WORD");
    expect(table.lookup("a\nb")).toBeUndefined(); // m: "." does not match a newline
  });

  test("x flag: basic regular expressions", () => {
    // In a BRE, \( \) group and + { } are ordinary characters.
    const { table } = fileTable("regexp", "/^\\(a\\)+b{2}$/x BRE $1\n");
    expect(table.lookup("a+b{2}")).toBe("BRE a");
    expect(table.lookup("aabb")).toBeUndefined();
  });

  test("if/endif nest, with negation", () => {
    const { table } = fileTable(
      "regexp",
      [
        "if /@example\\.com$/",
        "  # continuation lines are part of the rule",
        "/^postmaster@/ KEEP",
        "if !/^admin/",
        "/./ OTHER-LOCAL",
        "endif",
        "/^admin/ ADMIN",
        "endif",
        "/./ ELSEWHERE",
      ].join("\n"),
    );
    expect(table.lookup("postmaster@example.com")).toBe("KEEP");
    expect(table.lookup("bob@example.com")).toBe("OTHER-LOCAL");
    expect(table.lookup("admin@example.com")).toBe("ADMIN");
    expect(table.lookup("bob@example.org")).toBe("ELSEWHERE");
  });

  test("pcre: flags and patterns as PCRE", () => {
    const { table } = fileTable(
      "pcre",
      "/^\\d{3}-(?<n>\\w+)$/ NUM $1\n/ a \\s b /x SPACED\n/x/A ANCHORED\n",
    );
    expect(table.lookup("123-abc")).toBe("NUM abc");
    expect(table.lookup("a b")).toBe("SPACED");
    expect(table.lookup("xyz")).toBe("ANCHORED");
  });

  test.each([
    ["/abc REJECT", 2, 'missing closing "/" of pattern: "/abc REJECT"'],
    ["abc REJECT", 2, 'no pattern delimiter, expected "/pattern/flags result": "abc REJECT"'],
    ["/abc/", 2, 'missing result after pattern: "/abc/"'],
    ["/abc/q OK", 2, 'unknown regexp option "q": "/abc/q OK"'],
    ["/(a/ OK", 2, 'bad pattern "(a": '],
    ["/(a)/ $2", 2, 'out of range replacement index "$2": "$2"'],
    ["!/(a)/ $1", 2, '$number found in negative match replacement text: "$1"'],
    ["endif", 2, "endif without matching if"],
    ["if /a/\n/b/ B", 2, "if without matching endif"],
    ["/[[:nope:]]/ X", 2, 'bad pattern "[[:nope:]]": unknown character class [:nope:]'],
  ])("error %p", (rule, line, message) => {
    const dir = tempDir({ t: `# first line\n${rule}\n` });
    const err = openError(`regexp:${join(dir, "t")}`);
    expect(err.startsWith(`${join(dir, "t")}, line ${line}: ${message}`)).toBe(true);
  });
});

describe("cidr:", () => {
  const text = [
    "# clients",
    "192.168.1.0/24     LAN",
    "192.168.0.0/16     SITE",
    "10.1.2.3           HOST",
    "2001:db8::/32      V6NET",
    "[2001:db9::1]      V6HOST",
    "!10.0.0.0/8        NOT-TEN",
  ].join("\n");

  test("first match wins, IPv4 and IPv6, negation", () => {
    const { table } = fileTable("cidr", text);
    expect(isPatternTable(table)).toBe(true);
    expect(table.lookup("192.168.1.7")).toBe("LAN");
    expect(table.lookup("192.168.2.7")).toBe("SITE");
    expect(table.lookup("::ffff:192.168.2.7")).toBe("SITE");
    expect(table.lookup("10.1.2.3")).toBe("HOST");
    expect(table.lookup("2001:DB8:0:1::5")).toBe("V6NET");
    expect(table.lookup("[2001:db9::1]")).toBe("V6HOST");
    expect(table.lookup("10.9.9.9")).toBeUndefined();
    expect(table.lookup("172.16.0.1")).toBe("NOT-TEN");
    expect(table.lookup("not an address")).toBeUndefined();
  });

  test("if/endif", () => {
    const { table } = fileTable("cidr", "if 10.0.0.0/8\n10.1.0.0/16 A\nendif\n0.0.0.0/0 B\n");
    expect(table.lookup("10.1.2.3")).toBe("A");
    expect(table.lookup("10.2.2.3")).toBe("B");
  });

  test.each([
    [
      "10.0.0.1/8 X",
      'non-null host address bits in "10.0.0.1/8", perhaps you should use "10.0.0.0/8" instead',
    ],
    [
      "2001:db8::1/32 X",
      'non-null host address bits in "2001:db8::1/32", perhaps you should use "2001:db8::/32" instead',
    ],
    ["10.0.0.0/40 X", 'bad net/mask pattern: "10.0.0.0/40"'],
    ["10.0.0 X", 'bad net/mask pattern: "10.0.0"'],
    ["10.0.0.0/8", 'missing result after pattern: "10.0.0.0/8"'],
  ])("error %p", (line, message) => {
    const dir = tempDir({ t: `\n${line}\n` });
    expect(openError(`cidr:${join(dir, "t")}`)).toBe(`${join(dir, "t")}, line 2: ${message}`);
  });
});

describe("unix:", () => {
  test("passwd.byname returns the passwd line", () => {
    const t = openTable("unix:passwd.byname");
    const rootLine = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((l) => l.startsWith("root:"));
    expect(t.lookup("root")).toBe(rootLine!);
    expect(t.lookup("no-such-user-here")).toBeUndefined();
  });
});

describe("registerTableType", () => {
  test("other components add types; the context carries the config", () => {
    const seen: string[] = [];
    registerTableType("testupper", (name, ctx, spec) => {
      seen.push(`${name}|${spec}|${ctx.config?.str("myhostname")}`);
      return { spec, lookup: (k) => `${name}:${k.toUpperCase()}` };
    });
    const dir = tempDir({ "main.cf": "canonical_maps = testupper:x\n" });
    const { config, diagnostics } = buildConfig({ ...isolated, configDir: dir });
    expect(diagnostics).toEqual([]);
    expect(config.tables("canonical_maps")[0]!.lookup("abc")).toBe("x:ABC");
    expect(seen).toEqual(["x|testupper:x|mail.example.com"]);
  });

  test("users: is left to the queue until it registers", () => {
    // Another test file in this process may have started a Master, which registers users:.
    const saved = unregisterTableType("users");
    try {
      const { config, diagnostics } = buildConfig({ ...isolated, configDir: tempDir() });
      expect(diagnostics).toEqual([]);
      expect(() => config.tables("virtual_mailbox_maps")).toThrow(
        "(built-in): virtual_mailbox_maps: unsupported dictionary type: users",
      );
    } finally {
      if (saved) registerTableType("users", saved.factory, saved.options);
    }
  });
});
