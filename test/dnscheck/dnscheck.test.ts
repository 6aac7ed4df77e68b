/**
 * The deliverability check against a real DNS server on 127.0.0.1 (dns_servers =
 * 127.0.0.1:PORT): a zone where every record is right, then for each kind of check the record
 * removed (MISSING) and made wrong (WRONG), table-driven; plus lookups that fail (ERROR), the
 * domains taken from main.cf, and `posteix check --dns` itself (text, JSON, exit status).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DkimKey, generateKey } from "../../src/auth/dkim-keys.ts";
import type { CliIO } from "../../src/cli/types.ts";
import { loadConfig } from "../../src/config/index.ts";
import type { Config } from "../../src/config/types.ts";
import {
  type CheckKind,
  type CheckResult,
  checkDeliverability,
  configuredDomains,
  DnsCheckInputError,
  type DnsCheckReport,
  formatReport,
  parseStsPolicy,
  stsMxMatches,
} from "../../src/dnscheck/index.ts";
import { setLogQuiet } from "../../src/log/index.ts";
import { run as checkCommand } from "../../src/master/commands/check.ts";
import { type RecordSet, startDnsServer, type ZoneRecords } from "../helpers/dns-server.ts";

setLogQuiet(true);

const HOST = "mail.example.test";
const DOMAIN = "example.test";
const IP = "127.0.0.1";
const NOW = new Date("2025-03-04T05:06:07Z");

let dir: string;
let key: DkimKey;
let otherKey: DkimKey;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "posteix-dnscheck-"));
  key = await generateKey(join(dir, "dkim"), DOMAIN, { selector: "s1", type: "rsa" });
  // A key of the same type whose record is "the wrong key" (kept out of the key directory).
  otherKey = await generateKey(join(dir, "other"), DOMAIN, { selector: "s1", type: "rsa" });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Every record right: the check of DOMAIN from 127.0.0.1 is all OK. */
function goodZone(): ZoneRecords {
  return {
    [HOST]: { A: [IP] },
    "1.0.0.127.in-addr.arpa": { PTR: [HOST] },
    [DOMAIN]: {
      MX: [{ preference: 10, exchange: HOST }],
      TXT: ["google-site-verification=abc", `v=spf1 a:${HOST} -all`],
    },
    [`s1._domainkey.${DOMAIN}`]: { TXT: [key.txt] },
    [`_dmarc.${DOMAIN}`]: { TXT: ["v=DMARC1; p=reject; rua=mailto:dmarc@example.test"] },
    [`_mta-sts.${DOMAIN}`]: { TXT: ["v=STSv1; id=20250101T000000"] },
    [`_smtp._tls.${DOMAIN}`]: { TXT: ["v=TLSRPTv1; rua=mailto:tls@example.test"] },
  };
}

function config(dnsServer: string, extra = ""): Config {
  const cdir = mkdtempSync(join(dir, "cf-"));
  writeFileSync(
    join(cdir, "main.cf"),
    [
      `queue_directory = ${cdir}/data`,
      `dkim_key_directory = ${dir}/dkim`,
      `myhostname = ${HOST}`,
      "mydomain = example.test",
      `dns_servers = ${dnsServer}`,
      "dns_timeout = 1s",
      extra,
    ].join("\n"),
  );
  return loadConfig({ configDir: cdir, env: {}, hostname: HOST });
}

type Mutation = (zone: ZoneRecords) => void;

const setName =
  (name: string, rs: RecordSet | undefined): Mutation =>
  (zone) => {
    if (rs === undefined) delete zone[name];
    else zone[name] = rs;
  };
const setDomain =
  (rs: Partial<RecordSet>): Mutation =>
  (zone) => {
    zone[DOMAIN] = { ...zone[DOMAIN], ...rs };
  };

async function check(
  mutate: Mutation | null,
  opts: { addresses?: string[]; domains?: string[]; extra?: string } = {},
): Promise<DnsCheckReport> {
  const zone = goodZone();
  mutate?.(zone);
  const dns = await startDnsServer(zone);
  try {
    return await checkDeliverability(config(dns.server, opts.extra), {
      domains: opts.domains ?? [DOMAIN],
      addresses: opts.addresses,
      fetchPolicy: false,
      now: NOW,
    });
  } finally {
    await dns.stop();
  }
}

const byKind = (r: DnsCheckReport, kind: CheckKind): CheckResult[] =>
  r.checks.filter((c) => c.kind === kind);

