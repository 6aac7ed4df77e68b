import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { buildConfig } from "../../src/config/config.ts";
import {
  ConfigError,
  checkConfig,
  DEFAULT_MASTER_CF,
  defaultMainCf,
  loadConfig,
} from "../../src/config/index.ts";
import { parseMainCf } from "../../src/config/main-cf.ts";
import { isolated, removeTempDirs, tempDir } from "./fixture.ts";

afterAll(removeTempDirs);

describe("main.cf syntax", () => {
  test("continuations, comments, blank lines, later settings win", () => {
    const text = [
      "# comment",
      "mydestination = a.example,",
      "   b.example",
      "# a comment inside a continued setting",
      "",
      "\tc.example",
      "smtpd_banner = hello # not a comment",
      "   ",
      "relayhost = one",
      "relayhost=two",
      "empty =",
    ].join("\n");
    const p = parseMainCf(text, "/x/main.cf");
    expect(p.settings.map((s) => [s.name, s.value, s.line])).toEqual([
      ["mydestination", "a.example, b.example c.example", 2],
      ["smtpd_banner", "hello # not a comment", 7],
      ["relayhost", "two", 10],
      ["empty", "", 11],
    ]);
    expect(p.diagnostics).toEqual([
      {
        severity: "warning",
        file: "/x/main.cf",
        line: 10,
        message: "overriding earlier entry: relayhost=one",
      },
    ]);
  });

  test.each([
    ["just words", "missing '=' after attribute name: \"just words\""],
    ["= value", 'missing attribute name: "= value"'],
  ])("syntax error %p", (line, message) => {
    const p = parseMainCf(`# first\n${line}\n`, "/x/main.cf");
    expect(p.diagnostics).toEqual([{ severity: "error", file: "/x/main.cf", line: 2, message }]);
  });

  test("a first line with leading white space is an error", () => {
    const p = parseMainCf("  myorigin = x\n", "/x/main.cf");
    expect(p.diagnostics[0]!.message).toBe(
      'logical line must not start with white space: "myorigin = x"',
    );
  });

  test("CRLF line ends", () => {
    const p = parseMainCf("relayhost = a\r\n  b\r\n", "/x/main.cf");
    expect(p.settings[0]!.value).toBe("a b");
  });
});

describe("bad values name file, line and reason", () => {
  test.each([
    ["smtpd_timeout = 5x", 'bad time value "5x" for smtpd_timeout'],
    [
      "smtpd_helo_required = sometimes",
      'bad bool value "sometimes" for smtpd_helo_required (use yes or no)',
    ],
    ["smtpd_recipient_limit = 1e3", 'bad int value "1e3" for smtpd_recipient_limit'],
    ["message_size_limit = 10 MB", 'bad size value "10 MB" for message_size_limit'],
    ["inet_protocols = ipv5", 'bad value "ipv5" for inet_protocols (choose from: all, ipv4, ipv6)'],
    ["alias_maps = /etc/aliases", 'bad table "/etc/aliases" for alias_maps: need type:name'],
    ["alias_maps = nosuch:/etc/aliases", "alias_maps: unsupported dictionary type: nosuch"],
    ["mynetworks = 10.0.0.0/33", 'mynetworks: bad net/mask pattern: "10.0.0.0/33"'],
    [
      "mynetworks = 10.0.0.1/8",
      'mynetworks: non-null host address bits in "10.0.0.1/8", perhaps you should use "10.0.0.0/8" instead',
    ],
    ["mydestination = bad_domain!", 'mydestination: bad domain pattern: "bad_domain!"'],
    [
      "canonical_maps = inline:{a}",
      "canonical_maps: inline:{a}: missing '=' after attribute name: \"a\"",
    ],
    ["my_timeout = 5x\nsmtpd_timeout = $my_timeout", 'bad time value "5x" for smtpd_timeout'],
  ])("%p", (text, message) => {
    const dir = tempDir({ "main.cf": `# leading comment\n${text}\n` });
    const diagnostics = checkConfig({ ...isolated, configDir: dir });
    const errors = diagnostics.filter((d) => d.severity === "error");
    const line = text.includes("\n") ? 3 : 2;
    expect(errors).toEqual([{ severity: "error", file: join(dir, "main.cf"), line, message }]);
    expect(() => loadConfig({ ...isolated, configDir: dir })).toThrow(
      `${join(dir, "main.cf")}, line ${line}: ${message}`,
    );
  });

  test("ConfigError carries the diagnostics", () => {
    const dir = tempDir({ "main.cf": "smtpd_timeout = 5x\nfoo = bar\n" });
    try {
      loadConfig({ ...isolated, configDir: dir });
      throw new Error("no error");
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).diagnostics.map((d) => d.severity)).toEqual(["error", "warning"]);
    }
  });

  test("typed accessors", () => {
    const dir = tempDir({
      "main.cf":
        "smtpd_timeout = 5m\nmaximal_queue_lifetime = 2\nmessage_size_limit = 20m\nsmtpd_helo_required = YES\n",
    });
    const c = loadConfig({ ...isolated, configDir: dir });
    expect(c.time("smtpd_timeout")).toBe(300);
    expect(c.time("maximal_queue_lifetime")).toBe(2 * 86400); // bare number in days
    expect(c.time("delay_warning_time")).toBe(0);
    expect(c.size("message_size_limit")).toBe(20 * 1024 * 1024);
    expect(c.bool("smtpd_helo_required")).toBe(true);
    expect(c.int("smtpd_recipient_limit")).toBe(1000);
    expect(c.explicit("smtpd_timeout")).toBe("5m");
    expect(c.explicit("smtpd_recipient_limit")).toBeUndefined();
    expect(c.explicitNames()).toEqual([
      "smtpd_timeout",
      "maximal_queue_lifetime",
      "message_size_limit",
      "smtpd_helo_required",
    ]);
  });
});

