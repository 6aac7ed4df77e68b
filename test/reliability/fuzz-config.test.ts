/**
 * Property tests of the configuration parser (src/config): main.cf and master.cf text, `$name`
 * expansion and lists, from random and mutated input.
 *   - the line and file parsers never throw; every diagnostic names a line of the file;
 *   - expansion ends (loops are reported, not followed) and throws only ExpandSyntaxError;
 *   - loading a whole configuration directory either gives a Config whose every parameter can
 *     be read with its type, or a ConfigError naming file and line -- nothing else.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { ExpandSyntaxError, expandText } from "../../src/config/expand.ts";
import { ConfigError, checkConfig, loadConfig, PARAMS, splitList } from "../../src/config/index.ts";
import { logicalLines } from "../../src/config/lines.ts";
import { parseMainCf } from "../../src/config/main-cf.ts";
import { parseMasterCf } from "../../src/config/master-cf.ts";
import type { ParamName } from "../../src/config/params.ts";
import type { Config } from "../../src/config/types.ts";
import { check, hostileText, report, runs } from "./fuzz.ts";

const FILE = "fuzz-config.test.ts";
const dir = mkdtempSync(join(tmpdir(), "posteix-fuzzcf-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  report(FILE);
});

const MAIN_SAMPLES = [
  "myhostname = mail.example.com\nmydomain = example.com\n",
  "mydestination = $myhostname, localhost.$mydomain\n  localhost\n",
  "smtpd_timeout = 300s\nmessage_size_limit = 10240000\n",
  "relayhost = [smtp.example.net]:587\n# comment\n\nsmtpd_tls_security_level = may\n",
  "a = $b\nb = $a\nmyhostname = $a\n",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: main.cf macros, not templates
  "x = ${y?{yes}:{no}}\ny = ${z:fallback}\nmyorigin = $x$y\n",
  "smtpd_recipient_restrictions = permit_mynetworks,\n reject_unauth_destination\n",
  "virtual_alias_maps = inline:{ a@b=c@d, { e@f = g h } }\n",
  "mynetworks = 127.0.0.0/8 [::1]/128 !192.0.2.0/24\n",
  "smtpd_helo_required = yes\nsmtpd_timeout = $smtpd_timeout\n",
];
const MASTER_SAMPLES = [
  "smtp inet n - n - - smtpd\n",
  "127.0.0.1:2525 inet n - n - 10 smtpd -o smtpd_timeout=5s -o syslog_name=x\n",
  "submission inet n - n - - smtpd\n  -o smtpd_tls_security_level=encrypt\n",
  "relay unix - - n - - smtp\nlocal unix - n n - - local\n",
  "[::1]:25 inet n - n - - smtpd -o { smtpd_client_restrictions = a, b }\n",
];

const mainText = hostileText(MAIN_SAMPLES, "ab =$\n\t {}?:#,\r[]./");
const masterText = hostileText(MASTER_SAMPLES, "ab -\n\t {}=:#,[]0");

describe("config parser", () => {
  test("main.cf and master.cf text: the parsers never throw; diagnostics name a real line", () => {
    check(
      FILE,
      fc.property(mainText, masterText, (m, ms) => {
        const lines = m.split("\n").length;
        for (const l of logicalLines(m)) expect(l.line).toBeGreaterThanOrEqual(1);
        const parsed = parseMainCf(m, "main.cf");
        for (const d of parsed.diagnostics) {
          expect(d.line).toBeGreaterThanOrEqual(1);
          expect(d.line).toBeLessThanOrEqual(lines);
        }
        const master = parseMasterCf(ms, "master.cf", 100);
        for (const d of master.diagnostics) {
          expect(d.line).toBeGreaterThanOrEqual(0);
          expect(d.line).toBeLessThanOrEqual(ms.split("\n").length);
        }
        expect(Array.isArray(splitList(m))).toBe(true);
      }),
      runs(10_000, 300_000),
    );
  }, 600_000);

  test("expansion: terminates, and fails only with ExpandSyntaxError", () => {
    const values = fc.dictionary(
      fc.constantFrom("a", "b", "c", "myhostname"),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: main.cf macros, not templates
      hostileText(["$a", "${b}", "$(c)", "${a?{x}:{y}}", "${b:z}", "$$", "plain"], "$abc{}()?:"),
    );
    check(
      FILE,
      fc.property(
        hostileText(
          // biome-ignore lint/suspicious/noTemplateCurlyInString: main.cf macros, not templates
          ["$a $b", "${a?{$b}:{$c}}", "$(myhostname)", "$$a", "${a:${b:$c}}"],
          "$abc{}()?:",
        ),
        values,
        (text, vars) => {
          // One level, as the Config does it: a lookup returns a raw value, not expanded again.
          const lookup = (n: string) => vars[n];
          try {
            const out = expandText(text, lookup);
            expect(typeof out).toBe("string");
          } catch (err) {
            expect(err).toBeInstanceOf(ExpandSyntaxError);
          }
        },
      ),
      runs(10_000, 200_000),
    );
  }, 600_000);

  test("a whole configuration directory: a usable Config, or a ConfigError with file and line", () => {
    const names = Object.keys(PARAMS) as ParamName[];
    check(
      FILE,
      fc.property(mainText, masterText, (m, ms) => {
        writeFileSync(join(dir, "main.cf"), m);
        writeFileSync(join(dir, "master.cf"), ms);
        // checkConfig never throws: it reports.
        for (const d of checkConfig({ configDir: dir, env: {} })) {
          expect(typeof d.file).toBe("string");
          expect(typeof d.message).toBe("string");
        }
        let cfg: Config;
        try {
          cfg = loadConfig({ configDir: dir, env: {}, hostname: "host.example" });
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as ConfigError).diagnostics.length).toBeGreaterThan(0);
          return;
        }
        // Every parameter reads with its declared type.
        for (const name of names) {
          const def = PARAMS[name];
          switch (def.type) {
            case "int":
              expect(Number.isFinite(cfg.int(name))).toBe(true);
              break;
            case "bool":
              expect(typeof cfg.bool(name)).toBe("boolean");
              break;
            case "time":
              expect(Number.isFinite(cfg.time(name))).toBe(true);
              break;
            case "size":
              expect(Number.isFinite(cfg.size(name))).toBe(true);
              break;
            default:
              expect(typeof cfg.str(name)).toBe("string");
          }
        }
      }),
      runs(300, 20_000),
    );
  }, 900_000);
});
