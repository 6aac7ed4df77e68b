import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthLockout, lockoutKey } from "../../src/auth/lockout.ts";
import { createSmtpdAuth } from "../../src/auth/smtpd-auth.ts";
import { loadConfig } from "../../src/config/index.ts";
import { onLog } from "../../src/log/index.ts";
import { openQueue, type QueueStore } from "../../src/queue/index.ts";
import type { AuthResult, SessionView } from "../../src/smtpd/types.ts";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

let dir: string;
let queue: QueueStore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "posteix-auth-"));
  queue = openQueue({ directory: join(dir, "queue") });
  queue.users.add("alice@example.com", await Bun.password.hash("s3cret", "argon2id"));
});

afterAll(() => {
  queue.close();
  rmSync(dir, { recursive: true, force: true });
});

function view(addr: string, tls = true): SessionView {
  return {
    service: "submission",
    client: {
      addr,
      port: 40000,
      name: "unknown",
      nameStatus: "perm",
      reverseName: "unknown",
      reverseStatus: "perm",
    },
    helo: "client.example",
    tls: tls ? { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", bits: 256 } : null,
    saslUser: null,
  };
}

function captureSmtpd(): { lines: string[]; stop: () => void } {
  const lines: string[] = [];
  const stop = onLog((program, severity, text) => {
    if (program === "posteix/smtpd") lines.push(`${severity}: ${text}`);
  });
  return { lines, stop };
}

/** A client that answers each 334 with the next scripted line; records the challenges. */
function script(lines: string[]) {
  const challenges: string[] = [];
  let i = 0;
  return {
    challenges,
    exchange: async (challenge: string) => {
      challenges.push(challenge);
      const line = lines[i++];
      if (line === undefined) throw new Error("no more lines");
      return line;
    },
  };
}

describe("createSmtpdAuth", () => {
  test("success, failure, abort; Postfix's log lines; mechanisms only over TLS", async () => {
    const log = captureSmtpd();
    try {
      const auth = createSmtpdAuth({
        users: queue.users,
        tlsAuthOnly: true,
        hostname: "mx.example.com",
      });
      expect(auth.mechanisms(view("192.0.2.1"))).toEqual(["PLAIN", "LOGIN"]);
      expect(auth.mechanisms(view("192.0.2.1", false))).toEqual([]);

      let s = script([]);
      expect(
        await auth.authenticate(
          view("192.0.2.1"),
          "PLAIN",
          b64("\0alice@example.com\0s3cret"),
          s.exchange,
        ),
      ).toEqual({ ok: true, user: "alice@example.com", method: "PLAIN" });

      s = script([b64("alice@example.com"), b64("wrong")]);
      expect(await auth.authenticate(view("192.0.2.1"), "login", undefined, s.exchange)).toEqual({
        ok: false,
        reply: {
          code: 535,
          enhanced: "5.7.8",
          text: "Error: authentication failed: authentication failure",
        },
      });
      expect(s.challenges).toEqual(["VXNlcm5hbWU6", "UGFzc3dvcmQ6"]);

      s = script(["*"]);
      expect(await auth.authenticate(view("192.0.2.1"), "PLAIN", undefined, s.exchange)).toEqual({
        ok: false,
        reply: { code: 501, enhanced: "5.7.0", text: "Authentication aborted" },
      });

      s = script([]);
      expect(
        await auth.authenticate(view("192.0.2.1", false), "PLAIN", b64("\0a\0b"), s.exchange),
      ).toEqual({
        ok: false,
        reply: {
          code: 504,
          enhanced: "5.5.4",
          text: "Encryption required for requested authentication mechanism",
        },
      });

      expect(log.lines).toEqual([
        "warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: authentication failure",
        "warning: unknown[192.0.2.1]: SASL PLAIN authentication aborted",
      ]);
      // Matches fail2ban's postfix-sasl filter (its "(?i)" spelled out for JavaScript).
      const fail2ban =
        /warning: [-._\w]+\[(?<host>[^\]]+)\]: SASL (LOGIN|PLAIN|(?:CRAM|DIGEST)-MD5) authentication failed(?:: [ A-Za-z0-9+/:]*={0,2})?\s*$/;
      expect(fail2ban.exec(log.lines[0])?.groups?.host).toBe("192.0.2.1");
    } finally {
      log.stop();
    }
  });

  test("lockout after $smtpd_auth_failure_limit failures, per address, then 421", async () => {
    let now = 1_000_000;
    const lockout = new AuthLockout({
      limit: 3,
      windowMs: 600_000,
      lockoutMs: 600_000,
      now: () => now,
    });
    const auth = createSmtpdAuth({
      users: queue.users,
      tlsAuthOnly: false,
      hostname: "mx.example.com",
      lockout,
    });
    const log = captureSmtpd();
    try {
      const bad = () =>
        auth.authenticate(
          view("198.51.100.7"),
          "PLAIN",
          b64("\0alice@example.com\0guess"),
          script([]).exchange,
        );
      const good = (addr: string) =>
        auth.authenticate(
          view(addr),
          "PLAIN",
          b64("\0alice@example.com\0s3cret"),
          script([]).exchange,
        );
      expect((await bad()) as unknown).toMatchObject({ ok: false, reply: { code: 535 } });
      expect((await bad()) as unknown).toMatchObject({ ok: false, reply: { code: 535 } });
      const locked: AuthResult = {
        ok: false,
        reply: {
          code: 421,
          enhanced: "4.7.0",
          text: "mx.example.com Error: too many AUTH failures",
          close: true,
        },
      };
      expect(await bad()).toEqual(locked);
      // Even the right password is refused now, without being checked.
      expect(await good("198.51.100.7")).toEqual(locked);
      // Other clients are not affected.
      expect((await good("198.51.100.8")).ok).toBe(true);
      expect(log.lines.slice(-3)).toEqual([
        "warning: unknown[198.51.100.7]: SASL PLAIN authentication failed: authentication failure",
        "warning: unknown[198.51.100.7]: too many AUTH failures (3 within 600s): AUTH refused for 600s",
        "warning: unknown[198.51.100.7]: AUTH refused: too many AUTH failures",
      ]);
      now += 600_001;
      expect((await good("198.51.100.7")).ok).toBe(true);
      expect(lockout.size).toBe(0);
    } finally {
      log.stop();
    }
  });
});

