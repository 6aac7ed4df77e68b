import { describe, expect, test } from "bun:test";
import {
  composeNotice,
  isDoubleBounceSender,
  type NoticeKind,
  noticePolicy,
  noticeRoute,
} from "../../src/bounce/index.ts";
import type { DsnNotify } from "../../src/queue/types.ts";
import { BASE_CFG, chunked, message, NOW, ORIGINAL, recipient, testConfig } from "./fixture.ts";

describe("noticePolicy (RFC 3461 NOTIFY)", () => {
  // notify, failure, delay, success
  const table: [DsnNotify[], boolean, boolean, boolean][] = [
    [[], true, true, false],
    [["NEVER"], false, false, false],
    [["FAILURE"], true, false, false],
    [["DELAY"], false, true, false],
    [["SUCCESS"], false, false, true],
    [["FAILURE", "DELAY"], true, true, false],
    [["SUCCESS", "FAILURE"], true, false, true],
    [["SUCCESS", "DELAY"], false, true, true],
    [["SUCCESS", "FAILURE", "DELAY"], true, true, true],
  ];
  for (const [notify, failure, delay, success] of table) {
    test(`NOTIFY=${notify.join(",") || "(unset)"}`, () => {
      const r = recipient({ notify });
      const m = message({ recipients: [r] });
      const got = (["failure", "delay", "success"] as NoticeKind[]).map((k) =>
        noticePolicy(m, r, k),
      );
      expect(got).toEqual([failure, delay, success]);
    });
  }

  test("one notice per message, covering only the recipients that asked", () => {
    const rs = [
      recipient({ index: 0, address: "a@example.org", notify: [] }),
      recipient({ index: 1, address: "b@example.org", notify: ["NEVER"] }),
      recipient({ index: 2, address: "c@example.org", notify: ["FAILURE"] }),
      recipient({ index: 3, address: "d@example.org", notify: ["DELAY"] }),
    ];
    const m = message({ recipients: rs });
    const cfg = testConfig(BASE_CFG);
    const base = { message: m, recipients: rs, originalContent: chunked(ORIGINAL), cfg, now: NOW };
    expect(composeNotice({ ...base, kind: "failure" })?.reported).toBe(2);
    expect(composeNotice({ ...base, kind: "delay" })?.reported).toBe(2);
    expect(composeNotice({ ...base, kind: "success" })).toBeNull();
    expect(composeNotice({ ...base, kind: "failure", recipients: [rs[1]] })).toBeNull();
    expect(composeNotice({ ...base, kind: "failure", recipients: [] })).toBeNull();
  });
});

describe("noticeRoute", () => {
  type Want = string | null; // "recipient sender label" or the drop reason's severity
  const senders = {
    user: "alice@example.net",
    null: "",
    double: "double-bounce@example.net",
  };
  // [sender, kind, notify_classes, want]
  const table: [keyof typeof senders, NoticeKind, string, Want][] = [
    ["user", "failure", "", "alice@example.net <> sender non-delivery notification"],
    ["user", "delay", "", "alice@example.net <> sender delay notification"],
    ["user", "success", "", "alice@example.net <> sender delivery status notification"],
    ["null", "failure", "resource, software", "drop:null"],
    [
      "null",
      "failure",
      "2bounce",
      "postmaster@example.net <double-bounce@example.net> postmaster non-delivery notification",
    ],
    [
      "null",
      "failure",
      "bounce",
      "postmaster@example.net <double-bounce@example.net> postmaster non-delivery notification",
    ],
    ["null", "delay", "2bounce", "drop:null"],
    [
      "null",
      "delay",
      "delay",
      "postmaster@example.net <double-bounce@example.net> postmaster delay notification",
    ],
    ["null", "success", "", "drop:info"],
    [
      "null",
      "success",
      "2bounce",
      "postmaster@example.net <double-bounce@example.net> sender delivery status notification",
    ],
    ["double", "failure", "bounce, 2bounce, delay", "drop:warning"],
    ["double", "delay", "bounce, 2bounce, delay", "drop:warning"],
    ["double", "success", "bounce, 2bounce, delay", "drop:info"],
  ];
  for (const [who, kind, classes, want] of table) {
    test(`${who} sender, ${kind}, notify_classes=${classes || "(empty)"}`, () => {
      const cfg = testConfig({ ...BASE_CFG, notify_classes: classes });
      const route = noticeRoute(message({ sender: senders[who] }), kind, cfg);
      const got = route.send
        ? `${route.recipient} <${route.sender}> ${route.label}`
        : `drop:${route.severity}`;
      expect(got).toBe(want ?? "");
    });
  }

  test("Postfix's log wording for dropped notices", () => {
    const cfg = testConfig(BASE_CFG);
    const route = noticeRoute(message({ sender: "double-bounce@example.net" }), "failure", cfg);
    expect(route).toEqual({
      send: false,
      severity: "warning",
      reason: "undeliverable postmaster notification discarded",
    });
    const success = noticeRoute(message({ sender: "" }), "success", cfg);
    expect(success.send ? "" : success.reason).toBe(
      "not sending trace/success notification for single-bounce message",
    );
  });

  test("sender RET decides full or headers for failures only", () => {
    const cfg = testConfig(BASE_CFG);
    const ret = (r: "FULL" | "HDRS" | null, kind: NoticeKind) => {
      const route = noticeRoute(message({ ret: r }), kind, cfg);
      return route.send ? route.ret : null;
    };
    expect([ret(null, "failure"), ret("FULL", "failure"), ret("HDRS", "failure")]).toEqual([
      "FULL",
      "FULL",
      "HDRS",
    ]);
    expect([ret("FULL", "delay"), ret("FULL", "success")]).toEqual(["HDRS", "HDRS"]);
  });

  test("isDoubleBounceSender", () => {
    const cfg = testConfig({ ...BASE_CFG, double_bounce_sender: "double-bounce" });
    expect(isDoubleBounceSender(cfg, "double-bounce")).toBe(true);
    expect(isDoubleBounceSender(cfg, "DOUBLE-BOUNCE@EXAMPLE.NET")).toBe(true);
    expect(isDoubleBounceSender(cfg, "double-bounce@mx.example.net")).toBe(true);
    expect(isDoubleBounceSender(cfg, "double-bounce@elsewhere.example")).toBe(false);
    expect(isDoubleBounceSender(cfg, "")).toBe(false);
    expect(isDoubleBounceSender(cfg, "alice@example.net")).toBe(false);
  });
});
