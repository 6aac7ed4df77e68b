/**
 * The dashboard on the API listener: its assets (up to date with src/ui/app, small, served
 * without a token under a strict CSP, revalidated by ETag), and the two endpoints it added to
 * the API: GET /api/v1/config and GET /api/v1/dns-check (against a real DNS server).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { APP_CSS, APP_JS, INDEX_HTML } from "../../src/ui/assets.gen.ts";
import { assetsModule, buildUi } from "../../src/ui/build.ts";
import { json, startFixture, stopAll } from "../api/helpers.ts";
import { startDnsServer } from "../helpers/dns-server.ts";

afterAll(stopAll);

describe("assets", () => {
  test("src/ui/assets.gen.ts is what src/ui/build.ts makes of src/ui/app (run it if not)", async () => {
    const built = await buildUi();
    expect({ html: INDEX_HTML, js: APP_JS, css: APP_CSS }).toEqual(built);
    const text = await Bun.file(`${import.meta.dir}/../../src/ui/assets.gen.ts`).text();
    expect(text).toBe(assetsModule(built));
  });

  test("the whole dashboard stays small and loads nothing from elsewhere", () => {
    const total = INDEX_HTML.length + APP_JS.length + APP_CSS.length;
    expect(total).toBeLessThan(200 * 1024);
    expect(INDEX_HTML).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(APP_CSS).not.toMatch(/url\(|@import/);
  });

  test("served without a token, with a strict CSP; ETag revalidation; /ui and / redirect", async () => {
    const f = await startFixture();
    const page = await fetch(`${f.base}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toStartWith(
      "default-src 'none'; script-src 'self'; style-src 'self';",
    );
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    expect(await page.text()).toBe(INDEX_HTML);

    const js = await fetch(`${f.base}/ui/app.js?v=1`);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await js.text()).toBe(APP_JS);
    const etag = js.headers.get("etag")!;
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    const again = await fetch(`${f.base}/ui/app.js`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    const css = await fetch(`${f.base}/ui/app.css`);
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(await css.text()).toBe(APP_CSS);

    const bare = await fetch(`${f.base}/ui`, { redirect: "manual" });
    expect(bare.status).toBe(308);
    expect(bare.headers.get("location")).toBe("/ui/");
    const root = await fetch(`${f.base}/`, { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/ui/");

    const missing = await fetch(`${f.base}/ui/nope.js`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: { code: "not_found", message: "no such file: /ui/nope.js" },
    });
    // Only reading the assets is open; anything else still needs the token.
    expect((await fetch(`${f.base}/ui/`, { method: "POST" })).status).toBe(401);
    expect((await fetch(`${f.base}/api/v1/queue`)).status).toBe(401);
    await f.stop();
  });
});

describe("GET /api/v1/config", () => {
  test("postconf -n and -M, sorted, secrets hidden, token required", async () => {
    const f = await startFixture({
      mainCf: [
        "relayhost = [smarthost.example.net]:587",
        "webhook_secret = s3cret",
        "smtpd_banner = $myhostname ESMTP",
      ].join("\n"),
    });
    expect((await fetch(`${f.base}/api/v1/config`)).status).toBe(401);
    const res = await f.call("/api/v1/config");
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.config_directory).toBe(f.dir);
    expect(body.main_cf).toBe(`${f.dir}/main.cf`);
    const names = body.parameters.map((p: { name: string }) => p.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual([
      "api_listen",
      "data_directory",
      "mydomain",
      "myhostname",
      "queue_directory",
      "relayhost",
      "smtpd_banner",
      "webhook_secret",
    ]);
    const byName = Object.fromEntries(body.parameters.map((p: { name: string }) => [p.name, p]));
    expect(byName.webhook_secret).toEqual({
      name: "webhook_secret",
      value: "(hidden)",
      expanded: "(hidden)",
    });
    expect(byName.smtpd_banner).toEqual({
      name: "smtpd_banner",
      value: "$myhostname ESMTP",
      expanded: "mail.example.com ESMTP",
    });
    expect(Array.isArray(body.services)).toBe(true);
    for (const s of body.services) {
      expect(Object.keys(s).sort()).toEqual([
        "args",
        "chroot",
        "command",
        "maxproc",
        "name",
        "overrides",
        "private",
        "type",
        "unpriv",
        "wakeup",
      ]);
    }
    await f.stop();
  });
});

describe("GET /api/v1/dns-check", () => {
  test("the report of the named domains; 400 on bad input; token required", async () => {
    const dns = await startDnsServer({
      "mail.example.com": { A: ["127.0.0.1"] },
      "1.0.0.127.in-addr.arpa": { PTR: ["mail.example.com"] },
      "example.org": {
        MX: [{ preference: 10, exchange: "mail.example.com" }],
        TXT: ["v=spf1 ip4:127.0.0.1 -all"],
      },
      "_dmarc.example.org": { TXT: ["v=DMARC1; p=none"] },
    });
    const f = await startFixture({ mainCf: `dns_servers = ${dns.server}` });
    try {
      expect((await fetch(`${f.base}/api/v1/dns-check`)).status).toBe(401);
      const res = await f.call("/api/v1/dns-check?domain=example.org&fetch_policy=false");
      expect(res.status).toBe(200);
      const r = await json(res);
      expect(r.hostname).toBe("mail.example.com");
      expect(r.addresses).toEqual(["127.0.0.1"]);
      expect(r.domains).toEqual([
        { name: "example.org", roles: ["receive", "send"], sources: ["request"] },
      ]);
      const status = Object.fromEntries(
        r.checks.map((c: { kind: string; status: string }) => [c.kind, c.status]),
      );
      expect(status).toEqual({
        address: "ok",
        ptr: "ok",
        mx: "ok",
        spf: "ok",
        dkim: "missing",
        dmarc: "ok",
        "mta-sts": "missing",
        "tls-rpt": "missing",
      });
      expect(r.ok).toBe(false);
      const tlsrpt = r.checks.find((c: { kind: string }) => c.kind === "tls-rpt");
      expect(tlsrpt.publish).toEqual([
        '_smtp._tls.example.org. IN TXT "v=TLSRPTv1; rua=mailto:postmaster@example.org"',
      ]);

      const two = await json(
        await f.call("/api/v1/dns-check?domain=example.org,example.net&address=127.0.0.1"),
      );
      expect(two.domains.map((d: { name: string }) => d.name)).toEqual([
        "example.org",
        "example.net",
      ]);

      const bad = await f.call("/api/v1/dns-check?domain=no_such");
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({
        error: { code: "invalid_request", message: "not a domain name: no_such" },
      });
      const badIp = await f.call("/api/v1/dns-check?domain=example.org&address=1.2.3");
      expect(badIp.status).toBe(400);
    } finally {
      await f.stop();
      await dns.stop();
    }
  });
});
