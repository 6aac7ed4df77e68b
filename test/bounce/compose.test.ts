import { describe, expect, test } from "bun:test";
import {
  composeNotice,
  type NoticeInput,
  type NoticeRecipient,
  postmasterCopies,
} from "../../src/bounce/index.ts";
import {
  ARRIVAL,
  ATTEMPT,
  BASE_CFG,
  chunked,
  message,
  NOW,
  ORIGINAL,
  ORIGINAL_HEADERS,
  ORIGINAL_TEXT,
  recipient,
  testConfig,
  text,
} from "./fixture.ts";
import { parseNotice } from "./helpers.ts";

const DATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/;

function input(over: Partial<NoticeInput> = {}, cfg: Record<string, string> = {}): NoticeInput {
  const msg = over.message ?? message();
  return {
    kind: "failure",
    message: msg,
    recipients: msg.recipients,
    originalContent: chunked(ORIGINAL),
    cfg: testConfig({ ...BASE_CFG, ...cfg }),
    now: NOW,
    ...over,
  };
}

function compose(over: Partial<NoticeInput> = {}, cfg: Record<string, string> = {}) {
  const notice = composeNotice(input(over, cfg));
  if (!notice) throw new Error("expected a notice");
  return notice;
}

/** Check a date field and drop it, so the rest can be compared exactly. */
function takeDate(rec: Record<string, string>, name: string, want: number): void {
  expect(rec[name]).toMatch(DATE);
  expect(Date.parse(rec[name])).toBe(want);
  delete rec[name];
}

const BOB_FAILED = {
  "Final-Recipient": "rfc822; bob@example.org",
  "Original-Recipient": "rfc822; bob@example.org",
  Action: "failed",
  Status: "5.1.1",
  "Remote-MTA": "dns; mx.example.org",
  "Diagnostic-Code": "smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown",
};

