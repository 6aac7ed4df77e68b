/**
 * discard - accepts and drops mail (Postfix discard(8)): every recipient sent, relay=none, with
 * the next-hop text as the reason ("discarded" when there is none).
 */

import type { DeliveryAgent, DeliveryRequest, DeliveryResult } from "./types.ts";

export class DiscardAgent implements DeliveryAgent {
  async deliver(req: DeliveryRequest): Promise<DeliveryResult> {
    const diagnostic = req.nexthop.trim() === "" ? "discarded" : req.nexthop.trim();
    return {
      recipients: req.recipients.map((r) => ({
        index: r.index,
        status: "sent",
        dsn: "2.0.0",
        diagnostic,
        relay: "none",
      })),
      setupTime: 0,
      transmitTime: 0,
    };
  }
}

export function createDiscardAgent(): DiscardAgent {
  return new DiscardAgent();
}
