// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} is Postfix syntax under test
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { checkConfig, loadConfig } from "../../src/config/index.ts";
import {
  DEFAULT_MASTER_CF,
  formatMasterEntry,
  parseInetName,
  parseMasterCf,
} from "../../src/config/master-cf.ts";
import { isolated, removeTempDirs, tempDir } from "./fixture.ts";

afterAll(removeTempDirs);

describe("master.cf services", () => {
  const text = [
    "# service type private unpriv chroot wakeup maxproc command",
    "smtp      inet  n       -       n       -       -       smtpd",
    "submission inet n - y - 20 smtpd",
    "  -o syslog_name=posteix/submission",
    "  # comment inside the entry",
    "  -o { smtpd_banner = $myhostname welcomes you }",
    "  -osmtpd_sasl_auth_enable=yes",
    "  -v",
    "[::1]:2525 inet n - n - 0 smtpd",
    "127.0.0.1:10025 inet n - n 60? 5 smtpd -o smtpd_client_restrictions=",
    "relay     unix  -       -       n       -       -       smtp",
    "pipe      unix  y       n       -       -       1       pipe flags=R { user = vmail } argv=/bin/cat ${recipient}",
    "lmtp      unix  -       -       n       -       -       lmtp",
  ].join("\n");
  const { services, diagnostics } = parseMasterCf(text, "/c/master.cf", 100);

  test("no diagnostics", () => expect(diagnostics).toEqual([]));

  test("fields, defaults and inet addresses", () => {
    const rows = services.map((s) => ({
      name: s.name,
      type: s.type,
      private: s.private,
      unpriv: s.unpriv,
      chroot: s.chroot,
      wakeup: s.wakeup,
      maxproc: s.maxproc,
      command: s.command,
      host: s.host,
      port: s.port,
      line: s.line,
    }));
    expect(rows).toEqual([
      {
        name: "smtp",
        type: "inet",
        private: false,
        unpriv: true,
        chroot: false,
        wakeup: "-",
        maxproc: 100,
        command: "smtpd",
        host: "",
        port: 25,
        line: 2,
      },
      {
        name: "submission",
        type: "inet",
        private: false,
        unpriv: true,
        chroot: true,
        wakeup: "-",
        maxproc: 20,
        command: "smtpd",
        host: "",
        port: 587,
        line: 3,
      },
      {
        name: "[::1]:2525",
        type: "inet",
        private: false,
        unpriv: true,
        chroot: false,
        wakeup: "-",
        maxproc: 0,
        command: "smtpd",
        host: "::1",
        port: 2525,
        line: 9,
      },
      {
        name: "127.0.0.1:10025",
        type: "inet",
        private: false,
        unpriv: true,
        chroot: false,
        wakeup: "60?",
        maxproc: 5,
        command: "smtpd",
        host: "127.0.0.1",
        port: 10025,
        line: 10,
      },
      {
        name: "relay",
        type: "unix",
        private: true,
        unpriv: true,
        chroot: false,
        wakeup: "-",
        maxproc: 100,
        command: "smtp",
        host: undefined,
        port: undefined,
        line: 11,
      },
      {
        name: "pipe",
        type: "unix",
        private: true,
        unpriv: false,
        chroot: false,
        wakeup: "-",
        maxproc: 1,
        command: "pipe",
        host: undefined,
        port: undefined,
        line: 12,
      },
      {
        name: "lmtp",
        type: "unix",
        private: true,
        unpriv: true,
        chroot: false,
        wakeup: "-",
        maxproc: 100,
        command: "lmtp",
        host: undefined,
        port: undefined,
        line: 13,
      },
    ]);
  });

  test("-o forms and arguments", () => {
    const sub = services[1]!;
    expect(sub.overrides).toEqual({
      syslog_name: "posteix/submission",
      smtpd_banner: "$myhostname welcomes you",
      smtpd_sasl_auth_enable: "yes",
    });
    expect(sub.args).toEqual(["-v"]);
    expect(services[3]!.overrides).toEqual({ smtpd_client_restrictions: "" });
    expect(services[5]!.args).toEqual(["flags=R", "user = vmail", "argv=/bin/cat", "${recipient}"]);
  });

  test("postconf -M format", () => {
    expect(services.map((s) => formatMasterEntry(s.argv))).toEqual([
      "smtp       inet  n       -       n       -       -       smtpd",
      "submission inet  n       -       y       -       20      smtpd -o syslog_name=posteix/submission -o {smtpd_banner=$myhostname welcomes you} -o smtpd_sasl_auth_enable=yes -v",
      "[::1]:2525 inet  n       -       n       -       0       smtpd",
      "127.0.0.1:10025 inet n   -       n       60?     5       smtpd -o smtpd_client_restrictions=",
      "relay      unix  -       -       n       -       -       smtp",
      "pipe       unix  y       n       -       -       1       pipe flags=R {user = vmail} argv=/bin/cat ${recipient}",
      "lmtp       unix  -       -       n       -       -       lmtp",
    ]);
    expect(formatMasterEntry(services[1]!.argv, true)).toBe(
      [
        "submission inet  n       -       y       -       20      smtpd",
        "    -o syslog_name=posteix/submission",
        "    -o {smtpd_banner=$myhostname welcomes you}",
        "    -o smtpd_sasl_auth_enable=yes",
        "    -v",
      ].join("\n"),
    );
  });
});

