/**
 * error, retry - refuse mail (Postfix error(8)): every recipient bounced with the next-hop text
 * as the reason ("error:5.1.1 User unknown" gives dsn 5.1.1 "User unknown"). A text whose status
 * starts with "4", or the "retry" service, defers instead.
 */

import type { DeliveryAgent, DeliveryRequest, DeliveryResult } from "./types.ts";

const DSN_PREFIX = /^([245])\.(\d{1,3})\.(\d{1,3})\s+/;

/** Status, DSN code and text of an error(8) next hop. */
export function parseErrorText(
  text: string,
  retry: boolean,
): { status: "deferred" | "bounced"; dsn: string; diagnostic: string } {
  const t = text.trim();
  const m = DSN_PREFIX.exec(t);
  let dsn = m !== null ? `${m[1]}.${m[2]}.${m[3]}` : retry ? "4.0.0" : "5.0.0";
  const diagnostic =
    (m !== null ? t.slice(m[0].length) : t) ||
    (retry ? "delivery temporarily suspended" : "delivery failed");
  const soft = retry || dsn.startsWith("4") || (m === null && t.startsWith("4"));
  if (soft && dsn.startsWith("5")) dsn = `4${dsn.slice(1)}`;
  return { status: soft ? "deferred" : "bounced", dsn, diagnostic };
}

export class ErrorAgent implements DeliveryAgent {
  constructor(private readonly retry: boolean) {}

  async deliver(req: DeliveryRequest): Promise<DeliveryResult> {
    const retry = this.retry || req.transport === "retry" || req.service?.name === "retry";
    const r = parseErrorText(req.nexthop, retry);
    return {
      recipients: req.recipients.map((x) => ({ index: x.index, ...r, relay: "none" })),
      setupTime: 0,
      transmitTime: 0,
    };
  }
}

export function createErrorAgent(retry = false): ErrorAgent {
  return new ErrorAgent(retry);
}
