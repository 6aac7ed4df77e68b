import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  accessLookupAddress,
  accessLookupClient,
  canonicalLookup,
  splitExtension,
  virtualLookup,
} from "../../src/config/lookup.ts";
import { openTable } from "../../src/config/tables.ts";
import type { LookupTable } from "../../src/config/types.ts";
import { removeTempDirs, tempDir } from "./fixture.ts";

afterAll(removeTempDirs);

/** A texthash table whose value for each key is the key itself, so a hit shows what matched. */
function echoTable(keys: string[]): LookupTable {
  const dir = tempDir({ t: keys.map((k) => `${k} ${k}`).join("\n") });
  return openTable(`texthash:${join(dir, "t")}`);
}

const key = (h: { key: string } | undefined) => h?.key;

describe("accessLookupAddress (access(5))", () => {
  const all = [
    "user+ext@sub.example.com",
    "user@sub.example.com",
    "sub.example.com",
    ".example.com",
    "example.com",
    "user+ext@",
    "user@",
  ];
  // Each row: the keys the table has; which one an address matches.
  test.each([
    [all, "user+ext@sub.example.com"],
    [all.slice(1), "user@sub.example.com"],
    [all.slice(2), "sub.example.com"],
    [all.slice(3), ".example.com"],
    [all.slice(4), "user+ext@"],
    [["example.com", "user@"], "user@"],
    [["example.com"], undefined],
  ])("keys %p match %p", (keys, want) => {
    const t = echoTable(keys);
    expect(key(accessLookupAddress([t], "user+ext@sub.example.com", { delimiter: "+" }))).toBe(
      want,
    );
  });

  test("parent style (smtpd_access_maps in parent_domain_matches_subdomains)", () => {
    const t = echoTable(["example.com"]);
    const h = accessLookupAddress([t], "a@deep.sub.example.com", { parentMatchesSubdomains: true });
    expect(h).toEqual({ value: "example.com", key: "example.com", table: t });
    expect(accessLookupAddress([t], "a@deep.sub.example.com")).toBeUndefined();
  });

  test("keys try every table before the next key; case does not matter", () => {
    const t1 = echoTable(["example.com"]);
    const t2 = echoTable(["bob@example.com"]);
    expect(accessLookupAddress([t1, t2], "Bob@Example.COM")?.table).toBe(t2);
  });

  test("pattern tables get only the whole address", () => {
    const dir = tempDir({ r: "/^example\\.com$/ DOMAIN\n/^bob@/ BOB\n" });
    const r = openTable(`regexp:${join(dir, "r")}`);
    expect(accessLookupAddress([r], "alice@example.com")).toBeUndefined();
    expect(accessLookupAddress([r], "bob@example.com")?.value).toBe("BOB");
  });
});

describe("accessLookupClient", () => {
  test.each([
    [["mail.example.com", "example.com", "1.2.3.4"], "mail.example.com"],
    [[".example.com", "1.2.3.4"], ".example.com"],
    [["1.2.3.4", "1.2.3"], "1.2.3.4"],
    [["1.2.3", "1.2"], "1.2.3"],
    [["1"], "1"],
    [["example.com"], undefined],
  ])("keys %p match %p", (keys, want) => {
    const t = echoTable(keys);
    expect(key(accessLookupClient([t], "mail.example.com", "1.2.3.4"))).toBe(want);
  });

  test("unknown client names are not looked up; mapped IPv4 is shortened as IPv4", () => {
    const t = echoTable(["unknown", "10.0"]);
    expect(key(accessLookupClient([t], "unknown", "::ffff:10.0.0.1"))).toBe("10.0");
  });

  test("IPv6 shortened at each colon", () => {
    const t = echoTable(["2001:db8"]);
    expect(key(accessLookupClient([t], "", "2001:db8:1:2::5"))).toBe("2001:db8");
  });

  test("cidr tables get the whole address", () => {
    const dir = tempDir({ c: "10.0.0.0/8 REJECT\n" });
    const c = openTable(`cidr:${join(dir, "c")}`);
    expect(accessLookupClient([c], "host.example", "10.1.1.1")?.value).toBe("REJECT");
  });
});

describe("virtualLookup (virtual(5)) and canonicalLookup", () => {
  const all = ["user+ext@example.com", "user@example.com", "user+ext", "user", "@example.com"];
  test.each([
    [all, true, "user+ext@example.com", ""],
    [all.slice(1), true, "user@example.com", "+ext"],
    [all.slice(2), true, "user+ext", ""],
    [all.slice(3), true, "user", "+ext"],
    [all.slice(4), true, "@example.com", ""],
    [all.slice(2), false, "@example.com", ""],
    [["user"], false, undefined, undefined],
  ] as const)("keys %p local %p match %p", (keys, local, want, ext) => {
    const t = echoTable([...keys]);
    for (const fn of [virtualLookup, canonicalLookup]) {
      const h = fn([t], "user+ext@example.com", local, "+");
      expect(h?.key).toBe(want);
      expect(h?.extension).toBe(ext);
    }
  });

  test("isLocalDomain as a function; address without a domain", () => {
    const t = echoTable(["bob"]);
    expect(virtualLookup([t], "bob@here", (d) => d === "here")?.key).toBe("bob");
    expect(virtualLookup([t], "bob@there", (d) => d === "here")).toBeUndefined();
    expect(virtualLookup([t], "bob-x", false, "-")).toEqual({
      value: "bob",
      key: "bob",
      table: t,
      extension: "-x",
    });
  });

  test("splitExtension", () => {
    expect(splitExtension("user+a+b", "+")).toEqual(["user", "+a+b"]);
    expect(splitExtension("user-a", "+-")).toEqual(["user", "-a"]);
    expect(splitExtension("+user", "+")).toEqual(["+user", ""]);
    expect(splitExtension("user+a", "")).toEqual(["user+a", ""]);
  });
});