test("every record right: all OK, one check of each kind, in order", async () => {
  const r = await check(null);
  expect(r.checks.map((c) => [c.kind, c.status, c.name])).toEqual([
    ["address", "ok", HOST],
    ["ptr", "ok", "1.0.0.127.in-addr.arpa"],
    ["mx", "ok", DOMAIN],
    ["spf", "ok", DOMAIN],
    ["dkim", "ok", `s1._domainkey.${DOMAIN}`],
    ["dmarc", "ok", `_dmarc.${DOMAIN}`],
    ["mta-sts", "ok", `_mta-sts.${DOMAIN}`],
    ["tls-rpt", "ok", `_smtp._tls.${DOMAIN}`],
  ]);
  expect(r.ok).toBe(true);
  expect(r.addresses).toEqual([IP]);
  expect(r.hostname).toBe(HOST);
  expect(r.checks.every((c) => c.publish.length === 0)).toBe(true);
  expect(r.checked_at).toBe(NOW.toISOString());
  expect(byKind(r, "spf")[0].found).toEqual([`v=spf1 a:${HOST} -all`]);
  expect(byKind(r, "dkim")[0].detail).toBe(`matches the rsa key ${key.path}`);
});

interface Case {
  name: string;
  kind: CheckKind;
  mutate: Mutation;
  addresses?: string[];
  status: "ok" | "missing" | "wrong" | "error";
  /** Exact zone-file lines expected (a function for lines built from keys). */
  publish?: string[] | (() => string[]);
  detail?: RegExp;
  /** Other kinds that the change breaks too (an address without A record fails SPF a:). */
  also?: CheckKind[];
}

