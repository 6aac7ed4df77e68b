import { describe, expect, test } from "bun:test";
import {
  asctime,
  formatJsonEntry,
  formatMailqEntry,
  formatMailqSummary,
  MAILQ_HEADER,
  printable,
  quote822Local,
  quoteForJson,
  showqRecipients,
} from "../../src/cli/queue-format.ts";
import type { MessageRecord, RecipientRecord, RecipientStatus } from "../../src/queue/types.ts";

const UTC = { timeZone: "UTC" };

function rcpt(
  index: number,
  address: string,
  status: RecipientStatus = "pending",
  diagnostic: string | null = null,
  original: string | null = null,
): RecipientRecord {
  return {
    index,
    address,
    original,
    orcpt: null,
    notify: [],
    status,
    dsn: null,
    diagnostic,
    relay: null,
    updatedAt: null,
  };
}

function msg(over: Partial<MessageRecord>): MessageRecord {
  return {
    id: "4A1B2C3D4E5F",
    state: "incoming",
    sender: "alice@example.com",
    size: 1234,
    arrivalTime: Date.parse("2026-11-28T10:00:00Z"),
    nextAttempt: null,
    attempts: 0,
    reason: null,
    envid: null,
    ret: null,
    bodyType: null,
    smtputf8: false,
    client: null,
    messageId: null,
    origin: "smtpd",
    warnedAt: null,
    recipients: [rcpt(0, "bob@example.org")],
    ...over,
  };
}

describe("asctime", () => {
  test.each([
    ["2026-11-28T10:00:00Z", "Sat Nov 28 10:00:00 2026"],
    ["2026-11-08T09:05:07Z", "Sun Nov  8 09:05:07 2026"],
    ["2000-02-29T23:59:59Z", "Tue Feb 29 23:59:59 2000"],
    ["1970-01-01T00:00:00Z", "Thu Jan  1 00:00:00 1970"],
  ])("%s", (iso, want) => {
    expect(asctime(Date.parse(iso), UTC)).toBe(want);
  });

  test("time zones", () => {
    const t = Date.parse("2026-11-28T10:00:00Z");
    expect(asctime(t, { timeZone: "America/New_York" })).toBe("Sat Nov 28 05:00:00 2026");
    expect(asctime(t, { timeZone: "Asia/Tokyo" })).toBe("Sat Nov 28 19:00:00 2026");
  });

  test("local time follows TZ like the C library", () => {
    const saved = process.env.TZ;
    try {
      process.env.TZ = "UTC";
      expect(asctime(Date.parse("2026-11-28T10:00:00Z"))).toBe("Sat Nov 28 10:00:00 2026");
      process.env.TZ = "Europe/Paris";
      expect(asctime(Date.parse("2026-11-28T10:00:00Z"))).toBe("Sat Nov 28 11:00:00 2026");
    } finally {
      process.env.TZ = saved;
    }
  });
});

describe("addresses", () => {
  test.each([
    ["bob@example.org", "bob@example.org"],
    ["john doe@example.org", '"john doe"@example.org'],
    ['a"b@example.org', '"a\\"b"@example.org'],
    ["a..b@example.org", '"a..b"@example.org'],
    [".a@example.org", '".a"@example.org'],
    ["a.@example.org", '"a."@example.org'],
    ["a(b)@example.org", '"a(b)"@example.org'],
    ["@relay.example:bob@example.org", "@relay.example:bob@example.org"],
    ["@relay.example:b c@example.org", '@relay.example:"b c"@example.org'],
    ["jörg@example.de", "jörg@example.de"],
    ["postmaster", "postmaster"],
    ["", '""'],
  ])("quote822Local(%j)", (input, want) => {
    expect(quote822Local(input)).toBe(want);
  });

  test("printable replaces control characters", () => {
    expect(printable("a\x01b\x7fc\td")).toBe("a?b?c?d");
    expect(printable("plain ü")).toBe("plain ü");
  });

  test("quoteForJson", () => {
    expect(quoteForJson('a"b\\c')).toBe('a\\"b\\\\c');
    expect(quoteForJson("a\nb\tc\rd\be\ff\x01g\x7f")).toBe("a\\nb\\tc\\rd\\be\\ff\\u0001g\\u007F");
    expect(quoteForJson("ü")).toBe("ü");
  });
});

