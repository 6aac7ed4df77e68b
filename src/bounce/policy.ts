/**
 * Who gets a notice, and about which recipients (RFC 3461 NOTIFY, Postfix's notify_classes).
 *
 * A bounce is never bounced: a message from the null sender reports to the postmaster (when
 * $notify_classes asks for it), and a message from $double_bounce_sender (a postmaster notice
 * itself) is never reported at all, so that no notice can loop.
 */
import type { Config } from "../config/types.ts";
import type { MessageRecord, RecipientRecord } from "../queue/types.ts";
import type { NoticeKind, NoticeRoute } from "./types.ts";

/** Whether NOTIFY of this recipient asks for a notice of this kind to the sender. */
export function noticePolicy(
  _message: MessageRecord,
  recipient: RecipientRecord,
  kind: NoticeKind,
): boolean {
  const notify = recipient.notify;
  if (notify.includes("NEVER")) return false;
  // RFC 3461 section 4.1: without NOTIFY, behave as NOTIFY=FAILURE,DELAY.
  switch (kind) {
    case "failure":
      return notify.length === 0 || notify.includes("FAILURE");
    case "delay":
      return notify.length === 0 || notify.includes("DELAY");
    case "success":
      return notify.includes("SUCCESS");
  }
}

/** $notify_classes as a lower-case set. */
export function notifyClasses(cfg: Config): Set<string> {
  return new Set(cfg.list("notify_classes").map((c) => c.toLowerCase()));
}

/** The domain that unqualified notice addresses get ($myorigin, else $myhostname). */
export function originDomain(cfg: Config): string {
  return cfg.str("myorigin") || cfg.str("myhostname") || "localhost";
}

/** Append @$myorigin to a bare local name such as "postmaster". */
export function qualify(cfg: Config, address: string): string {
  return address.includes("@") ? address : `${address}@${originDomain(cfg)}`;
}

/** Sender of postmaster notices: $double_bounce_sender@$myorigin. */
export function doubleBounceAddress(cfg: Config): string {
  return qualify(cfg, cfg.str("double_bounce_sender"));
}

/** True when the sender is $double_bounce_sender, bare or in one of our own domains. */
export function isDoubleBounceSender(cfg: Config, sender: string): boolean {
  const local = cfg.str("double_bounce_sender").toLowerCase();
  if (local === "" || sender === "") return false;
  const at = sender.lastIndexOf("@");
  if (at === -1) return sender.toLowerCase() === local;
  if (sender.slice(0, at).toLowerCase() !== local) return false;
  const domain = sender.slice(at + 1).toLowerCase();
  return (
    domain === originDomain(cfg).toLowerCase() || domain === cfg.str("myhostname").toLowerCase()
  );
}

/**
 * Where a notice of this kind about this message goes (Postfix bounce_notify_service.c,
 * bounce_warn_service.c, bounce_trace_service.c).
 */
export function noticeRoute(message: MessageRecord, kind: NoticeKind, cfg: Config): NoticeRoute {
  const classes = notifyClasses(cfg);
  const postmasterSender = doubleBounceAddress(cfg);

  if (isDoubleBounceSender(cfg, message.sender)) {
    return kind === "success"
      ? {
          send: false,
          severity: "info",
          reason: "not sending trace/success notification for double-bounce message",
        }
      : {
          send: false,
          severity: "warning",
          reason: "undeliverable postmaster notification discarded",
        };
  }

  if (message.sender === "") {
    switch (kind) {
      case "failure":
        // postconf(5): the "bounce" class implies "2bounce".
        if (!classes.has("2bounce") && !classes.has("bounce")) {
          return {
            send: false,
            severity: null,
            reason: "undeliverable bounce dropped: notify_classes has no 2bounce",
          };
        }
        return {
          send: true,
          recipient: qualify(cfg, cfg.str("2bounce_notice_recipient")),
          sender: postmasterSender,
          postmasterCopy: true,
          label: "postmaster non-delivery notification",
          filter: "all",
          ret: "FULL",
          boilerplate: false,
        };
      case "delay":
        if (!classes.has("delay")) {
          return {
            send: false,
            severity: null,
            reason: "delayed bounce not reported: notify_classes has no delay",
          };
        }
        return {
          send: true,
          recipient: qualify(cfg, cfg.str("delay_notice_recipient")),
          sender: postmasterSender,
          postmasterCopy: true,
          label: "postmaster delay notification",
          filter: "all",
          ret: "FULL",
          boilerplate: false,
        };
      case "success":
        if (!classes.has("2bounce")) {
          return {
            send: false,
            severity: "info",
            reason: "not sending trace/success notification for single-bounce message",
          };
        }
        return {
          send: true,
          recipient: qualify(cfg, cfg.str("2bounce_notice_recipient")),
          sender: postmasterSender,
          postmasterCopy: false,
          label: "sender delivery status notification",
          filter: "all",
          ret: "HDRS",
          boilerplate: true,
        };
    }
  }

  switch (kind) {
    case "failure":
      return {
        send: true,
        recipient: message.sender,
        sender: "",
        postmasterCopy: false,
        label: "sender non-delivery notification",
        filter: "notify",
        ret: message.ret === "HDRS" ? "HDRS" : "FULL",
        boilerplate: true,
      };
    case "delay":
      return {
        send: true,
        recipient: message.sender,
        sender: "",
        postmasterCopy: false,
        label: "sender delay notification",
        filter: "notify",
        ret: "HDRS",
        boilerplate: true,
      };
    case "success":
      return {
        send: true,
        recipient: message.sender,
        sender: "",
        postmasterCopy: false,
        label: "sender delivery status notification",
        filter: "notify",
        ret: "HDRS",
        boilerplate: true,
      };
  }
}

/**
 * The postmaster copies that accompany a sender notice: "bounce" in $notify_classes sends the
 * diagnostics and the original headers of every failed recipient to $bounce_notice_recipient,
 * "delay" likewise to $delay_notice_recipient. None for messages from the null sender or
 * $double_bounce_sender (their notice already goes to the postmaster, or nowhere).
 */
export function postmasterRoutes(
  message: MessageRecord,
  kind: NoticeKind,
  cfg: Config,
): NoticeRoute[] {
  if (message.sender === "" || isDoubleBounceSender(cfg, message.sender)) return [];
  const classes = notifyClasses(cfg);
  const base = {
    send: true as const,
    sender: doubleBounceAddress(cfg),
    postmasterCopy: true,
    filter: "all" as const,
    ret: "HDRS" as const,
    boilerplate: false,
  };
  if (kind === "failure" && classes.has("bounce")) {
    return [
      {
        ...base,
        recipient: qualify(cfg, cfg.str("bounce_notice_recipient")),
        label: "postmaster non-delivery notification",
      },
    ];
  }
  if (kind === "delay" && classes.has("delay")) {
    return [
      {
        ...base,
        recipient: qualify(cfg, cfg.str("delay_notice_recipient")),
        label: "postmaster delay notification",
      },
    ];
  }
  return [];
}