describe("AuthLockout", () => {
  test("window, success reset, disabled at 0", () => {
    let now = 0;
    const l = new AuthLockout({ limit: 3, windowMs: 100, lockoutMs: 1000, now: () => now });
    expect(l.recordFailure("192.0.2.1")).toEqual({ locked: false, failures: 1 });
    expect(l.recordFailure("192.0.2.1")).toEqual({ locked: false, failures: 2 });
    now = 101; // outside the window: counting starts again
    expect(l.recordFailure("192.0.2.1")).toEqual({ locked: false, failures: 1 });
    l.recordSuccess("192.0.2.1");
    expect(l.recordFailure("192.0.2.1")).toEqual({ locked: false, failures: 1 });
    l.recordFailure("192.0.2.1");
    expect(l.recordFailure("192.0.2.1")).toEqual({ locked: true, failures: 3 });
    expect(l.lockedUntil("192.0.2.1")).toBe(1101);
    expect(l.lockedUntil("::ffff:192.0.2.1")).toBe(1101);
    now = 1101;
    expect(l.lockedUntil("192.0.2.1")).toBeNull();

    const off = new AuthLockout({ limit: 0, windowMs: 100, lockoutMs: 100 });
    for (let i = 0; i < 10; i++) off.recordFailure("192.0.2.1");
    expect(off.lockedUntil("192.0.2.1")).toBeNull();
    expect(off.size).toBe(0);
  });

  test("fromConfig: $smtpd_auth_failure_limit within and for $smtpd_auth_lockout_time", () => {
    const d = mkdtempSync(join(dir, "cfg-"));
    writeFileSync(
      join(d, "main.cf"),
      "smtpd_auth_failure_limit = 7\nsmtpd_auth_lockout_time = 2m\n",
    );
    const l = AuthLockout.fromConfig(loadConfig({ configDir: d, env: {}, hostname: "mx.example" }));
    expect([l.limit, l.windowMs, l.lockoutMs]).toEqual([7, 120_000, 120_000]);
  });

  test("reconfigure (reload): new limit and time from the next failure on, counts kept", () => {
    const cfg = (text: string) => {
      const d = mkdtempSync(join(dir, "cfg-"));
      writeFileSync(join(d, "main.cf"), text);
      return loadConfig({ configDir: d, env: {}, hostname: "mx.example" });
    };
    const now = 0;
    const l = AuthLockout.fromConfig(
      cfg("smtpd_auth_failure_limit = 5\nsmtpd_auth_lockout_time = 10m\n"),
      { now: () => now },
    );
    l.recordFailure("192.0.2.7");
    l.recordFailure("192.0.2.7");
    l.reconfigure(cfg("smtpd_auth_failure_limit = 3\nsmtpd_auth_lockout_time = 1m\n"));
    expect([l.limit, l.windowMs, l.lockoutMs]).toEqual([3, 60_000, 60_000]);
    // The two failures before the reload still count: the third locks out, for the new time.
    expect(l.recordFailure("192.0.2.7")).toEqual({ locked: true, failures: 3 });
    expect(l.lockedUntil("192.0.2.7")).toBe(60_000);
    // A reload does not lift a lockout in force.
    l.reconfigure(cfg("smtpd_auth_failure_limit = 10\n"));
    expect(l.lockedUntil("192.0.2.7")).toBe(60_000);
  });

  test("IPv6 clients are counted per /64", () => {
    expect(lockoutKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(lockoutKey("2001:db8:1:2::ffff")).toBe("2001:db8:1:2::/64");
    expect(lockoutKey("[IPv6:2001:DB8::1]")).toBe("2001:db8:0:0::/64");
    expect(lockoutKey("::1")).toBe("0:0:0:0::/64");
    const l = new AuthLockout({ limit: 2, windowMs: 1000, lockoutMs: 1000 });
    l.recordFailure("2001:db8:1:2::1");
    expect(l.recordFailure("2001:db8:1:2::99").locked).toBe(true);
    expect(l.lockedUntil("2001:db8:1:3::1")).toBeNull();
  });

  test("memory stays bounded under a flood of addresses", () => {
    const l = new AuthLockout({ limit: 5, windowMs: 60_000, lockoutMs: 60_000, maxClients: 1000 });
    l.recordFailure("203.0.113.1");
    for (let i = 0; i < 20_000; i++)
      l.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(l.size).toBe(1000);
    // the stalest entries went first
    expect(l.recordFailure("203.0.113.1").failures).toBe(1);
  });
});