describe("mailq entries (showq_compat.c)", () => {
  test("header line", () => {
    expect(MAILQ_HEADER).toBe(
      "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n",
    );
  });

  test("incoming message with two recipients", () => {
    const m = msg({ recipients: [rcpt(0, "bob@example.org"), rcpt(1, "carol@example.org")] });
    expect(formatMailqEntry(m, UTC)).toBe(
      "4A1B2C3D4E5F    1234 Sat Nov 28 10:00:00  alice@example.com\n" +
        "                                         bob@example.org\n" +
        "                                         carol@example.org\n",
    );
  });

  test("status characters, null sender, short id padding", () => {
    expect(formatMailqEntry(msg({ state: "active", id: "ABC", sender: "" }), UTC)).toBe(
      "ABC*           1234 Sat Nov 28 10:00:00  MAILER-DAEMON\n" +
        "                                         bob@example.org\n",
    );
    expect(formatMailqEntry(msg({ state: "hold", size: 12345678 }), UTC)).toBe(
      "4A1B2C3D4E5F! 12345678 Sat Nov 28 10:00:00  alice@example.com\n" +
        "                                         bob@example.org\n",
    );
  });

  test("deferred: reasons right-aligned to column 78, reason unavailable, done ones hidden", () => {
    const reason = "connect to mx.example.org[192.0.2.7]:25: Connection refused";
    const m = msg({
      state: "deferred",
      recipients: [
        rcpt(0, "sent@example.org", "sent"),
        rcpt(1, "pending@example.org", "pending"),
        rcpt(2, "a@example.org", "deferred", reason),
        rcpt(3, "b@example.org", "deferred", reason),
        rcpt(4, "bounced@example.org", "bounced", "550 no"),
      ],
    });
    const pad = " ".repeat(76 - reason.length);
    expect(formatMailqEntry(m, UTC)).toBe(
      "4A1B2C3D4E5F    1234 Sat Nov 28 10:00:00  alice@example.com\n" +
        `${pad}(${reason})\n` +
        "                                         a@example.org\n" +
        "                                         b@example.org\n" +
        `${" ".repeat(76 - 18)}(reason unavailable)\n` +
        "                                         pending@example.org\n",
    );
  });

  test("a reason longer than 76 characters starts the line", () => {
    const reason = `host mx.example.org[192.0.2.7] said: 450 4.7.1 ${"x".repeat(60)}`;
    const m = msg({
      state: "deferred",
      recipients: [rcpt(0, "a@example.org", "deferred", reason)],
    });
    expect(formatMailqEntry(m, UTC).split("\n")[1]).toBe(`(${reason})`);
  });

  test("summary", () => {
    expect(formatMailqSummary(0, 0)).toBe("Mail queue is empty\n");
    expect(formatMailqSummary(1023, 1)).toBe("\n-- 0 Kbytes in 1 Request.\n");
    expect(formatMailqSummary(5000, 3)).toBe("\n-- 4 Kbytes in 3 Requests.\n");
  });

  test("bounce state lists failed recipients with their reason", () => {
    const m = msg({
      state: "bounce",
      recipients: [rcpt(0, "gone@example.org", "bounced", "550 5.1.1 no such user")],
    });
    expect(showqRecipients(m)).toEqual([
      {
        orig: "gone@example.org",
        address: "gone@example.org",
        logClass: "bounce",
        why: "550 5.1.1 no such user",
      },
    ]);
  });
});

describe("postqueue -j entries (showq_json.c)", () => {
  test("exact text", () => {
    const m = msg({
      state: "deferred",
      sender: "",
      recipients: [
        rcpt(0, "bob@example.org", "deferred", 'said: "450" try later', "Bob@Example.org"),
        rcpt(1, "carol@example.org"),
      ],
    });
    expect(formatJsonEntry(m)).toBe(
      '{"queue_name": "deferred", "queue_id": "4A1B2C3D4E5F", "arrival_time": 1795860000, ' +
        '"message_size": 1234, "forced_expire": false, "sender": "MAILER-DAEMON", ' +
        '"recipients": [{"orig_address": "Bob@Example.org", "address": "bob@example.org", ' +
        '"delay_reason": "said: \\"450\\" try later"}, ' +
        '{"orig_address": "carol@example.org", "address": "carol@example.org"}]}\n',
    );
    const parsed = JSON.parse(formatJsonEntry(m));
    expect(parsed.recipients[0].delay_reason).toBe('said: "450" try later');
    expect(parsed.arrival_time).toBe(Date.parse("2026-11-28T10:00:00Z") / 1000);
  });
});
