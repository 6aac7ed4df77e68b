/**
 * delivery - posteix's delivery agents (Postfix smtp(8), lmtp(8), local(8), virtual(8),
 * discard(8), error(8))
 *
 * Each agent takes one message and a group of its recipients that share a transport and next
 * hop (DeliveryRequest, from qmgr) and reports one result per recipient: sent, deferred or
 * bounced, with a DSN code, Postfix's diagnostic text and the relay. Agents never schedule,
 * retry or touch the queue; they read main.cf through the request's Config (with the master.cf
 * service's -o overrides applied) and stream the message from req.body(), never holding it
 * whole.
 *
 *   smtp     ./smtp/      MX lookup, ESMTP client, STARTTLS, connection cache (RFC 5321)
 *   lmtp     ./lmtp.ts    the same client in LMTP mode (RFC 2033)
 *   local    ./local/     aliases, Unix accounts, mbox and Maildir, files and commands
 *   virtual  ./virtual.ts $virtual_mailbox_maps mailboxes
 *   discard  ./discard.ts
 *   error    ./error.ts   (also the "retry" service)
 *
 * createAgents() maps master.cf command names to agents; close() (or closeAgents()) QUITs
 * cached connections.
 */

import { createDiscardAgent } from "./discard.ts";
import { createErrorAgent } from "./error.ts";
import { createLmtpAgent } from "./lmtp.ts";
import { createLocalAgent, type LocalAgentOptions } from "./local/index.ts";
import { createSmtpAgent } from "./smtp/index.ts";
import type { DeliveryAgent, DeliveryContext } from "./types.ts";
import { createVirtualAgent } from "./virtual.ts";

export type * from "./types.ts";

export interface Agents {
  /** The agent for a master.cf command name, or undefined for an unknown one. */
  agentFor(command: string): DeliveryAgent | undefined;
  /** Closes cached connections and timers of every agent. */
  close(): Promise<void>;
}

export interface AgentOptions {
  local?: LocalAgentOptions;
}

const open = new Set<Agents>();

export function createAgents(ctx: DeliveryContext, opts: AgentOptions = {}): Agents {
  const agents = new Map<string, DeliveryAgent>([
    ["smtp", createSmtpAgent(ctx, "smtp")],
    ["lmtp", createLmtpAgent(ctx)],
    ["local", createLocalAgent(ctx, opts.local)],
    ["virtual", createVirtualAgent(ctx)],
    ["discard", createDiscardAgent()],
    ["error", createErrorAgent(false)],
    ["retry", createErrorAgent(true)],
  ]);
  const set: Agents = {
    agentFor: (command) => agents.get(command),
    async close() {
      open.delete(set);
      await Promise.all([...agents.values()].map((a) => a.close?.()));
    },
  };
  open.add(set);
  return set;
}

/** Closes every agent set made by createAgents() in this process. */
export async function closeAgents(): Promise<void> {
  await Promise.all([...open].map((a) => a.close()));
}
