/**
 * bounce -- delivery status notifications (Postfix bounce(8), defer(8), trace(8)).
 *
 * Composes the notice qmgr sends when mail fails, is delayed, or (NOTIFY=SUCCESS) was
 * delivered: one notice per message covering all affected recipients, from the null sender,
 * plus optional postmaster copies. Pure: no queue access, no sockets; the caller injects the
 * result through cleanup and logs `QUEUEID: <notice.label>: NEWID`.
 *
 * Format: RFC 6522 (was RFC 3462) multipart/report; report-type=delivery-status with three
 * parts: a human-readable text/plain part in Postfix's style, an RFC 3464 message/delivery-status
 * part (X-Posteix-Queue-ID and X-Posteix-Sender as Postfix's X-Postfix-* fields), and the
 * original as message/rfc822 (failures with RET=FULL or no RET, up to $bounce_size_limit) or
 * text/rfc822-headers (RET=HDRS, larger messages, delay and success notices, postmaster copies).
 * RFC 6533 message/global* types when the original was SMTPUTF8. RFC 3461 NOTIFY and ORCPT/ENVID
 * are honoured and carried; RFC 3834 Auto-Submitted marks every notice.
 *
 * Loop safety: a message from the null sender reports to $2bounce_notice_recipient (failures,
 * notify_classes "2bounce" or "bounce") or $delay_notice_recipient (delays, "delay"), sent from
 * $double_bounce_sender; a message from $double_bounce_sender is never reported.
 *
 * The content streams as a generator: memory stays bounded by $bounce_size_limit (or the header
 * section) whatever the size of the original.
 *
 * Parameters: myhostname, myorigin, bounce_size_limit, notify_classes, bounce_notice_recipient,
 * 2bounce_notice_recipient, delay_notice_recipient, double_bounce_sender, delay_warning_time,
 * maximal_queue_lifetime, bounce_queue_lifetime.
 */
import { buildNotice } from "./compose.ts";
import { noticePolicy, noticeRoute, postmasterRoutes } from "./policy.ts";
import type { Notice, NoticeInput } from "./types.ts";

export { excerpt, MAX_HEADER_LINE } from "./original.ts";
export {
  doubleBounceAddress,
  isDoubleBounceSender,
  noticePolicy,
  noticeRoute,
  postmasterRoutes,
} from "./policy.ts";
export { diagnosticOf } from "./report.ts";
export type {
  DsnAction,
  Notice,
  NoticeInput,
  NoticeKind,
  NoticeRecipient,
  NoticeRoute,
} from "./types.ts";

/**
 * The notice to the original sender (or, for a message from the null sender, to the
 * postmaster), or null when there is nothing to send: no recipient's NOTIFY asks for this
 * kind, or the route drops it (see `noticeRoute` for the reason to log).
 */
export function composeNotice(input: NoticeInput): Notice | null {
  const route = noticeRoute(input.message, input.kind, input.cfg);
  if (!route.send) return null;
  const recipients =
    route.filter === "notify"
      ? input.recipients.filter((r) => noticePolicy(input.message, r, input.kind))
      : input.recipients;
  if (recipients.length === 0) return null;
  return buildNotice(input, route, recipients);
}

/**
 * Postmaster copies that go with a sender notice ($notify_classes "bounce" / "delay"): the
 * diagnostics and the original headers of every recipient given, whatever its NOTIFY.
 */
export function postmasterCopies(input: NoticeInput): Notice[] {
  if (input.recipients.length === 0) return [];
  return postmasterRoutes(input.message, input.kind, input.cfg).flatMap((route) =>
    route.send ? [buildNotice(input, route, input.recipients)] : [],
  );
}
