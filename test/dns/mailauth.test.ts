import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spf } from "mailauth";
import { createResolver, type MailauthResolver, mailauthResolver } from "../../src/dns/index.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";

let dns: TestDnsServer;
let resolve: MailauthResolver;

beforeAll(async () => {
  dns = await startDnsServer({
    "example.test": {
      TXT: ["v=spf1 ip4:127.0.0.1 -all", ["k=rsa; ", "p=ABCD"]],
      MX: [
        { preference: 20, exchange: "mx2.example.test" },
        { preference: 10, exchange: "mx1.example.test" },
      ],
      A: ["127.0.0.1"],
      AAAA: ["::1"],
    },
    "1.0.0.127.in-addr.arpa": { PTR: ["localhost.example.test"] },
    "softfail.test": { TXT: ["v=spf1 ip4:192.0.2.0/24 ~all"] },
    "viamx.test": { TXT: ["v=spf1 mx -all"], MX: [{ preference: 10, exchange: "mx.viamx.test" }] },
    "mx.viamx.test": { A: ["127.0.0.1"] },
    "noa.test": { MX: [{ preference: 10, exchange: "mx.noa.test" }] },
  });
  dns.setMode("servfail.test", "servfail");
  dns.setMode("refused.test", "refused");
  dns.setMode("silent.test", "drop");
  resolve = mailauthResolver(createResolver({ servers: [dns.server], timeoutMs: 200, tries: 1 }));
});

afterAll(async () => {
  await dns.stop();
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return "no error";
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe("shapes of node's dns.promises.resolve", () => {
  test("TXT as string[][]", async () => {
    const txt: string[][] = await resolve("example.test", "TXT");
    expect(txt.sort()).toEqual([["k=rsa; ", "p=ABCD"], ["v=spf1 ip4:127.0.0.1 -all"]]);
  });

  test("MX as { exchange, priority }[]", async () => {
    expect(await resolve("example.test", "MX")).toEqual([
      { exchange: "mx1.example.test", priority: 10 },
      { exchange: "mx2.example.test", priority: 20 },
    ]);
  });

  test("A, AAAA and PTR as string[]", async () => {
    expect(await resolve("example.test", "A")).toEqual(["127.0.0.1"]);
    expect(await resolve("example.test", "aaaa")).toEqual(["::1"]);
    expect(await resolve("1.0.0.127.in-addr.arpa", "PTR")).toEqual(["localhost.example.test"]);
  });
});

describe("errors carry node's codes", () => {
  test.each([
    ["nowhere.test", "A", "ENOTFOUND"],
    ["noa.test", "A", "ENODATA"],
    ["noa.test", "TXT", "ENODATA"],
    ["servfail.test", "TXT", "ESERVFAIL"],
    ["refused.test", "TXT", "EREFUSED"],
    ["silent.test", "TXT", "ETIMEOUT"],
  ])("%s %s -> %s", async (name, type, code) => {
    expect(await codeOf(resolve(name, type))).toBe(code);
  });

  test("an unsupported type is a TypeError", async () => {
    await expect(resolve("example.test", "HINFO")).rejects.toThrow(TypeError);
  });
});

describe("mailauth spf() through the resolver", () => {
  const check = (sender: string, ip: string) =>
    spf({ sender, ip, helo: "client.example.test", mta: "mx.posteix.test", resolver: resolve });

  test("pass for ip4:127.0.0.1", async () => {
    const r = await check("user@example.test", "127.0.0.1");
    expect(r.status.result).toBe("pass");
  });

  test("fail for another address", async () => {
    const r = await check("user@example.test", "192.0.2.99");
    expect(r.status.result).toBe("fail");
  });

  test("softfail and the mx mechanism", async () => {
    expect((await check("user@softfail.test", "127.0.0.1")).status.result).toBe("softfail");
    expect((await check("user@viamx.test", "127.0.0.1")).status.result).toBe("pass");
  });

  test("none for a domain without SPF, temperror for SERVFAIL and timeouts", async () => {
    expect((await check("user@nowhere.test", "127.0.0.1")).status.result).toBe("none");
    expect((await check("user@servfail.test", "127.0.0.1")).status.result).toBe("temperror");
    expect((await check("user@silent.test", "127.0.0.1")).status.result).toBe("temperror");
  });
});
