/**
 * Property tests of envelope address parsing (src/rewrite/address.ts) and of what the scheduler
 * does with any address the parser lets through (src/rewrite: canonicalize, resolve), on
 * random and mutated MAIL FROM / RCPT TO arguments:
 *   - parsePath either returns or throws AddressError (501/553) -- nothing else;
 *   - an accepted address holds no control character and stays within RFC 5321 sizes;
 *   - it survives the round trip through its external form;
 *   - resolve() and canonicalize() accept it (qmgr calls them for every recipient);
 *   - xtext (ENVID, ORCPT) round-trips.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import fc from "fast-check";
import {
  AddressError,
  externalForm,
  parsePath,
  splitAddress,
  xtextDecode,
  xtextEncode,
} from "../../src/rewrite/address.ts";
import { canonicalize, resolve } from "../../src/rewrite/index.ts";
import { testConfig } from "../helpers/smtp-harness.ts";
import { check, hostileText, report, runs } from "./fuzz.ts";

const FILE = "fuzz-address.test.ts";
const { cfg, dir } = testConfig(
  [
    "mydestination = example.test, localhost",
    "relay_domains = relay.test",
    "virtual_alias_domains = alias.test",
    "virtual_mailbox_domains = vmail.test",
    "virtual_alias_maps = inline:{ a@alias.test=b@example.test }",
    "recipient_delimiter = +",
    "transport_maps = inline:{ relay.test=relay:[127.0.0.1]:2525 }",
  ].join("\n"),
);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  report(FILE);
});

const SAMPLES = [
  "<user@example.test>",
  "<>",
  "<postmaster>",
  '<"john doe"@example.test>',
  '<"a\\"b"@example.test>',
  "<@relay.example:user@example.test>",
  "<@a.example,@b.example:user@example.test>",
  "<user%remote.example@example.test>",
  "<remote.example!user@example.test>",
  "<user@remote.example@example.test>",
  "<user@[192.0.2.1]>",
  "<user@[IPv6:2001:db8::1]>",
  "<User@EXAMPLE.TEST.>",
  "<\u00e9l\u00e8ve@\u00e9cole.example>",
  "<user+ext@vmail.test> SIZE=100",
  "user@example.test",
  " <a@b.c> NOTIFY=NEVER",
  "<a@alias.test>",
  "<x@relay.test>",
];

const arg = hostileText(SAMPLES, 'ab@.<>:,"\\[]%! \t\r\n\0\u00e9\u00ff+=');
const opts = fc.record({ utf8: fc.boolean(), strict: fc.boolean(), allowNull: fc.boolean() });

describe("envelope addresses", () => {
  test("parsePath: a clean address or AddressError, never anything else", () => {
    check(
      FILE,
      fc.property(arg, opts, (text, o) => {
        let address: string;
        try {
          address = parsePath(text, o).address;
        } catch (err) {
          expect(err).toBeInstanceOf(AddressError);
          expect([501, 553]).toContain((err as AddressError).code);
          return;
        }
        // No control characters (CR, LF, NUL, TAB...) can reach a header or the next hop.
        expect(/[\0-\x1f\x7f]/.test(address)).toBe(false);
        const { local, domain } = splitAddress(address);
        expect(local.length).toBeLessThanOrEqual(256);
        expect(domain.length).toBeLessThanOrEqual(255);
        if (address === "") return;
        // Round trip through the external (quoted) form.
        const again = parsePath(`<${externalForm(address)}>`, { ...o, strict: true }).address;
        expect(again).toBe(address);
        // The scheduler can route whatever was accepted.
        const r = resolve(cfg, canonicalize(cfg, address));
        expect(typeof r.transport).toBe("string");
        expect(typeof r.nexthop).toBe("string");
      }),
      runs(20_000, 300_000),
    );
  }, 600_000);

  test("xtext round-trips any ASCII text", () => {
    check(
      FILE,
      fc.property(fc.string({ unit: "binary-ascii", maxLength: 60 }), (s) => {
        expect(xtextDecode(xtextEncode(s))).toBe(s);
      }),
      runs(5_000, 100_000),
    );
    check(
      FILE,
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        const d = xtextDecode(s);
        if (d !== null) expect(xtextEncode(d).length).toBeGreaterThanOrEqual(0);
      }),
      runs(5_000, 100_000),
    );
  }, 600_000);
});
