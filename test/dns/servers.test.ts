import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createResolver,
  formatServer,
  parseResolvConf,
  parseServer,
  reverseName,
} from "../../src/dns/index.ts";

describe("parseServer", () => {
  test.each([
    ["127.0.0.1", { address: "127.0.0.1", port: 53, family: 4 }],
    ["127.0.0.1:5353", { address: "127.0.0.1", port: 5353, family: 4 }],
    [" 10.0.0.1 ", { address: "10.0.0.1", port: 53, family: 4 }],
    ["[::1]:53", { address: "::1", port: 53, family: 6 }],
    ["[2001:db8::53]:5300", { address: "2001:db8::53", port: 5300, family: 6 }],
    ["[::1]", { address: "::1", port: 53, family: 6 }],
    ["::1", { address: "::1", port: 53, family: 6 }],
    ["fe80::1%eth0", { address: "fe80::1%eth0", port: 53, family: 6 }],
  ])("%s", (spec, want) => {
    expect(parseServer(spec)).toEqual(want as ReturnType<typeof parseServer>);
  });

  test.each([
    "dns.example.com",
    "127.0.0.1:0",
    "127.0.0.1:65536",
    "127.0.0.1:x",
    "[::1",
    "[::1]x",
    "300.0.0.1",
    "",
  ])("%s is refused", (spec) => {
    expect(() => parseServer(spec)).toThrow(/^bad DNS server/);
  });

  test("formatServer", () => {
    expect(formatServer(parseServer("127.0.0.1:5353"))).toBe("127.0.0.1:5353");
    expect(formatServer(parseServer("::1"))).toBe("[::1]:53");
  });
});

describe("resolv.conf", () => {
  const text = [
    "# generated",
    "search example.com",
    "nameserver 192.0.2.53",
    "  nameserver\t2001:db8::53  ",
    "; a comment",
    "nameserver not-an-ip",
    "options ndots:2 timeout:1",
    "nameserver 198.51.100.53",
    "nameserver",
    "",
  ].join("\n");

  test("nameserver lines in order, bad ones skipped", () => {
    expect(parseResolvConf(text)).toEqual([
      { address: "192.0.2.53", port: 53, family: 4 },
      { address: "2001:db8::53", port: 53, family: 6 },
      { address: "198.51.100.53", port: 53, family: 4 },
    ]);
    expect(parseResolvConf("")).toEqual([]);
  });

  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "posteix-dns-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("servers come from resolv.conf when dns_servers is empty", () => {
    const path = join(dir, "resolv.conf");
    writeFileSync(path, text);
    expect(createResolver({ resolvConfPath: path }).servers.map(formatServer)).toEqual([
      "192.0.2.53:53",
      "[2001:db8::53]:53",
      "198.51.100.53:53",
    ]);
    expect(createResolver({ servers: [], resolvConfPath: path }).servers).toHaveLength(3);
    expect(createResolver({ servers: [" "], resolvConfPath: path }).servers).toHaveLength(3);
  });

  test("dns_servers wins over resolv.conf", () => {
    const path = join(dir, "resolv.conf");
    writeFileSync(path, text);
    const r = createResolver({ servers: ["127.0.0.1:5353", "[::1]:53"], resolvConfPath: path });
    expect(r.servers.map(formatServer)).toEqual(["127.0.0.1:5353", "[::1]:53"]);
  });

  test("no resolv.conf, or one without servers: 127.0.0.1:53", () => {
    const none = createResolver({ resolvConfPath: join(dir, "missing") });
    expect(none.servers.map(formatServer)).toEqual(["127.0.0.1:53"]);
    const path = join(dir, "empty.conf");
    writeFileSync(path, "search example.com\n");
    expect(createResolver({ resolvConfPath: path }).servers.map(formatServer)).toEqual([
      "127.0.0.1:53",
    ]);
  });

  test("a bad dns_servers entry throws with the entry named", () => {
    expect(() => createResolver({ servers: ["127.0.0.1", "ns.example.com"] })).toThrow(
      'bad DNS server "ns.example.com": not an IP address',
    );
  });
});

describe("reverseName", () => {
  test.each([
    ["192.0.2.1", "1.2.0.192.in-addr.arpa"],
    ["127.0.0.1", "1.0.0.127.in-addr.arpa"],
    ["::ffff:192.0.2.1", "1.2.0.192.in-addr.arpa"],
    ["::ffff:c000:201", "1.2.0.192.in-addr.arpa"],
    [
      "2001:db8::567:89ab",
      "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
    ],
    ["::1", `1.${"0.".repeat(31)}ip6.arpa`],
    ["::", `${"0.".repeat(32)}ip6.arpa`],
    [
      "2001:DB8:1:2:3:4:5:6",
      "6.0.0.0.5.0.0.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
    ],
    [
      "64:ff9b::192.0.2.33",
      "1.2.2.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa",
    ],
    ["fe80::1%eth0", `1.${"0.".repeat(28)}8.e.f.ip6.arpa`],
  ])("%s", (ip, want) => {
    expect(reverseName(ip)).toBe(want);
  });

  test.each(["example.com", "1.2.3", "1.2.3.256", "::g", ""])("%s throws", (ip) => {
    expect(() => reverseName(ip)).toThrow(RangeError);
  });
});
