/**
 * The per-recipient delivery log line, in Postfix's format so that pflogsumm and friends work:
 *
 *   QUEUEID: to=<rcpt>, orig_to=<orig>, relay=host[addr]:port, delay=1.2,
 *     delays=0.01/0/0.5/0.69, dsn=2.0.0, status=sent (250 2.0.0 Ok)
 *
 * delays = a/b/c/d: a before qmgr took the message, b in qmgr, c connection set-up, d transfer.
 */
import { externalForm } from "../rewrite/address.ts";

export interface DeliveryLogInput {
  queueId: string;
  recipient: string;
  original: string | null;
  relay: string;
  /** Seconds since arrival. */
  delay: number;
  delays: [number, number, number, number];
  dsn: string;
  status: "sent" | "deferred" | "bounced" | "expired";
  text: string;
}

/**
 * Postfix prints delays with two significant decimals below 10 s ("0.03", "1.2") and zero as
 * "0" (log_adhoc.c); a value under 5 ms rounds to "0".
 */
export function fmtDelay(seconds: number): string {
  if (seconds < 10) return String(Math.round(Math.max(0, seconds) * 100) / 100);
  return String(Math.round(seconds * 10) / 10);
}

export function deliveryLogLine(d: DeliveryLogInput): string {
  const orig =
    d.original && d.original.toLowerCase() !== d.recipient.toLowerCase()
      ? `, orig_to=<${externalForm(d.original)}>`
      : "";
  const status = d.status === "expired" ? "bounced" : d.status;
  return (
    `${d.queueId}: to=<${externalForm(d.recipient)}>${orig}, relay=${d.relay}, ` +
    `delay=${fmtDelay(d.delay)}, delays=${d.delays.map(fmtDelay).join("/")}, dsn=${d.dsn}, ` +
    `status=${status} (${d.text})`
  );
}