describe("unused parameters", () => {
  test("warn unless referenced, a restriction class, or a per-transport name", () => {
    const dir = tempDir({
      "main.cf": [
        "typo_paramter = 1",
        "my_relay = [smtp.example.net]",
        "relayhost = $my_relay",
        "smtpd_restriction_classes = strict",
        "strict = reject",
        "mua_client = permit_sasl_authenticated, reject",
        "relay_destination_concurrency_limit = 5",
        "relay_connect_timeout = 10s",
        "relay_bogus = 1",
        "nosuch_destination_concurrency_limit = 3",
        "cond_ref = x",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: main.cf syntax
        "myorigin = ${cond_ref?$myhostname}",
        "",
      ].join("\n"),
      "master.cf": [
        "smtp inet n - n - - smtpd",
        "  -o smtpd_client_restrictions=$mua_client",
        "  -o smtpd_bogus=yes",
        "relay unix - - n - - smtp",
        "",
      ].join("\n"),
    });
    const { config, diagnostics } = buildConfig({ ...isolated, configDir: dir });
    expect(diagnostics).toEqual([
      {
        severity: "warning",
        file: join(dir, "main.cf"),
        line: 1,
        message: "unused parameter: typo_paramter=1",
      },
      {
        severity: "warning",
        file: join(dir, "main.cf"),
        line: 9,
        message: "unused parameter: relay_bogus=1",
      },
      {
        severity: "warning",
        file: join(dir, "main.cf"),
        line: 10,
        message: "unused parameter: nosuch_destination_concurrency_limit=3",
      },
      {
        severity: "warning",
        file: join(dir, "master.cf"),
        line: 1,
        message: "unused parameter: smtpd_bogus=yes",
      },
    ]);
    expect(config.transport("relay", "destination_concurrency_limit")).toBe("5");
    expect(config.transport("relay", "connect_timeout")).toBe("10s");
    expect(config.transport("smtp", "connect_timeout")).toBe("30s");
  });

  test("per-transport values are type-checked", () => {
    const dir = tempDir({ "main.cf": "relay_destination_rate_delay = soon\n" });
    expect(checkConfig({ ...isolated, configDir: dir })).toEqual([
      {
        severity: "error",
        file: join(dir, "main.cf"),
        line: 1,
        message: 'bad time value "soon" for relay_destination_rate_delay',
      },
    ]);
  });
});

describe("transport()", () => {
  const c = loadConfig({ ...isolated, configDir: tempDir() });
  test.each([
    ["smtp", "destination_concurrency_limit", "20"],
    ["local", "destination_concurrency_limit", "2"],
    ["local", "destination_recipient_limit", "1"],
    ["virtual", "destination_recipient_limit", "1"],
    ["relay", "destination_recipient_limit", "50"],
    ["relay", "initial_destination_concurrency", "5"],
    ["relay", "destination_rate_delay", "0s"],
    ["relay", "destination_concurrency_failed_cohort_limit", "1"],
    ["relay", "time_limit", "1000s"],
    ["relay", "helo_timeout", "300s"],
    ["lmtp", "connect_timeout", "0s"],
    ["relay", "no_such_thing", ""],
  ])("%s %s", (transport, suffix, want) => {
    expect(c.transport(transport, suffix)).toBe(want);
  });
});