const CASES: Case[] = [
  // ---- A/AAAA of $myhostname
  {
    name: "address: resolves to the given address",
    kind: "address",
    mutate: () => {},
    addresses: [IP],
    status: "ok",
  },
  {
    name: "address: no A record",
    kind: "address",
    mutate: setName(HOST, undefined),
    addresses: [IP],
    also: ["ptr", "spf"],
    status: "missing",
    publish: [`${HOST}. IN A ${IP}`],
  },
  {
    name: "address: A record of another address",
    kind: "address",
    mutate: setName(HOST, { A: ["127.0.0.2"] }),
    addresses: [IP],
    also: ["ptr", "spf"],
    status: "wrong",
    publish: [`${HOST}. IN A ${IP}`],
  },
  {
    name: "address: IPv6 address missing",
    kind: "address",
    mutate: () => {},
    addresses: [IP, "::1"],
    also: ["ptr", "spf"],
    status: "wrong",
    publish: [`${HOST}. IN AAAA ::1`],
  },
  // ---- PTR and forward confirmation
  {
    name: "ptr: no PTR record",
    kind: "ptr",
    mutate: setName("1.0.0.127.in-addr.arpa", undefined),
    status: "missing",
    publish: [`1.0.0.127.in-addr.arpa. IN PTR ${HOST}.`],
  },
  {
    name: "ptr: names another host (forward-confirmed)",
    kind: "ptr",
    mutate: (z) => {
      z["1.0.0.127.in-addr.arpa"] = { PTR: ["vps-1.provider.test"] };
      z["vps-1.provider.test"] = { A: [IP] };
    },
    status: "wrong",
    publish: [`1.0.0.127.in-addr.arpa. IN PTR ${HOST}.`],
    detail: /is vps-1\.provider\.test, not mail\.example\.test.*myhostname = vps-1/,
  },
  {
    name: "ptr: names $myhostname, which does not resolve back",
    kind: "ptr",
    mutate: (z) => {
      z["2.0.0.127.in-addr.arpa"] = { PTR: [HOST] };
      z[DOMAIN] = { ...z[DOMAIN], TXT: ["v=spf1 ip4:127.0.0.2 -all"] };
    },
    addresses: ["127.0.0.2"],
    also: ["address"],
    status: "wrong",
    publish: [`${HOST}. IN A 127.0.0.2`],
    detail: /no forward confirmation/,
  },
  // ---- MX
  {
    name: "mx: points at another name that resolves to our address",
    kind: "mx",
    mutate: (z) => {
      z[DOMAIN] = { ...z[DOMAIN], MX: [{ preference: 5, exchange: "in.example.test" }] };
      z["in.example.test"] = { A: [IP] };
    },
    status: "ok",
    detail: /in\.example\.test resolves to this host's address/,
  },
  {
    name: "mx: no MX record",
    kind: "mx",
    mutate: setDomain({ MX: undefined }),
    status: "missing",
    publish: [`${DOMAIN}. IN MX 10 ${HOST}.`],
  },
  {
    name: "mx: points elsewhere",
    kind: "mx",
    mutate: (z) => {
      z[DOMAIN] = { ...z[DOMAIN], MX: [{ preference: 10, exchange: "mx.elsewhere.test" }] };
      z["mx.elsewhere.test"] = { A: ["192.0.2.1"] };
    },
    status: "wrong",
    publish: [`${DOMAIN}. IN MX 10 ${HOST}.`],
  },
  {
    name: "mx: null MX",
    kind: "mx",
    mutate: setDomain({ MX: [{ preference: 0, exchange: "." }] }),
    status: "wrong",
    publish: [`${DOMAIN}. IN MX 10 ${HOST}.`],
    detail: /null MX/,
  },
  // ---- SPF
  {
    name: "spf: authorises the address by ip4",
    kind: "spf",
    mutate: setDomain({ TXT: ["v=spf1 ip4:127.0.0.0/8 ~all"] }),
    status: "ok",
  },
  {
    name: "spf: no SPF record",
    kind: "spf",
    mutate: setDomain({ TXT: ["google-site-verification=abc"] }),
    status: "missing",
    publish: [`${DOMAIN}. IN TXT "v=spf1 a:${HOST} -all"`],
  },
  {
    name: "spf: does not authorise this host",
    kind: "spf",
    mutate: setDomain({ TXT: ["v=spf1 ip4:192.0.2.0/24 -all"] }),
    status: "wrong",
    publish: [`${DOMAIN}. IN TXT "v=spf1 a:${HOST} ip4:192.0.2.0/24 -all"`],
    detail: /fail for 127\.0\.0\.1/,
  },
  {
    name: "spf: two records",
    kind: "spf",
    mutate: setDomain({ TXT: ["v=spf1 mx -all", "v=spf1 a -all"] }),
    status: "wrong",
    publish: [`${DOMAIN}. IN TXT "v=spf1 a:${HOST} mx -all"`],
    detail: /2 SPF records/,
  },
  {
    name: "spf: syntax error",
    kind: "spf",
    mutate: setDomain({ TXT: ["v=spf1 ip4:not-an-ip -all"] }),
    status: "wrong",
    detail: /permerror for 127\.0\.0\.1/,
  },
  // ---- DKIM
  {
    name: "dkim: no selector record",
    kind: "dkim",
    mutate: setName(`s1._domainkey.${DOMAIN}`, undefined),
    status: "missing",
    publish: () => [key.record],
  },
  {
    name: "dkim: another key's record",
    kind: "dkim",
    mutate: (z) => {
      z[`s1._domainkey.${DOMAIN}`] = { TXT: [otherKey.txt] };
    },
    status: "wrong",
    publish: () => [key.record],
    detail: /p= is not the public key of/,
  },
  {
    name: "dkim: revoked (empty p=)",
    kind: "dkim",
    mutate: setName(`s1._domainkey.${DOMAIN}`, { TXT: ["v=DKIM1; k=rsa; p="] }),
    status: "wrong",
    publish: () => [key.record],
    detail: /revokes/,
  },
  {
    name: "dkim: record split into character-strings, with white space in p=",
    kind: "dkim",
    mutate: (z) => {
      const p = key.txt.slice(key.txt.indexOf("p=") + 2);
      const spaced = `v=DKIM1; k=rsa; p=${p.slice(0, 100)} ${p.slice(100)}`;
      z[`s1._domainkey.${DOMAIN}`] = { TXT: [[spaced.slice(0, 200), spaced.slice(200)]] };
    },
    status: "ok",
  },
  // ---- DMARC
  {
    name: "dmarc: no record",
    kind: "dmarc",
    mutate: setName(`_dmarc.${DOMAIN}`, undefined),
    status: "missing",
    publish: [`_dmarc.${DOMAIN}. IN TXT "v=DMARC1; p=none; rua=mailto:postmaster@${DOMAIN}"`],
  },
  {
    name: "dmarc: bad policy",
    kind: "dmarc",
    mutate: setName(`_dmarc.${DOMAIN}`, { TXT: ["v=DMARC1; p=bogus"] }),
    status: "wrong",
    publish: [`_dmarc.${DOMAIN}. IN TXT "v=DMARC1; p=none; rua=mailto:postmaster@${DOMAIN}"`],
    detail: /p=bogus/,
  },
  {
    name: "dmarc: no p= tag",
    kind: "dmarc",
    mutate: setName(`_dmarc.${DOMAIN}`, { TXT: ["v=DMARC1; rua=mailto:d@example.test"] }),
    status: "wrong",
    detail: /no p= policy tag/,
  },
  // ---- MTA-STS
  {
    name: "mta-sts: no record",
    kind: "mta-sts",
    mutate: setName(`_mta-sts.${DOMAIN}`, undefined),
    status: "missing",
    publish: [
      `_mta-sts.${DOMAIN}. IN TXT "v=STSv1; id=20250304050607"`,
      `; policy file https://mta-sts.${DOMAIN}/.well-known/mta-sts.txt`,
      `; (text/plain, over HTTPS with a certificate for mta-sts.${DOMAIN}):`,
      ";   version: STSv1",
      ";   mode: testing",
      `;   mx: ${HOST}`,
      ";   max_age: 604800",
    ],
  },
  {
    name: "mta-sts: no id",
    kind: "mta-sts",
    mutate: setName(`_mta-sts.${DOMAIN}`, { TXT: ["v=STSv1;"] }),
    status: "wrong",
    publish: [`_mta-sts.${DOMAIN}. IN TXT "v=STSv1; id=20250304050607"`],
  },
  {
    name: "mta-sts: two records",
    kind: "mta-sts",
    mutate: setName(`_mta-sts.${DOMAIN}`, { TXT: ["v=STSv1; id=1", "v=STSv1; id=2"] }),
    status: "wrong",
    detail: /2 MTA-STS records/,
  },
  // ---- TLS-RPT
  {
    name: "tls-rpt: no record",
    kind: "tls-rpt",
    mutate: setName(`_smtp._tls.${DOMAIN}`, undefined),
    status: "missing",
    publish: [`_smtp._tls.${DOMAIN}. IN TXT "v=TLSRPTv1; rua=mailto:postmaster@${DOMAIN}"`],
  },
  {
    name: "tls-rpt: rua that is not mailto: or https:",
    kind: "tls-rpt",
    mutate: setName(`_smtp._tls.${DOMAIN}`, { TXT: ["v=TLSRPTv1; rua=ftp://reports.test/"] }),
    status: "wrong",
    publish: [`_smtp._tls.${DOMAIN}. IN TXT "v=TLSRPTv1; rua=mailto:postmaster@${DOMAIN}"`],
  },
  {
    name: "tls-rpt: https reports",
    kind: "tls-rpt",
    mutate: setName(`_smtp._tls.${DOMAIN}`, {
      TXT: ["v=TLSRPTv1; rua=https://reports.example.test/tls"],
    }),
    status: "ok",
  },
];

