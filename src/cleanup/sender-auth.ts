/**
 * The two jobs of cleanup that need the whole message and end in header fields prepended at
 * commit (queue CommitOptions.prefix):
 *
 * - inbound sender authentication (SPF, DKIM, DMARC, ARC with src/auth/verify.ts) for mail from
 *   outside $mynetworks that did not log in: one Authentication-Results field (and
 *   Received-SPF), and the action decided by $smtpd_dmarc_enforce / $smtpd_spf_reject_fail;
 * - DKIM signing (src/auth/dkim-sign.ts) of mail from trusted senders whose From domain has keys
 *   in $dkim_key_directory.
 *
 * Both are streams: the message is fed chunk by chunk as it is received (verification) or as it
 * is written to the queue (signing), mailauth hashes it as it goes, and end() waits only for the
 * DNS lookups or the signature. Memory stays bounded by the chunks in flight, whatever the
 * message size. mailauth is among the slowest imports, so it is loaded on first use; chunks
 * written meanwhile wait in the stream.
 */
import { PassThrough } from "node:stream";
import type { DkimKey } from "../auth/dkim-keys.ts";
import type { SenderAuthAction, SenderAuthResult } from "../auth/verify.ts";
import type { Config } from "../config/types.ts";
import { mailauthResolver, type Resolver } from "../dns/index.ts";

/** A message stream whose consumer is loaded later. */
class Tap {
  readonly stream = new PassThrough();
  #open = true;

  write(bytes: Uint8Array): void {
    // A copy: the caller may reuse its buffer once write() returns.
    if (this.#open) this.stream.write(Buffer.from(bytes));
  }

  end(): void {
    if (!this.#open) return;
    this.#open = false;
    this.stream.end();
  }

  abort(): void {
    if (!this.#open) return;
    this.#open = false;
    this.stream.destroy();
  }
}

export interface InboundVerdict {
  /** Header fields to prepend (CRLF after each). */
  prefix: string;
  action: SenderAuthAction;
  result: SenderAuthResult;
}

export interface InboundCheck {
  /** The message as received (CRLF line ends, dot-unstuffed). */
  write(bytes: Uint8Array): void;
  /** All of it: the verdict; rejects when the check itself failed (a bug, never a DNS error). */
  end(): Promise<InboundVerdict>;
  abort(): void;
}

export interface InboundClient {
  ip: string;
  helo: string | null;
  /** MAIL FROM as received ("" for the null sender). */
  sender: string;
}

/** Starts the checks of one message. */
export function startInboundCheck(cfg: Config, dns: Resolver, client: InboundClient): InboundCheck {
  const tap = new Tap();
  const done = import("../auth/verify.ts").then(async (m) => {
    const opts = m.verifyOptionsFromConfig(cfg, mailauthResolver(dns), client);
    const result = await m.verifyMessage(tap.stream, opts);
    const prefix = `${result.header}\r\n${result.receivedSpf ? `${result.receivedSpf}\r\n` : ""}`;
    return { prefix, result, action: m.decideAction(result, cfg) };
  });
  done.catch(() => {}); // observed through end(); an abort must not be an unhandled rejection
  return {
    write: (bytes) => tap.write(bytes),
    end() {
      tap.end();
      return done;
    },
    abort: () => tap.abort(),
  };
}

/** One line for the log: "spf=pass dkim=pass dmarc=fail (p=reject) arc=none". */
export function verdictSummary(r: SenderAuthResult): string {
  const policy = r.dmarc.policy ? ` (p=${r.dmarc.policy})` : "";
  const from = r.headerFrom.length > 0 ? ` header.from=${r.headerFrom.join(",")}` : "";
  return `spf=${r.spf.result} dkim=${r.dkim} dmarc=${r.dmarc.result}${policy} arc=${r.arc}${from}`;
}

export interface Signing {
  readonly domain: string;
  /** The message exactly as it is stored (header section, blank line, body). */
  write(bytes: Uint8Array): void;
  /** The DKIM-Signature fields, CRLF after each; errors of single keys are logged by the caller. */
  end(): Promise<{ headers: string; errors: string[] }>;
  abort(): void;
}

/**
 * Starts signing with the keys keysForDomain() found for the From domain (d= is their domain:
 * the From domain or its nearest parent with keys); null when there are none.
 */
export function startSigning(keys: readonly DkimKey[]): Signing | null {
  if (keys.length === 0) return null;
  const domain = keys[0].domain;
  const tap = new Tap();
  const done = import("../auth/dkim-sign.ts").then((m) =>
    m.signMessage(tap.stream, { domain, keys }),
  );
  done.catch(() => {});
  return {
    domain,
    write: (bytes) => tap.write(bytes),
    end() {
      tap.end();
      return done;
    },
    abort: () => tap.abort(),
  };
}
