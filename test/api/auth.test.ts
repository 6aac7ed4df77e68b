/**
 * Access: token file generation (mode 0600), bearer token checks, the open endpoints,
 * metrics_public, token changes picked up without a restart, 503 while stopping, the error
 * format, and TLS with a certificate from the context.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startApi } from "../../src/api/index.ts";
import { json, startFixture, stopAll } from "./helpers.ts";

afterAll(stopAll);

describe("api access", () => {
  test("generates a 0600 token file on first start and accepts its token", async () => {
    const f = await startFixture();
    expect(f.api.tokenFile).toBe(join(f.dir, "data", "api-tokens"));
    expect(statSync(f.api.tokenFile).mode & 0o777).toBe(0o600);
    const text = readFileSync(f.api.tokenFile, "utf8");
    expect(text).toMatch(/^# .*\n[A-Za-z0-9_-]{43}\n$/);
    expect(f.token).toHaveLength(43);
    const res = await f.call("/api/v1/queue/summary");
    expect(res.status).toBe(200);
    await f.stop();
  });

  test("refuses missing, malformed and wrong tokens with 401 and WWW-Authenticate", async () => {
    const f = await startFixture();
    const cases: [Record<string, string>, string][] = [
      [{}, "missing bearer token (Authorization: Bearer TOKEN)"],
      [
        { authorization: `Basic ${btoa("a:b")}` },
        "missing bearer token (Authorization: Bearer TOKEN)",
      ],
      [{ authorization: "Bearer" }, "missing bearer token (Authorization: Bearer TOKEN)"],
      [{ authorization: `Bearer ${f.token}x` }, "invalid token"],
      [{ authorization: `Bearer ${f.token.slice(1)}` }, "invalid token"],
      [{ authorization: "Bearer #" }, "invalid token"],
    ];
    for (const [headers, message] of cases) {
      for (const path of ["/api/v1/queue", "/api/v1/stats", "/metrics", "/api/v1/openapi.json"]) {
        const res = await fetch(`${f.base}${path}`, { headers });
        expect(res.status).toBe(401);
        expect(res.headers.get("www-authenticate")).toBe('Bearer realm="posteix"');
        expect(res.headers.get("content-type")).toStartWith("application/json");
        expect(await res.json()).toEqual({ error: { code: "unauthorized", message } });
      }
    }
    // The scheme name is case-insensitive (RFC 7235 2.1).
    const ok = await fetch(`${f.base}/api/v1/queue`, {
      headers: { authorization: `bearer ${f.token}` },
    });
    expect(ok.status).toBe(200);
    // POSTs are refused before anything happens.
    const post = await fetch(`${f.base}/api/v1/queue/delete?all=true`, { method: "POST" });
    expect(post.status).toBe(401);
    await f.stop();
  });

  test("health needs no token; metrics only with metrics_public", async () => {
    const f = await startFixture();
    const h = await fetch(`${f.base}/api/v1/health`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: "ok" });
    expect((await fetch(`${f.base}/metrics`)).status).toBe(401);
    f.writeMainCf("metrics_public = yes");
    const r = await f.call("/api/v1/reload", { method: "POST" });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ reloaded: true });
    const m = await fetch(`${f.base}/metrics`);
    expect(m.status).toBe(200);
    expect(await m.text()).toContain("# TYPE posteix_queue_messages gauge");
    // Other endpoints still need the token.
    expect((await fetch(`${f.base}/api/v1/stats`)).status).toBe(401);
    await f.stop();
  });

  test("token file edits take effect without a restart; comments and blank lines are ignored", async () => {
    const f = await startFixture();
    writeFileSync(f.api.tokenFile, `# ops\n\n  second-token  \n# retired: ${f.token}\nthird\n`, {
      mode: 0o600,
    });
    // The file is looked at again at most once a second.
    const deadline = Date.now() + 5000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (
        await fetch(`${f.base}/api/v1/queue`, { headers: { authorization: "Bearer second-token" } })
      ).status;
      if (status === 200) break;
      await Bun.sleep(100);
    }
    expect(status).toBe(200);
    expect(
      (await fetch(`${f.base}/api/v1/queue`, { headers: { authorization: "Bearer third" } }))
        .status,
    ).toBe(200);
    expect((await f.call("/api/v1/queue")).status).toBe(401);
    await f.stop();
  });

  test("an existing token file is kept as it is", async () => {
    const f = await startFixture();
    const before = readFileSync(f.api.tokenFile, "utf8");
    await f.api.reconfigure();
    expect(readFileSync(f.api.tokenFile, "utf8")).toBe(before);
    await f.stop();
  });

  test("503 while stopping, for every endpoint, health included", async () => {
    const f = await startFixture();
    f.setStopping(true);
    for (const path of ["/api/v1/health", "/api/v1/queue", "/metrics"]) {
      const res = await f.call(path);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("10");
      expect(await res.json()).toEqual({
        error: { code: "unavailable", message: "posteix is stopping" },
      });
    }
    f.setStopping(false);
    expect((await f.call("/api/v1/queue")).status).toBe(200);
    await f.stop();
  });

  test("unknown endpoints and methods are JSON 404s", async () => {
    const f = await startFixture();
    const res = await f.call("/api/v1/nope");
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({
      error: { code: "not_found", message: "no such endpoint: GET /api/v1/nope" },
    });
    expect((await f.call("/api/v1/queue", { method: "PUT" })).status).toBe(404);
    await f.stop();
  });

  test("serves HTTPS with the certificate the context provides when api_tls = yes", async () => {
    const f = await startFixture();
    const { cert, key } = await selfSigned();
    const dir = f.dir;
    f.writeMainCf("api_tls = yes");
    const cfgTls = (await import("../../src/config/index.ts")).loadConfig({
      configDir: dir,
      env: {},
      hostname: "mail.example.com",
    });
    const api = await startApi({ ...f.ctx, config: () => cfgTls, tls: () => ({ cert, key }) });
    try {
      expect(api.url).toStartWith("https://127.0.0.1:");
      const res = await fetch(`${api.url}/api/v1/health`, { tls: { rejectUnauthorized: false } });
      expect(res.status).toBe(200);
      // Without a certificate the API refuses to start rather than serve plain HTTP.
      await expect(startApi({ ...f.ctx, config: () => cfgTls, tls: () => null })).rejects.toThrow(
        "api_tls = yes, but there is no smtpd certificate",
      );
    } finally {
      await api.stop();
      await f.stop();
    }
  });
});

async function selfSigned(): Promise<{ cert: string; key: string }> {
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(globalThis.crypto);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=localhost",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: alg,
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const b64 = Buffer.from(pkcs8)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n");
  return {
    cert: cert.toString("pem"),
    key: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`,
  };
}