describe("one record at a time", () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const r = await check(c.mutate, { addresses: c.addresses });
      const [got, ...more] = byKind(r, c.kind);
      expect(more).toEqual([]);
      expect(got.status).toBe(c.status);
      if (c.publish !== undefined) {
        expect(got.publish).toEqual(typeof c.publish === "function" ? c.publish() : c.publish);
      }
      if (c.detail) expect(got.detail).toMatch(c.detail);
      if (c.status !== "ok") expect(got.publish.length > 0 || c.kind === "spf").toBe(true);
      // Every other kind stays as the good zone has it.
      const others = r.checks.filter((x) => x.kind !== c.kind && x.status !== "ok");
      expect(others.map((x) => x.kind)).toEqual(c.also ?? []);
      expect(r.ok).toBe(c.status === "ok" && others.length === 0);
    });
  }
});

test("a lookup that fails is an ERROR, never OK or MISSING", async () => {
  const zone = goodZone();
  const dns = await startDnsServer(zone, { servfail: [`_dmarc.${DOMAIN}`, DOMAIN] });
  try {
    const r = await checkDeliverability(config(dns.server), {
      domains: [DOMAIN],
      fetchPolicy: false,
    });
    const status = Object.fromEntries(r.checks.map((c) => [c.kind, c.status]));
    expect(status).toMatchObject({ mx: "error", spf: "error", dmarc: "error", dkim: "ok" });
    expect(byKind(r, "dmarc")[0].detail).toMatch(/^cannot look up TXT of _dmarc\.example\.test: /);
    expect(r.ok).toBe(false);
  } finally {
    await dns.stop();
  }
});