describe("computed defaults and paths", () => {
  test("myhostname, mydomain, config_directory", () => {
    const dir = tempDir();
    const c = loadConfig({ ...isolated, configDir: dir });
    expect(c.str("myhostname")).toBe("mail.example.com");
    expect(c.str("mydomain")).toBe("example.com");
    expect(c.str("config_directory")).toBe(dir);
    const short = loadConfig({ env: {}, hostname: "box", configDir: dir });
    expect(short.str("mydomain")).toBe("localdomain");
  });

  test("relative paths resolve against the config dir, else the cwd", () => {
    const dir = tempDir({ "main.cf": "queue_directory = spool\n" });
    const c = loadConfig({ ...isolated, configDir: dir });
    expect(c.path("queue_directory")).toBe(join(dir, "spool"));
    expect(c.path("pid_file")).toBe(join(dir, "spool/posteix.pid"));
    const none = loadConfig({ ...isolated, configDir: null, cwd: "/srv/x" });
    expect(none.configDir).toBeNull();
    expect(none.path("queue_directory")).toBe("/srv/x/data");
    const abs = loadConfig({
      ...isolated,
      configDir: tempDir({ "main.cf": "queue_directory = /var/q\n" }),
    });
    expect(abs.path("data_directory")).toBe("/var/q");
  });
});

describe("finding the configuration", () => {
  test("opts, then POSTEIX_CONFIG_DIR; a dir without main.cf/master.cf uses defaults", () => {
    const dir = tempDir();
    const c = loadConfig({ env: { POSTEIX_CONFIG_DIR: dir }, hostname: "h.example" });
    expect(c.configDir).toBe(dir);
    expect(c.mainCfPath).toBeNull();
    expect(c.masterCfPath).toBeNull();
    expect(c.services.map((s) => s.name)).toEqual([
      "127.0.0.1:2525",
      "127.0.0.1:2587",
      "127.0.0.1:2465",
      "smtp",
      "relay",
      "lmtp",
      "local",
      "virtual",
      "discard",
      "error",
      "retry",
    ]);
    const other = tempDir({ "main.cf": "myorigin = other.example\n" });
    const o = loadConfig({ configDir: other, env: { POSTEIX_CONFIG_DIR: dir } });
    expect(o.configDir).toBe(other);
    expect(o.mainCfPath).toBe(join(other, "main.cf"));
    expect(o.str("myorigin")).toBe("other.example");
  });

  test("a missing directory is an error", () => {
    const dir = join(tempDir(), "nope");
    expect(() => loadConfig({ ...isolated, configDir: dir })).toThrow(
      `${dir}: configuration directory does not exist`,
    );
  });

  test("posteix init texts load cleanly", () => {
    const dir = tempDir();
    const qdir = join(dir, "queue");
    mkdirSync(qdir);
    const files = tempDir({ "main.cf": defaultMainCf(qdir), "master.cf": DEFAULT_MASTER_CF });
    const { config, diagnostics } = buildConfig({ ...isolated, configDir: files });
    expect(diagnostics).toEqual([]);
    expect(config.path("queue_directory")).toBe(qdir);
    expect(config.explicitNames()).toEqual(["queue_directory"]);
    expect(config.masterCfPath).toBe(join(files, "master.cf"));
    expect(config.services.length).toBe(11);
  });
});

describe("withOverrides", () => {
  test("derived configs see -o values, cached per service", () => {
    const dir = tempDir({
      "main.cf": "my_banner = hi\nsmtpd_banner = $my_banner from $syslog_name\n",
    });
    const c = loadConfig({ ...isolated, configDir: dir });
    const sub = c.services.find((s) => s.name === "127.0.0.1:2587")!;
    const d = c.withOverrides(sub.overrides);
    expect(d).toBe(c.withOverrides({ ...sub.overrides }));
    expect(d.str("smtpd_tls_security_level")).toBe("encrypt");
    expect(d.bool("smtpd_sasl_auth_enable")).toBe(true);
    expect(d.list("smtpd_relay_restrictions")).toEqual(["permit_sasl_authenticated", "reject"]);
    expect(d.str("smtpd_banner")).toBe("hi from posteix/submission");
    expect(c.str("smtpd_banner")).toBe("hi from posteix");
    expect(d.explicit("syslog_name")).toBe("posteix/submission");
    expect(d.explicitNames()).toEqual([
      "my_banner",
      "smtpd_banner",
      "syslog_name",
      "smtpd_tls_security_level",
      "smtpd_sasl_auth_enable",
      "smtpd_relay_restrictions",
    ]);
    expect(c.withOverrides({})).toBe(c);
  });

  test("bad -o values are errors at the master.cf line", () => {
    const dir = tempDir({
      "master.cf": "# x\n2525 inet n - n - - smtpd\n  -o smtpd_timeout=forever\n",
    });
    expect(checkConfig({ ...isolated, configDir: dir })).toEqual([
      {
        severity: "error",
        file: join(dir, "master.cf"),
        line: 2,
        message: 'bad time value "forever" for smtpd_timeout',
      },
    ]);
  });
});
