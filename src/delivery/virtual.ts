/**
 * virtual - delivery to virtual mailboxes (Postfix virtual(8))
 *
 * The recipient is looked up in $virtual_mailbox_maps: the full address, the address without
 * its $recipient_delimiter extension, then "@domain" (catch-all). The value is a path under
 * $virtual_mailbox_base: ending in "/" a Maildir, else an mbox file (locked). Not found:
 * bounced 5.1.1 "unknown user". Loops are detected with Delivered-To: headers (5.4.6).
 *
 * main.cf: virtual_mailbox_maps, virtual_mailbox_base, recipient_delimiter, mailbox_size_limit.
 * Not done: virtual_uid_maps / virtual_gid_maps (files are owned by the posteix process).
 */

import { join } from "node:path";
import { splitExtension } from "../config/index.ts";
import type { Config } from "../config/types.ts";
import { splitAddress } from "../rewrite/address.ts";
import { deliveredToSet } from "./delivered-to.ts";
import { envelopeHeaders, mboxFromLine } from "./local-copy.ts";
import { MailboxError, strerror } from "./mailbox-error.ts";
import { deliverMaildir } from "./maildir.ts";
import { deliverMbox } from "./mbox.ts";
import type {
  DeliveryAgent,
  DeliveryContext,
  DeliveryRequest,
  DeliveryResult,
  RecipientOutcome,
} from "./types.ts";

function lookup(cfg: Config, key: string): string | undefined {
  for (const t of cfg.tables("virtual_mailbox_maps")) {
    const v = t.lookup(key);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** The mailbox path of an address, or undefined. */
export function virtualMailbox(cfg: Config, address: string): string | undefined {
  const lower = address.toLowerCase();
  const { local, domain } = splitAddress(lower);
  const hit = lookup(cfg, lower);
  if (hit !== undefined) return hit;
  const [base, ext] = splitExtension(local, cfg.str("recipient_delimiter"));
  if (ext !== "") {
    const v = lookup(cfg, `${base}@${domain}`);
    if (v !== undefined) return v;
  }
  return domain === "" ? undefined : lookup(cfg, `@${domain}`);
}

export class VirtualAgent implements DeliveryAgent {
  constructor(private readonly ctx: DeliveryContext) {}

  async deliver(req: DeliveryRequest): Promise<DeliveryResult> {
    const t0 = performance.now();
    const loops = await deliveredToSet(req.body);
    const t1 = performance.now();
    const recipients: RecipientOutcome[] = [];
    for (const rcpt of req.recipients) {
      const base = { index: rcpt.index, relay: "virtual" };
      const address = rcpt.address.toLowerCase();
      if (loops.has(address)) {
        recipients.push({
          ...base,
          status: "bounced",
          dsn: "5.4.6",
          diagnostic: `mail forwarding loop for ${address}`,
        });
        continue;
      }
      const mailbox = virtualMailbox(req.cfg, address);
      if (mailbox === undefined || mailbox.trim() === "") {
        recipients.push({
          ...base,
          status: "bounced",
          dsn: "5.1.1",
          diagnostic: `unknown user: "${address}"`,
        });
        continue;
      }
      recipients.push({ ...base, ...(await this.write(req, mailbox.trim(), address)) });
    }
    return {
      recipients,
      setupTime: (t1 - t0) / 1000,
      transmitTime: (performance.now() - t1) / 1000,
    };
  }

  private async write(
    req: DeliveryRequest,
    mailbox: string,
    address: string,
  ): Promise<Pick<RecipientOutcome, "status" | "dsn" | "diagnostic">> {
    const cfg = req.cfg;
    const maildir = mailbox.endsWith("/");
    const path = join(cfg.path("virtual_mailbox_base"), mailbox);
    const prefix = envelopeHeaders(req.message.sender, address);
    const sizeLimit = cfg.size("mailbox_size_limit");
    try {
      if (maildir) {
        await deliverMaildir(path, { prefix, body: req.body, sizeLimit }, this.ctx.hostname);
        return { status: "sent", dsn: "2.0.0", diagnostic: "delivered to maildir" };
      }
      const from = mboxFromLine(req.message.sender, req.message.arrivalTime);
      const all = new Uint8Array(from.length + prefix.length);
      all.set(from, 0);
      all.set(prefix, from.length);
      await deliverMbox(
        path,
        { prefix: all, body: req.body, sizeLimit },
        { createParent: true, what: `mailbox ${path}` },
      );
      return { status: "sent", dsn: "2.0.0", diagnostic: "delivered to mailbox" };
    } catch (err) {
      if (err instanceof MailboxError)
        return { status: err.status, dsn: err.dsn, diagnostic: err.message };
      return {
        status: "deferred",
        dsn: "4.3.0",
        diagnostic: `virtual delivery failed: ${strerror(err)}`,
      };
    }
  }
}

export function createVirtualAgent(ctx: DeliveryContext): VirtualAgent {
  return new VirtualAgent(ctx);
}
