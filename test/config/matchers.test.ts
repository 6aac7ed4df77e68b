import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import { createDomainMatcher, createNetworkMatcher } from "../../src/config/matchers.ts";
import { openTable } from "../../src/config/tables.ts";
import { isolated, removeTempDirs, tempDir } from "./fixture.ts";

afterAll(removeTempDirs);

const opts = (parent = false) => ({
  openTable: (s: string) => openTable(s),
  parentMatchesSubdomains: parent,
});

describe("NetworkMatcher", () => {
  const file = join(tempDir({ nets: "# more\n172.16.0.0/12, trusted.example\n" }), "nets");
  const m = createNetworkMatcher(
    [
      "!192.168.1.66",
      "192.168.0.0/16",
      "10.1.2.3",
      "[2001:db8::]/32",
      "[::1]",
      "fe80::/10",
      "gw.example.com",
      ".corp.example",
      file,
      `cidr:${join(tempDir({ c: "100.64.0.0/10 x\n" }), "c")}`,
    ],
    opts(),
  );
  test.each([
    ["192.168.5.5", undefined, true],
    ["192.168.1.66", undefined, false],
    ["::ffff:192.168.5.5", undefined, true],
    ["10.1.2.3", undefined, true],
    ["10.1.2.4", undefined, false],
    ["2001:db8:ffff::1", undefined, true],
    ["[2001:db8::1]", undefined, true],
    ["::1", undefined, true],
    ["fe80::1%eth0", undefined, true],
    ["8.8.8.8", "GW.example.com.", true],
    ["8.8.8.8", "a.corp.example", true],
    ["8.8.8.8", "corp.example", false],
    ["8.8.8.8", "x.gw.example.com", false],
    ["172.20.0.1", undefined, true],
    ["8.8.8.8", "trusted.example", true],
    ["100.64.1.1", undefined, true],
    ["8.8.8.8", "unknown", false],
  ])("%s %s → %p", (addr, name, want) => expect(m.matches(addr, name)).toBe(want));

  test("parent style: a name matches its subdomains", () => {
    const p = createNetworkMatcher(["example.com"], opts(true));
    expect(p.matches("1.1.1.1", "a.example.com")).toBe(true);
    expect(p.matches("1.1.1.1", "badexample.com")).toBe(false);
  });

  test("the default mynetworks", () => {
    const c = loadConfig({ ...isolated, configDir: tempDir() });
    const n = c.networks("mynetworks");
    expect(n.matches("127.0.0.1")).toBe(true);
    expect(n.matches("::ffff:127.0.0.1")).toBe(true);
    expect(n.matches("::1")).toBe(true);
    expect(n.matches("192.0.2.1")).toBe(false);
    expect(n.matches("::2")).toBe(false);
    expect(c.networks("mynetworks")).toBe(n);
  });

  test("an IPv4 client does not match ::/0", () => {
    const all6 = createNetworkMatcher(["[::]/0"], opts());
    expect(all6.matches("192.0.2.1")).toBe(false);
    expect(all6.matches("2001:db8::1")).toBe(true);
    expect(createNetworkMatcher(["0.0.0.0/0"], opts()).matches("2001:db8::1")).toBe(false);
  });

  test("errors in a pattern file name the file and line", () => {
    const dir = tempDir({ f: "10.0.0.0/8\n\n300.1.1.1\n" });
    expect(() => createNetworkMatcher([join(dir, "f")], opts())).toThrow(
      `${join(dir, "f")}, line 3: bad net/mask pattern: "300.1.1.1"`,
    );
  });
});

describe("DomainMatcher", () => {
  test("exact names for mydestination-style lists", () => {
    const m = createDomainMatcher(["Example.COM", "localhost.", ".sub.example.org"], opts());
    expect(m.matches("example.com")).toBe(true);
    expect(m.matches("EXAMPLE.com.")).toBe(true);
    expect(m.matches("localhost")).toBe(true);
    expect(m.matches("mail.example.com")).toBe(false);
    expect(m.matches("a.sub.example.org")).toBe(true);
    expect(m.matches("sub.example.org")).toBe(false);
  });

  test("relay_domains: subdomains match (parent_domain_matches_subdomains)", () => {
    const dir = tempDir({
      "main.cf": "relay_domains = example.com, !bad.example.net, example.net\n",
    });
    const c = loadConfig({ ...isolated, configDir: dir });
    const r = c.domains("relay_domains");
    expect(r.matches("example.com")).toBe(true);
    expect(r.matches("a.b.example.com")).toBe(true);
    expect(r.matches("notexample.com")).toBe(false);
    expect(r.matches("bad.example.net")).toBe(false);
    expect(r.matches("x.bad.example.net")).toBe(false); // negated with its subdomains
    expect(r.matches("good.example.net")).toBe(true);
    const d = c.domains("mydestination");
    expect(d.matches("mail.example.com")).toBe(true);
    expect(d.matches("localhost.example.com")).toBe(true);
    expect(d.matches("x.mail.example.com")).toBe(false);
  });

  test("files and tables", () => {
    const dir = tempDir({
      list: "# domains\none.example two.example\n",
      vdomains: "three.example anything\n",
    });
    const m = createDomainMatcher(
      [join(dir, "list"), `texthash:${join(dir, "vdomains")}`, "inline:{ four.example=x }"],
      opts(),
    );
    for (const d of ["one.example", "two.example", "three.example", "four.example"]) {
      expect(m.matches(d)).toBe(true);
    }
    expect(m.matches("five.example")).toBe(false);
    expect(m.matches("a.three.example")).toBe(false);
    const p = createDomainMatcher([`texthash:${join(dir, "vdomains")}`], opts(true));
    expect(p.matches("a.three.example")).toBe(true);
  });

  test("virtual_alias_domains defaults to the domains of $virtual_alias_maps", () => {
    const dir = tempDir({
      "main.cf": "virtual_alias_maps = texthash:virtual\n",
      virtual: "alias.example   anything\nbob@alias.example bob@elsewhere\n",
    });
    const c = loadConfig({ ...isolated, configDir: dir });
    expect(c.domains("virtual_alias_domains").matches("alias.example")).toBe(true);
    expect(c.domains("virtual_alias_domains").matches("other.example")).toBe(false);
  });
});