test("a subdomain without its own DMARC record is covered by the organisational domain's", async () => {
  const r = await check(
    (z) => {
      z[`sub.${DOMAIN}`] = {
        MX: [{ preference: 10, exchange: HOST }],
        TXT: ["v=spf1 a:mail.example.test -all"],
      };
      z[`_dmarc.${DOMAIN}`] = { TXT: ["v=DMARC1; p=reject; sp=quarantine"] };
    },
    { domains: [`sub.${DOMAIN}`] },
  );
  const [d] = byKind(r, "dmarc");
  expect(d.status).toBe("ok");
  expect(d.detail).toBe(
    "no record of its own; _dmarc.example.test applies (policy quarantine for its subdomains)",
  );
});

test("implicit MX: no MX, but the domain's own address is ours", async () => {
  const r = await check(setDomain({ MX: undefined, A: [IP] }));
  expect(byKind(r, "mx")[0]).toMatchObject({ status: "ok", found: [] });
});

test("no DKIM key for the domain: MISSING, saying how to make one", async () => {
  const r = await check(null, { domains: ["other.test"] });
  const [d] = byKind(r, "dkim");
  expect(d.status).toBe("missing");
  expect(d.name).toBe("_domainkey.other.test");
  expect(d.detail).toContain('"posteix dkim keygen other.test"');
  expect(d.publish).toEqual([]);
});

test("domains from main.cf: localhost forms, tables and IP literals left out", () => {
  writeFileSync(join(dir, "vdomains"), "virtual.test x\n");
  const cfg = config(
    "127.0.0.1:1",
    [
      "mydestination = $myhostname, localhost.$mydomain, localhost, [192.0.2.1]",
      `virtual_mailbox_domains = Example.TEST, hash:${dir}/vdomains`,
      "virtual_alias_domains = alias.test",
      "relay_domains = relay.test",
      "myorigin = $mydomain",
    ].join("\n"),
  );
  const { domains, notes } = configuredDomains(cfg);
  expect(domains).toEqual([
    { name: HOST, roles: ["receive", "send"], sources: ["mydestination"] },
    {
      name: DOMAIN,
      roles: ["receive", "send"],
      sources: ["virtual_mailbox_domains", "myorigin"],
    },
    { name: "alias.test", roles: ["receive", "send"], sources: ["virtual_alias_domains"] },
    { name: "relay.test", roles: ["receive"], sources: ["relay_domains"] },
  ]);
  expect(notes).toEqual([
    `virtual_mailbox_domains: hash:${dir}/vdomains is a file or table; name its domains on the command line`,
  ]);
});

test("configured domains: relay domains get no sending checks, $myhostname no MTA-STS", async () => {
  const r = await check(null, {
    domains: [],
    extra: `mydestination = $myhostname\nvirtual_mailbox_domains = ${DOMAIN}\nrelay_domains = relay.test`,
  });
  const kinds = (d: string) => r.checks.filter((c) => c.domain === d).map((c) => c.kind);
  expect(kinds(HOST)).toEqual(["mx", "spf", "dkim", "dmarc"]);
  expect(kinds(DOMAIN)).toEqual(["mx", "spf", "dkim", "dmarc", "mta-sts", "tls-rpt"]);
  expect(kinds("relay.test")).toEqual(["mx", "mta-sts", "tls-rpt"]);
});

test("bad input: a domain or address that is not one", async () => {
  const cfg = config("127.0.0.1:1");
  await expect(checkDeliverability(cfg, { domains: ["no_dots"] })).rejects.toBeInstanceOf(
    DnsCheckInputError,
  );
  await expect(
    checkDeliverability(cfg, { domains: [DOMAIN], addresses: ["300.1.1.1"] }),
  ).rejects.toThrow("not an IP address: 300.1.1.1");
});

test("the text report: status, what, why, found and publish lines", async () => {
  const r = await check(setDomain({ TXT: ["v=spf1 ip4:192.0.2.0/24 -all"] }));
  const text = formatReport(r);
  expect(text).toContain(`posteix: deliverability of ${HOST}, sending from ${IP}\n`);
  expect(text).toContain(`\n${HOST} (this host)\n  OK       A/AAAA   ${HOST} resolves to ${IP}\n`);
  expect(text).toContain(
    [
      "  WRONG    SPF      does not authorise this host: fail for 127.0.0.1",
      '                   found:   "v=spf1 ip4:192.0.2.0/24 -all"',
      `                   publish: ${DOMAIN}. IN TXT "v=spf1 a:${HOST} ip4:192.0.2.0/24 -all"`,
    ].join("\n"),
  );
  expect(text).toEndWith("\nposteix: 1 problem (1 wrong) in 8 checks\n");
});

