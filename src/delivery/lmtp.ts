/**
 * lmtp - the LMTP client (RFC 2033, Postfix lmtp(8)): the SMTP client of ./smtp/ in LMTP mode.
 * Next hops "inet:host:port", "inet:[addr]:port", "unix:/path"; LHLO with $lmtp_lhlo_name; one
 * reply per accepted recipient after the end of data; idle connections cached per next hop.
 */

import { createSmtpAgent, type SmtpAgent } from "./smtp/index.ts";
import type { DeliveryContext } from "./types.ts";

export function createLmtpAgent(ctx: DeliveryContext): SmtpAgent {
  return createSmtpAgent(ctx, "lmtp");
}