describe("failure notice", () => {
  test("has Postfix's headers and three parts with exact delivery-status fields", async () => {
    const carol = recipient({
      index: 1,
      address: "carol@example.org",
      original: "c@example.net",
      status: "expired",
      dsn: "4.4.1",
      diagnostic: "connect to mx.example.org[192.0.2.10]:25: Connection refused",
      relay: null,
    });
    const msg = message({ recipients: [recipient(), carol] });
    const notice = compose({ message: msg });
    expect(notice.sender).toBe("");
    expect(notice.recipient).toBe("alice@example.net");
    expect(notice.postmasterCopy).toBe(false);
    expect(notice.label).toBe("sender non-delivery notification");
    expect(notice.reported).toBe(2);
    expect(notice.bodyType).toBe("7BIT");

    const { mail, parts, dsn, raw } = await parseNotice(notice);
    expect(mail.from?.value).toEqual([
      { address: "MAILER-DAEMON@mx.example.net", name: "Mail Delivery System" },
    ]);
    expect(mail.subject).toBe("Undelivered Mail Returned to Sender");
    expect(raw).toContain("\r\nTo: alice@example.net\r\n");
    expect(mail.headers.get("auto-submitted")).toBe("auto-replied");
    expect(mail.messageId).toBe(`<3F2A9C1B7E.${NOW.getTime() / 1000}.failure@mx.example.net>`);
    expect(mail.inReplyTo).toBe("<orig-1@example.net>");
    expect(mail.references).toBe("<orig-1@example.net>");
    expect(mail.date?.getTime()).toBe(NOW.getTime());
    expect(mail.headers.get("mime-version")).toBe("1.0");
    expect(mail.headers.get("content-transfer-encoding")).toBe("7bit");

    // Part 1: human-readable.
    expect(parts[0].headers).toEqual({
      "content-description": "Notification",
      "content-type": "text/plain; charset=us-ascii",
    });
    const human = parts[0].body;
    expect(human).toStartWith(
      "This is the mail system at host mx.example.net.\r\n\r\n" +
        "I'm sorry to have to inform you that your message could not\r\n" +
        "be delivered to one or more recipients.",
    );
    expect(human).toEndWith(
      "\r\n\r\n<bob@example.org>: host mx.example.org[192.0.2.10] said: 550 5.1.1\r\n" +
        "    <bob@example.org>: Recipient address rejected: User unknown (in reply to\r\n" +
        "    RCPT TO command)\r\n" +
        "\r\n<carol@example.org> (expanded from <c@example.net>): connect to\r\n" +
        "    mx.example.org[192.0.2.10]:25: Connection refused\r\n",
    );
    for (const line of human.split("\r\n")) expect(line.length).toBeLessThanOrEqual(79);
    expect(mail.text?.replace(/\n/g, "\r\n").trim()).toBe(human.trim());

    // Part 2: RFC 3464.
    expect(parts[1].headers).toEqual({
      "content-description": "Delivery report",
      "content-type": "message/delivery-status",
    });
    expect(dsn.length).toBe(3);
    takeDate(dsn[0], "Arrival-Date", ARRIVAL);
    expect(dsn[0]).toEqual({
      "Reporting-MTA": "dns; mx.example.net",
      "X-Posteix-Queue-ID": "3F2A9C1B7E",
      "X-Posteix-Sender": "rfc822; alice@example.net",
    });
    takeDate(dsn[1], "Last-Attempt-Date", ATTEMPT);
    expect(dsn[1]).toEqual(BOB_FAILED);
    takeDate(dsn[2], "Last-Attempt-Date", ATTEMPT);
    expect(dsn[2]).toEqual({
      "Final-Recipient": "rfc822; carol@example.org",
      "Original-Recipient": "rfc822; c@example.net",
      Action: "failed",
      Status: "4.4.1",
      "Diagnostic-Code": "X-Posteix; connect to mx.example.org[192.0.2.10]:25: Connection refused",
    });

    // Part 3: the whole original, with Return-Path on top.
    expect(parts[2].headers).toEqual({
      "content-description": "Undelivered Message",
      "content-type": "message/rfc822",
    });
    expect(parts[2].body).toBe(`Return-Path: <alice@example.net>\r\n${ORIGINAL_TEXT}`);
    const dsnAttachment = mail.attachments.find((a) => a.contentType === "message/delivery-status");
    expect(dsnAttachment?.content.toString()).toBe(parts[1].body);
    const original = mail.attachments.find((a) => a.contentType === "message/rfc822");
    expect(original?.content.toString()).toBe(parts[2].body);
    expect(mail.attachments.length).toBe(2);
  });

  test("carries ENVID and ORCPT, and a success reply of the next hop as smtp diagnostic", async () => {
    const msg = message({ envid: "QQ314159", ret: "FULL" });
    const notice = compose({
      message: msg,
      recipients: [recipient({ orcpt: "rfc822;Bob@Example.ORG", original: "bob@example.org" })],
    });
    const { dsn } = await parseNotice(notice);
    expect(dsn[0]["Original-Envelope-Id"]).toBe("QQ314159");
    expect(Object.keys(dsn[0])).toEqual([
      "Reporting-MTA",
      "Original-Envelope-Id",
      "X-Posteix-Queue-ID",
      "X-Posteix-Sender",
      "Arrival-Date",
    ]);
    expect(dsn[1]["Original-Recipient"]).toBe("rfc822;Bob@Example.ORG");
  });

  test("without ORCPT and original address there is no Original-Recipient", async () => {
    const { dsn } = await parseNotice(compose({ recipients: [recipient({ original: null })] }));
    expect(dsn[1]["Original-Recipient"]).toBeUndefined();
    expect(dsn[1]["Final-Recipient"]).toBe("rfc822; bob@example.org");
  });

  test("RET=HDRS returns the headers only as text/rfc822-headers", async () => {
    const notice = compose({ message: message({ ret: "HDRS" }) });
    const { parts, mail } = await parseNotice(notice);
    expect(parts[2].headers).toEqual({
      "content-description": "Undelivered Message Headers",
      "content-type": "text/rfc822-headers",
    });
    expect(parts[2].body).toBe(`Return-Path: <alice@example.net>\r\n${ORIGINAL_HEADERS}`);
    expect(mail.attachments.map((a) => a.contentType)).toEqual([
      "message/delivery-status",
      "text/rfc822-headers",
    ]);
  });

  test("a message larger than bounce_size_limit is returned as headers only", async () => {
    const big = `${ORIGINAL_TEXT}${"x".repeat(70)}\r\n`.repeat(1);
    const bytes = new TextEncoder().encode(big);
    const limit = String(bytes.length - 1);
    const notice = compose(
      { message: message({ size: bytes.length }), originalContent: chunked(bytes, 16) },
      { bounce_size_limit: limit },
    );
    const { parts } = await parseNotice(notice);
    expect(parts[2].headers["content-type"]).toBe("text/rfc822-headers");
    expect(parts[2].body).toBe(`Return-Path: <alice@example.net>\r\n${ORIGINAL_HEADERS}`);

    // At the limit it is still returned whole.
    const whole = compose(
      { message: message({ size: bytes.length }), originalContent: chunked(bytes, 16) },
      { bounce_size_limit: String(bytes.length) },
    );
    const w = await parseNotice(whole);
    expect(w.parts[2].headers["content-type"]).toBe("message/rfc822");
    expect(w.parts[2].body).toBe(`Return-Path: <alice@example.net>\r\n${big}`);

    // bounce_size_limit = 0: no limit.
    const unlimited = compose(
      { message: message({ size: 10_000_000 }), originalContent: chunked(bytes, 16) },
      { bounce_size_limit: "0" },
    );
    expect((await parseNotice(unlimited)).parts[2].body).toEndWith(big);
  });

  test("content beyond bounce_size_limit is cut on a line boundary even when the size lied", async () => {
    const body = Array.from({ length: 200 }, (_, i) => `line ${i} ${"y".repeat(i % 50)}`).join(
      "\r\n",
    );
    const original = `Subject: big\r\n\r\n${body}\r\n`;
    const bytes = new TextEncoder().encode(original);
    const limit = 1000;
    const notice = compose(
      // The recorded size is small, so the full original is chosen; the bytes are more.
      { message: message({ size: 500 }), originalContent: chunked(bytes, 37) },
      { bounce_size_limit: String(limit) },
    );
    const { parts } = await parseNotice(notice);
    expect(parts[2].headers["content-type"]).toBe("message/rfc822");
    const returned = parts[2].body.slice("Return-Path: <alice@example.net>\r\n".length);
    expect(returned.length).toBeLessThanOrEqual(limit);
    expect(returned.length).toBeGreaterThan(limit - 60);
    expect(returned.endsWith("\r\n")).toBe(true);
    expect(original.startsWith(returned)).toBe(true);
  });

  test("a message of unknown size is returned as headers only (Postfix)", async () => {
    const { parts } = await parseNotice(compose({ message: message({ size: 0 }) }));
    expect(parts[2].headers["content-type"]).toBe("text/rfc822-headers");
  });

  test("the boundary occurs nowhere in the content", async () => {
    const hint = "3F2A9C1B7E.1/mx.example.net";
    const original = `Subject: tricky\r\n\r\n--${hint}\r\n--${hint}--\r\n`;
    const bytes = new TextEncoder().encode(original);
    const notice = compose({
      message: message({ size: bytes.length }),
      originalContent: chunked(bytes, 5),
      boundaryHint: hint,
    });
    const { boundary, parts, raw } = await parseNotice(notice);
    expect(boundary).not.toBe(hint);
    expect(boundary.startsWith(hint)).toBe(true);
    expect(parts[2].body).toBe(`Return-Path: <alice@example.net>\r\n${original}`);
    expect(raw.split(boundary).length - 1).toBe(5); // header + 3 delimiters + close

    // A boundary that only a remote reply contains is avoided too.
    const viaDiagnostic = compose({
      boundaryHint: "BOUNDARY",
      recipients: [recipient({ diagnostic: "host x[192.0.2.1] said: 550 5.0.0 --BOUNDARY" })],
    });
    const parsed = await parseNotice(viaDiagnostic);
    expect(parsed.boundary).not.toBe("BOUNDARY");
    expect(parsed.dsn[1]["Diagnostic-Code"]).toBe("smtp; 550 5.0.0 --BOUNDARY");

    // Without a clash the hint is used as is.
    expect((await parseNotice(compose({ boundaryHint: "plain-hint" }))).boundary).toBe(
      "plain-hint",
    );
  });

  test("the default boundary is Postfix-style and absent from the content", async () => {
    const { boundary, raw } = await parseNotice(compose());
    expect(boundary).toBe(`3F2A9C1B7E.${NOW.getTime() / 1000}/mx.example.net`);
    expect(raw.split(boundary).length - 1).toBe(5);
  });

  test("an unreadable original gives a placeholder, not an error", async () => {
    const notice = compose({
      originalContent: () => {
        throw new Error("body gone");
      },
    });
    const { parts } = await parseNotice(notice);
    expect(parts[2].body).toBe("--- The original message is not available ---\r\n");
  });

  test("the content can be read more than once and gives the same bytes", () => {
    const notice = compose();
    expect(text(notice.content)).toBe(text(notice.content));
  });

  test("CR/LF in ORCPT, ENVID or a remote reply cannot add fields", async () => {
    const notice = compose({
      message: message({ envid: "E1\r\nX-Injected: 1" }),
      recipients: [
        recipient({
          orcpt: "rfc822;bob@example.org\r\nX-Evil: yes",
          diagnostic: "host x[192.0.2.1] said: 550 5.0.0 no\r\nX-Evil2: yes",
        }),
      ],
    });
    const { dsn, raw } = await parseNotice(notice);
    expect(raw).not.toContain("\nX-Evil");
    expect(raw).not.toContain("\nX-Injected");
    expect(dsn[0]["Original-Envelope-Id"]).toBe("E1 X-Injected: 1");
    expect(dsn[1]["Original-Recipient"]).toBe("rfc822;bob@example.org X-Evil: yes");
  });

  test("8-bit originals make an 8BITMIME notice; SMTPUTF8 uses the RFC 6533 types", async () => {
    const eight = compose({ message: message({ bodyType: "8BITMIME" }) });
    expect(eight.bodyType).toBe("8BITMIME");
    const e = await parseNotice(eight);
    expect(e.mail.headers.get("content-transfer-encoding")).toBe("8bit");
    expect(e.parts[2].headers).toEqual({
      "content-description": "Undelivered Message",
      "content-type": "message/rfc822",
      "content-transfer-encoding": "8bit",
    });

    const utf8 = compose({
      message: message({ smtputf8: true, sender: "jörg@example.net" }),
      recipients: [recipient({ address: "björn@example.org", original: "björn@example.org" })],
    });
    expect(utf8.smtputf8).toBe(true);
    expect(utf8.recipient).toBe("jörg@example.net");
    const u = await parseNotice(utf8);
    expect(u.parts[0].headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(u.parts[1].headers["content-type"]).toBe("message/global-delivery-status");
    expect(u.parts[2].headers["content-type"]).toBe("message/global");
    expect(u.dsn[0]["X-Posteix-Sender"]).toBe("utf-8; jörg@example.net");
    expect(u.dsn[1]["Final-Recipient"]).toBe("utf-8; björn@example.org");
  });

  test("non-ASCII in a reply is masked in a non-SMTPUTF8 notice", async () => {
    const { dsn } = await parseNotice(
      compose({
        recipients: [recipient({ diagnostic: "host x[192.0.2.1] said: 550 5.0.0 Grüße" })],
      }),
    );
    expect(dsn[1]["Diagnostic-Code"]).toBe("smtp; 550 5.0.0 Gr??e");
  });
});

describe("delay notice", () => {
  test("warns, reports Will-Retry-Until and returns headers only", async () => {
    const r = recipient({
      status: "deferred",
      dsn: "4.4.1",
      diagnostic: "connect to mx.example.org[192.0.2.10]:25: Connection timed out",
      relay: null,
    });
    const notice = compose(
      { kind: "delay", message: message({ recipients: [r] }), recipients: [r] },
      { delay_warning_time: "4h" },
    );
    expect(notice.label).toBe("sender delay notification");
    const { mail, parts, dsn } = await parseNotice(notice);
    expect(mail.subject).toBe("Delayed Mail (still being retried)");
    expect(mail.headers.get("auto-submitted")).toBe("auto-replied");
    const human = parts[0].body;
    expect(human).toContain(
      "####################################################################\r\n" +
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n" +
        "####################################################################\r\n",
    );
    expect(human).toContain("for more than 4 hour(s).");
    expect(human).toContain("when it is 5 day(s) old.");
    const until = ARRIVAL + 5 * 86400_000;
    const m = /retried until (.+),\r\n/.exec(human);
    expect(Date.parse(m?.[1] ?? "")).toBe(until);

    takeDate(dsn[1], "Last-Attempt-Date", ATTEMPT);
    takeDate(dsn[1], "Will-Retry-Until", until);
    expect(dsn[1]).toEqual({
      "Final-Recipient": "rfc822; bob@example.org",
      "Original-Recipient": "rfc822; bob@example.org",
      Action: "delayed",
      Status: "4.4.1",
      "Diagnostic-Code":
        "X-Posteix; connect to mx.example.org[192.0.2.10]:25: Connection timed out",
    });
    expect(parts[2].headers).toEqual({
      "content-description": "Undelivered Message Headers",
      "content-type": "text/rfc822-headers",
    });
    expect(parts[2].body).toBe(`Return-Path: <alice@example.net>\r\n${ORIGINAL_HEADERS}`);
  });

  test("even with RET=FULL a delay notice returns headers only", async () => {
    const notice = compose({ kind: "delay", message: message({ ret: "FULL" }) });
    expect((await parseNotice(notice)).parts[2].headers["content-type"]).toBe(
      "text/rfc822-headers",
    );
  });
});

describe("success notice", () => {
  const delivered = recipient({
    notify: ["SUCCESS"],
    status: "sent",
    dsn: "2.0.0",
    diagnostic: "250 2.0.0 Ok: queued as 4XYZ",
    relay: "mx.example.org[192.0.2.10]:25",
  });
  const relayed: NoticeRecipient = {
    ...recipient({
      index: 1,
      address: "dave@example.com",
      original: "dave@example.com",
      notify: ["SUCCESS", "FAILURE"],
      status: "sent",
      dsn: "2.0.0",
      diagnostic: "250 2.0.0 Ok",
      relay: "mx.example.com[192.0.2.20]:25",
      updatedAt: null,
    }),
    action: "relayed",
  };
  const quiet = recipient({ index: 2, address: "erin@example.com", notify: [], status: "sent" });
  const local = recipient({
    index: 3,
    address: "frank@example.net",
    original: "frank@example.net",
    notify: ["SUCCESS"],
    status: "sent",
    dsn: "2.0.0",
    diagnostic: "delivered to maildir",
    relay: "local",
    updatedAt: null,
  });

  test("reports NOTIFY=SUCCESS recipients only: delivered, relayed, local", async () => {
    const notice = compose({ kind: "success", recipients: [delivered, relayed, quiet, local] });
    expect(notice.reported).toBe(3);
    expect(notice.label).toBe("sender delivery status notification");
    const { mail, parts, dsn } = await parseNotice(notice);
    expect(mail.subject).toBe("Successful Mail Delivery Report");
    expect(parts[0].body).toStartWith(
      "This is the mail system at host mx.example.net.\r\n\r\n" +
        "Your message was successfully delivered to the destination(s)\r\nlisted below.",
    );
    expect(dsn.length).toBe(4);
    takeDate(dsn[1], "Last-Attempt-Date", ATTEMPT);
    expect(dsn[1]).toEqual({
      "Final-Recipient": "rfc822; bob@example.org",
      "Original-Recipient": "rfc822; bob@example.org",
      Action: "delivered",
      Status: "2.0.0",
      "Remote-MTA": "dns; mx.example.org",
      "Diagnostic-Code": "smtp; 250 2.0.0 Ok: queued as 4XYZ",
    });
    expect(dsn[2]).toEqual({
      "Final-Recipient": "rfc822; dave@example.com",
      "Original-Recipient": "rfc822; dave@example.com",
      Action: "relayed",
      Status: "2.0.0",
      "Remote-MTA": "dns; mx.example.com",
      "Diagnostic-Code": "smtp; 250 2.0.0 Ok",
    });
    expect(dsn[3]).toEqual({
      "Final-Recipient": "rfc822; frank@example.net",
      "Original-Recipient": "rfc822; frank@example.net",
      Action: "delivered",
      Status: "2.0.0",
      "Diagnostic-Code": "X-Posteix; delivered to maildir",
    });
    expect(parts[2].headers).toEqual({
      "content-description": "Message Headers",
      "content-type": "text/rfc822-headers",
    });
  });

  test("no NOTIFY=SUCCESS recipient, no notice", () => {
    expect(composeNotice(input({ kind: "success", recipients: [quiet] }))).toBeNull();
  });
});

describe("postmaster notices", () => {
  test("a bounce of a bounce goes to $2bounce_notice_recipient only with 2bounce", async () => {
    const msg = message({ sender: "", recipients: [recipient({ notify: ["NEVER"] })] });
    expect(composeNotice(input({ message: msg }))).toBeNull();

    for (const classes of ["2bounce", "bounce"]) {
      const notice = composeNotice(input({ message: msg }, { notify_classes: classes }));
      if (!notice) throw new Error("expected a notice");
      expect(notice.recipient).toBe("postmaster@example.net");
      expect(notice.sender).toBe("double-bounce@example.net");
      expect(notice.postmasterCopy).toBe(true);
      expect(notice.label).toBe("postmaster non-delivery notification");
      const { mail, parts, dsn } = await parseNotice(notice);
      expect(mail.subject).toBe("Postmaster Copy: Undelivered Mail");
      expect(mail.headers.get("auto-submitted")).toBe("auto-generated");
      // No boiler-plate: the diagnostics only. NOTIFY=NEVER does not hide it from postmaster.
      expect(parts[0].body).toStartWith("\r\n<bob@example.org>: host mx.example.org");
      expect(dsn[0]["X-Posteix-Sender"]).toBe("rfc822; MAILER-DAEMON");
      expect(parts[2].headers["content-type"]).toBe("message/rfc822");
      expect(parts[2].body).toBe(`Return-Path: <>\r\n${ORIGINAL_TEXT}`);
    }

    const custom = composeNotice(
      input(
        { message: msg },
        { notify_classes: "2bounce", "2bounce_notice_recipient": "ops@example.com" },
      ),
    );
    expect(custom?.recipient).toBe("ops@example.com");
  });

  test("a postmaster notice that fails is never reported", () => {
    for (const sender of ["double-bounce@example.net", "Double-Bounce@mx.example.net"]) {
      const msg = message({ sender });
      for (const kind of ["failure", "delay", "success"] as const) {
        const cfg = { notify_classes: "bounce, 2bounce, delay" };
        expect(composeNotice(input({ kind, message: msg }, cfg))).toBeNull();
        expect(postmasterCopies(input({ kind, message: msg }, cfg))).toEqual([]);
      }
    }
  });

  test("a delayed bounce warns $delay_notice_recipient only with the delay class", async () => {
    const msg = message({ sender: "" });
    expect(composeNotice(input({ kind: "delay", message: msg }))).toBeNull();
    const notice = composeNotice(
      input(
        { kind: "delay", message: msg },
        { notify_classes: "delay", delay_notice_recipient: "ops" },
      ),
    );
    expect(notice?.recipient).toBe("ops@example.net");
    expect(notice?.label).toBe("postmaster delay notification");
    const { mail } = await parseNotice(notice!);
    expect(mail.subject).toBe("Postmaster Warning: Delayed Mail");
  });

  test("postmaster copies of bounces and delays follow notify_classes", async () => {
    expect(postmasterCopies(input())).toEqual([]);
    const r = recipient({ notify: ["NEVER"] });
    const copies = postmasterCopies(
      input({ recipients: [r] }, { notify_classes: "bounce", bounce_notice_recipient: "pm" }),
    );
    expect(copies.length).toBe(1);
    const copy = copies[0];
    expect(copy.recipient).toBe("pm@example.net");
    expect(copy.sender).toBe("double-bounce@example.net");
    expect(copy.postmasterCopy).toBe(true);
    const { mail, parts, dsn } = await parseNotice(copy);
    expect(mail.subject).toBe("Postmaster Copy: Undelivered Mail");
    expect(mail.messageId).toBe(
      `<3F2A9C1B7E.${NOW.getTime() / 1000}.failure.postmaster@mx.example.net>`,
    );
    expect(parts[2].headers["content-type"]).toBe("text/rfc822-headers");
    expect(parts[2].body).toBe(`Return-Path: <alice@example.net>\r\n${ORIGINAL_HEADERS}`);
    expect(dsn[1].Action).toBe("failed");
    // The sender's own notice is off (NOTIFY=NEVER), the postmaster copy is not.
    expect(composeNotice(input({ recipients: [r] }, { notify_classes: "bounce" }))).toBeNull();

    const delay = postmasterCopies(input({ kind: "delay" }, { notify_classes: "delay" }));
    expect(delay.map((n) => [n.recipient, n.label])).toEqual([
      ["postmaster@example.net", "postmaster delay notification"],
    ]);
    expect(
      postmasterCopies(input({ kind: "success" }, { notify_classes: "bounce, delay" })),
    ).toEqual([]);
    // The null sender's notice already goes to the postmaster: no extra copy.
    expect(
      postmasterCopies(input({ message: message({ sender: "" }) }, { notify_classes: "bounce" })),
    ).toEqual([]);
  });
});