describe("master.cf errors name file and line", () => {
  test.each([
    [
      "smtp inet n - n - -",
      'bad field count: need service type private unpriv chroot wakeup maxproc command: "smtp inet n - n - -"',
    ],
    [
      "smtp tcp n - n - - smtpd",
      'invalid type field "tcp" (use inet, unix, unix-dgram, fifo or pass)',
    ],
    ["smtp inet no - n - - smtpd", 'invalid private field "no" (use y, n or -)'],
    ["smtp inet n - n never - smtpd", 'invalid wakeup field "never"'],
    ["smtp inet n - n - many smtpd", 'invalid maxproc field "many"'],
    ["smtp inet y - n - - smtpd", 'inet service cannot be private: "smtp"'],
    ["pop3 inet n - n - - smtpd", 'unknown service name "pop3"'],
    ["::1:25 inet n - n - - smtpd", 'IPv6 address must be in [brackets]: "::1:25"'],
    ["99999 inet n - n - - smtpd", 'bad port number "99999"'],
    ["smtp inet n - n - - smtpd -o", "-o without name=value"],
    [
      "smtp inet n - n - - smtpd -o smtpd_timeout",
      "bad -o \"smtpd_timeout\": missing '=' after attribute name",
    ],
    ["smtp inet n - n - - smtpd -o { a = b", 'bad -o "{ a = b": missing "}"'],
    ["smtp unix - - n - - smtp\nsmtp unix - - n - - smtp", "duplicate service: smtp/unix"],
  ])("%p", (entry, message) => {
    const dir = tempDir({ "master.cf": `# header\n${entry}\n` });
    const line = entry.includes("\n") ? 3 : 2;
    const diags = checkConfig({ ...isolated, configDir: dir }).filter(
      (d) => d.severity === "error",
    );
    expect(diags).toEqual([{ severity: "error", file: join(dir, "master.cf"), line, message }]);
  });
});

describe("built-in master.cf", () => {
  test("what runs with no configuration", () => {
    const c = loadConfig({ ...isolated, configDir: null, cwd: "/tmp" });
    expect(c.masterCfPath).toBeNull();
    const inet = c.services.filter((s) => s.type === "inet");
    expect(inet.map((s) => [s.host, s.port, s.command, s.file])).toEqual([
      ["127.0.0.1", 2525, "smtpd", "(built-in)"],
      ["127.0.0.1", 2587, "smtpd", "(built-in)"],
      ["127.0.0.1", 2465, "smtpd", "(built-in)"],
    ]);
    expect(inet[1]!.overrides).toEqual({
      syslog_name: "posteix/submission",
      smtpd_tls_security_level: "encrypt",
      smtpd_sasl_auth_enable: "yes",
      smtpd_relay_restrictions: "permit_sasl_authenticated,reject",
    });
    expect(inet[2]!.overrides.smtpd_tls_wrappermode).toBe("yes");
    const unix = c.services.filter((s) => s.type === "unix");
    expect(unix.map((s) => `${s.name}:${s.command}:${s.unpriv}`)).toEqual([
      "smtp:smtp:true",
      "relay:smtp:true",
      "lmtp:lmtp:true",
      "local:local:false",
      "virtual:virtual:false",
      "discard:discard:true",
      "error:error:true",
      "retry:error:true",
    ]);
    expect(parseMasterCf(DEFAULT_MASTER_CF, "x", 100).diagnostics).toEqual([]);
  });

  test("maxproc - is $default_process_limit", () => {
    const dir = tempDir({ "main.cf": "default_process_limit = 7\n" });
    const c = loadConfig({ ...isolated, configDir: dir });
    expect(c.services.every((s) => s.maxproc === 7)).toBe(true);
  });

  test.each([
    ["smtp", { host: "", port: 25 }],
    ["submissions", { host: "", port: 465 }],
    ["2525", { host: "", port: 2525 }],
    ["0.0.0.0:smtp", { host: "0.0.0.0", port: 25 }],
    ["[2001:db8::1]:587", { host: "2001:db8::1", port: 587 }],
    ["localhost:24", { host: "localhost", port: 24 }],
  ])("parseInetName %p", (name, want) => expect(parseInetName(name)).toEqual(want));
});
