import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  checkSenderLogin,
  type SenderLoginCheck,
  senderLoginMaps,
} from "../../src/auth/login-maps.ts";
import { loadConfig } from "../../src/config/index.ts";

const dir = mkdtempSync(join(tmpdir(), "posteix-login-maps-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

writeFileSync(
  join(dir, "senders"),
  [
    "alice@example.com      alice@example.com",
    "sales@example.com      alice@example.com, bob@example.com",
    "@example.org           carol",
    "postmaster             root",
    "",
  ].join("\n"),
);

function config(mainCf: string) {
  const d = mkdtempSync(join(dir, "cfg-"));
  writeFileSync(join(d, "main.cf"), `queue_directory = ${join(d, "q")}\n${mainCf}`);
  return loadConfig({ configDir: d, env: {}, hostname: "mail.example.net" });
}

const notOwned = (sender: string, user: string) => ({
  code: 553,
  enhanced: "5.7.1",
  text: `<${sender}>: Sender address rejected: not owned by user ${user}`,
});
const notLoggedIn = (sender: string) => ({
  code: 553,
  enhanced: "5.7.1",
  text: `<${sender}>: Sender address rejected: not logged in`,
});

describe("with smtpd_sender_login_maps (Postfix semantics)", () => {
  const cfg = config(
    `smtpd_sender_login_maps = texthash:${join(dir, "senders")}\nrecipient_delimiter = +\n`,
  );
  const maps = senderLoginMaps(cfg);

  test("owners: address, extension, @domain, local part for local domains", () => {
    expect(maps.fallback).toBe(false);
    expect(maps.owners("alice@example.com")).toEqual(["alice@example.com"]);
    expect(maps.owners("Alice+news@Example.com")).toEqual(["alice@example.com"]);
    expect(maps.owners("sales@example.com")).toEqual(["alice@example.com", "bob@example.com"]);
    expect(maps.owners("anyone@example.org")).toEqual(["carol"]);
    expect(maps.owners("postmaster@mail.example.net")).toEqual(["root"]);
    expect(maps.owners("postmaster@elsewhere.example")).toBeNull();
    expect(maps.owners("dave@example.com")).toBeNull();
  });

  const A = "reject_authenticated_sender_login_mismatch";
  const U = "reject_unauthenticated_sender_login_mismatch";
  const S = "reject_sender_login_mismatch";
  const K = "reject_known_sender_login_mismatch";
  test.each([
    // check, sender, login, reply
    [A, "alice@example.com", "alice@example.com", null],
    [A, "sales@example.com", "BOB@example.com", null],
    [A, "sales@example.com", "carol", notOwned("sales@example.com", "carol")],
    [A, "dave@example.com", "alice@example.com", notOwned("dave@example.com", "alice@example.com")],
    [A, "alice@example.com", null, null],
    [A, "", "carol", null],
    [U, "alice@example.com", null, notLoggedIn("alice@example.com")],
    [U, "dave@example.com", null, null],
    [U, "alice@example.com", "carol", null],
    [S, "alice@example.com", null, notLoggedIn("alice@example.com")],
    [S, "alice@example.com", "carol", notOwned("alice@example.com", "carol")],
    [S, "dave@example.com", "carol", notOwned("dave@example.com", "carol")],
    [S, "dave@example.com", null, null],
    [K, "dave@example.com", "carol", null],
    [K, "sales@example.com", "carol", notOwned("sales@example.com", "carol")],
    [K, "x@example.org", null, notLoggedIn("x@example.org")],
    [K, "x@example.org", "carol", null],
  ] as [SenderLoginCheck, string, string | null, object | null][])(
    "%s %s as %s",
    (check, sender, login, want) => {
      expect(checkSenderLogin(check, sender, login, maps)).toEqual(want as never);
    },
  );
});

describe("without smtpd_sender_login_maps (posteix fallback: a login owns its own address)", () => {
  const logins = new Set(["alice@example.com", "bob"]);
  const maps = senderLoginMaps(config("recipient_delimiter = +\n"), {
    isLogin: (n) => logins.has(n),
  });

  test.each([
    ["reject_authenticated_sender_login_mismatch", "alice@example.com", "alice@example.com", null],
    [
      "reject_authenticated_sender_login_mismatch",
      "Alice+x@example.com",
      "alice@example.com",
      null,
    ],
    [
      "reject_authenticated_sender_login_mismatch",
      "carol@example.com",
      "alice@example.com",
      notOwned("carol@example.com", "alice@example.com"),
    ],
    [
      "reject_authenticated_sender_login_mismatch",
      "bob@example.com",
      "bob",
      notOwned("bob@example.com", "bob"),
    ],
    ["reject_known_sender_login_mismatch", "carol@example.com", "alice@example.com", null],
    [
      "reject_known_sender_login_mismatch",
      "alice@example.com",
      "bob",
      notOwned("alice@example.com", "bob"),
    ],
    [
      "reject_unauthenticated_sender_login_mismatch",
      "alice@example.com",
      null,
      notLoggedIn("alice@example.com"),
    ],
    ["reject_unauthenticated_sender_login_mismatch", "carol@example.com", null, null],
  ] as [SenderLoginCheck, string, string | null, object | null][])(
    "%s %s as %s",
    (check, sender, login, want) => {
      expect(maps.fallback).toBe(true);
      expect(checkSenderLogin(check, sender, login, maps)).toEqual(want as never);
    },
  );
});