describe("posteix check --dns", () => {
  function io(configDir: string) {
    const out: string[] = [];
    const err: string[] = [];
    const cli: CliIO = {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      stdin: () => new ReadableStream(),
      configDir,
      progName: "posteix",
    };
    return { cli, out, err };
  }

  async function withConfigDir(zone: ZoneRecords, fn: (cdir: string) => Promise<void>) {
    const dns = await startDnsServer(zone);
    const cdir = join(dir, `cli-${Math.random().toString(36).slice(2)}`);
    mkdirSync(cdir);
    writeFileSync(
      join(cdir, "main.cf"),
      [
        `queue_directory = ${cdir}/data`,
        `dkim_key_directory = ${dir}/dkim`,
        `myhostname = ${HOST}`,
        `mydestination = $myhostname`,
        `virtual_mailbox_domains = ${DOMAIN}`,
        `dns_servers = ${dns.server}`,
      ].join("\n"),
    );
    try {
      await fn(cdir);
    } finally {
      await dns.stop();
    }
  }

  test("all OK: exit 0; the configured domains are checked", async () => {
    const zone = goodZone();
    zone[HOST] = {
      A: [IP],
      MX: [{ preference: 10, exchange: HOST }],
      TXT: [`v=spf1 a -all`],
    };
    await withConfigDir(zone, async (cdir) => {
      const { cli, out, err } = io(cdir);
      const code = await checkCommand(["--dns", "--no-policy-fetch"], cli);
      expect(err.join("")).toBe("");
      expect(code).toBe(0);
      expect(out.join("")).toContain(
        `\n${DOMAIN} (receives, sends; from virtual_mailbox_domains)\n`,
      );
      expect(out.join("")).toEndWith("posteix: all 12 checks OK\n");
    });
  });

  test("a problem: exit 1; --json gives the API's shape; --address is used", async () => {
    const zone = goodZone();
    delete zone[`_smtp._tls.${DOMAIN}`];
    await withConfigDir(zone, async (cdir) => {
      const { cli, out } = io(cdir);
      const code = await checkCommand(
        ["--dns", "--json", "--no-policy-fetch", "--address", IP, DOMAIN],
        cli,
      );
      expect(code).toBe(1);
      const report = JSON.parse(out.join("")) as DnsCheckReport;
      expect(report.ok).toBe(false);
      expect(report.addresses).toEqual([IP]);
      expect(report.domains).toEqual([
        { name: DOMAIN, roles: ["receive", "send"], sources: ["command line"] },
      ]);
      expect(report.checks.filter((c) => c.status !== "ok").map((c) => c.kind)).toEqual([
        "tls-rpt",
      ]);
    });
  });

  test("usage errors: exit 64", async () => {
    await withConfigDir(goodZone(), async (cdir) => {
      const a = io(cdir);
      expect(await checkCommand(["--dns", "--bogus"], a.cli)).toBe(64);
      expect(a.err.join("")).toContain("usage: posteix [-c config_dir] check --dns");
      const b = io(cdir);
      expect(await checkCommand(["--dns", "--address", "nope", DOMAIN], b.cli)).toBe(64);
      expect(b.err.join("")).toContain("not an IP address: nope");
    });
  });
});

describe("MTA-STS policy files", () => {
  test("parse", () => {
    expect(
      parseStsPolicy(
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmx: *.backup.test\r\nmax_age: 86400\r\n",
      ),
    ).toEqual({ mode: "enforce", mx: ["mail.example.test", "*.backup.test"], maxAge: 86400 });
    expect(() => parseStsPolicy("version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1")).toThrow(
      "version is not STSv1",
    );
    expect(() => parseStsPolicy("version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1")).toThrow(
      'mode "strict"',
    );
    expect(() => parseStsPolicy("version: STSv1\nmode: testing\nmax_age: 1")).toThrow("no mx:");
    expect(() => parseStsPolicy("version: STSv1\nmode: testing\nmx: a.test")).toThrow("max_age");
  });

  test("mx patterns", () => {
    const table: [string, string, boolean][] = [
      ["mail.example.test", "mail.example.test.", true],
      ["*.example.test", "mail.example.test", true],
      ["*.example.test", "a.mail.example.test", false],
      ["*.example.test", "example.test", false],
      ["mail.example.test", "mx.example.test", false],
    ];
    for (const [pattern, host, want] of table) expect(stsMxMatches(pattern, host)).toBe(want);
  });
});
