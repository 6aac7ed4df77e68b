/**
 * local - delivery to Unix accounts of $mydestination (Postfix local(8))
 *
 * For each recipient: mail loop check against the message's Delivered-To: headers (5.4.6);
 * alias expansion with $alias_maps (aliases(5): the full local part, then without its
 * $recipient_delimiter extension), recursively in this process for local addresses, with
 * "/file" ($allow_mail_to_files), "|command" ($allow_mail_to_commands) and ":include:/file"
 * destinations; addresses elsewhere go out in one new message through cleanup ("forwarded as
 * QUEUEID"), its sender the list owner when an owner-NAME alias exists
 * ($owner_request_special). A name that is no alias must be an account in /etc/passwd
 * ("unknown user" 5.1.1 otherwise); its mail goes to $home_mailbox under the home directory,
 * else to $mail_spool_directory/USER; a trailing "/" means Maildir, else mbox with locking.
 * A recipient is sent only after its last copy is on disk (fsync) or handed to cleanup; a
 * partly failed expansion reports the worst outcome (deferred before bounced).
 *
 * main.cf: alias_maps, recipient_delimiter, mydestination, home_mailbox, mail_spool_directory,
 * allow_mail_to_commands, allow_mail_to_files, mailbox_size_limit, owner_request_special,
 * default_privs, command_time_limit.
 *
 * Not done: ~/.forward files, mailbox_command, mailbox_transport.
 */

import { join } from "node:path";
import type { CleanupOutcome } from "../../cleanup/types.ts";
import { splitExtension } from "../../config/index.ts";
import type { Config } from "../../config/types.ts";
import type { RecipientRecord } from "../../queue/types.ts";
import { splitAddress } from "../../rewrite/address.ts";
import { deliveredToSet } from "../delivered-to.ts";
import { envelopeHeaders, LfConverter, mboxFromLine } from "../local-copy.ts";
import { MailboxError, strerror } from "../mailbox-error.ts";
import { deliverMaildir } from "../maildir.ts";
import { deliverMbox } from "../mbox.ts";
import type {
  DeliveryAgent,
  DeliveryContext,
  DeliveryRequest,
  DeliveryResult,
  RecipientOutcome,
} from "../types.ts";
import { type AliasItem, parseAliasValue, readInclude } from "./aliases.ts";
import { deliverCommand } from "./command.ts";
import { getpwnam, type PasswdEntry } from "./passwd.ts";

/** Nesting of aliases and :include: files before it is called a loop (Postfix: 100). */
const MAX_DEPTH = 100;

export interface LocalAgentOptions {
  /** The passwd file (default /etc/passwd). */
  passwdFile?: string;
}

interface Leaf {
  status: "sent" | "deferred" | "bounced";
  dsn: string;
  diagnostic: string;
}

/** One recipient's expansion in progress. */
interface Expansion {
  req: DeliveryRequest;
  rcpt: RecipientRecord;
  loops: Set<string>;
  leaves: Leaf[];
  forward: string[];
  seen: Set<string>;
  /** Sender of forwarded copies when a list owner exists. */
  owner: string | null;
  /** The top-level recipient, as in the Delivered-To: of forwarded copies. */
  address: string;
}

type Permission = "alias" | "include";

const encoder = new TextEncoder();

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

async function* lfBody(req: DeliveryRequest): AsyncIterable<Uint8Array> {
  const conv = new LfConverter(false);
  for await (const chunk of req.body()) yield conv.feed(chunk);
  yield conv.finish(false);
}

function failureLeaf(err: unknown): Leaf {
  if (err instanceof MailboxError)
    return { status: err.status, dsn: err.dsn, diagnostic: err.message };
  return {
    status: "deferred",
    dsn: "4.3.0",
    diagnostic: `local delivery failed: ${strerror(err)}`,
  };
}

export class LocalAgent implements DeliveryAgent {
  constructor(
    private readonly ctx: DeliveryContext,
    private readonly opts: LocalAgentOptions = {},
  ) {}

  async deliver(req: DeliveryRequest): Promise<DeliveryResult> {
    const t0 = performance.now();
    const loops = await deliveredToSet(req.body);
    const t1 = performance.now();
    const recipients: RecipientOutcome[] = [];
    for (const rcpt of req.recipients) recipients.push(await this.recipient(req, rcpt, loops));
    return {
      recipients,
      setupTime: (t1 - t0) / 1000,
      transmitTime: (performance.now() - t1) / 1000,
    };
  }

  private async recipient(
    req: DeliveryRequest,
    rcpt: RecipientRecord,
    loops: Set<string>,
  ): Promise<RecipientOutcome> {
    const { local, domain } = splitAddress(rcpt.address);
    const dom = (domain === "" ? this.ctx.hostname : domain).toLowerCase();
    const exp: Expansion = {
      req,
      rcpt,
      loops,
      leaves: [],
      forward: [],
      seen: new Set(),
      owner: null,
      address: `${local.toLowerCase()}@${dom}`,
    };
    try {
      await this.localAddress(exp, local, dom, 0, false, null);
      if (exp.forward.length > 0) exp.leaves.push(await this.forward(exp));
    } catch (err) {
      exp.leaves.push(failureLeaf(err));
    }
    const worst =
      exp.leaves.find((l) => l.status === "deferred") ??
      exp.leaves.find((l) => l.status === "bounced");
    const base = { index: rcpt.index, relay: "local" };
    if (worst !== undefined) return { ...base, ...worst };
    // Nothing delivered at all: every path led back to an address already expanded.
    if (exp.leaves.length === 0)
      return {
        ...base,
        status: "bounced",
        dsn: "5.4.6",
        diagnostic: `mail forwarding loop for ${exp.address}`,
      };
    const texts = [...new Set(exp.leaves.map((l) => l.diagnostic))];
    return { ...base, status: "sent", dsn: "2.0.0", diagnostic: texts.join("; ") };
  }

  private aliasLookup(cfg: Config, key: string): string | undefined {
    for (const t of cfg.tables("alias_maps")) {
      const v = t.lookup(key);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** A local address: its alias, else the account's mailbox. */
  private async localAddress(
    exp: Expansion,
    local: string,
    domain: string,
    depth: number,
    noAlias: boolean,
    aliasName: string | null,
  ): Promise<void> {
    const cfg = exp.req.cfg;
    const lower = local.toLowerCase();
    const address = `${lower}@${domain}`;
    if (depth > MAX_DEPTH || exp.loops.has(address)) {
      exp.leaves.push({
        status: "bounced",
        dsn: "5.4.6",
        diagnostic: `mail forwarding loop for ${address}`,
      });
      return;
    }
    const key = `${noAlias || lower === aliasName ? "mbox" : "addr"}:${address}`;
    if (exp.seen.has(key)) return;
    exp.seen.add(key);
    const [base, ext] = splitExtension(lower, cfg.str("recipient_delimiter"));
    // An alias that names itself delivers to the mailbox (aliases(5): "user: user, other").
    if (!noAlias && lower !== aliasName) {
      let name = lower;
      let value = this.aliasLookup(cfg, lower);
      if (value === undefined && ext !== "") {
        name = base;
        value = base === aliasName ? undefined : this.aliasLookup(cfg, base);
      }
      if (value !== undefined) {
        if (exp.owner === null && cfg.bool("owner_request_special")) {
          const owner = `owner-${name}`;
          if (this.aliasLookup(cfg, owner) !== undefined) exp.owner = `${owner}@${domain}`;
        }
        for (const item of parseAliasValue(value))
          await this.item(exp, item, domain, depth + 1, name, "alias", address);
        return;
      }
    }
    const pw = getpwnam(base, this.opts.passwdFile);
    if (pw === undefined) {
      exp.leaves.push({ status: "bounced", dsn: "5.1.1", diagnostic: `unknown user: "${base}"` });
      return;
    }
    exp.leaves.push(await this.mailbox(exp, pw, address));
  }

  /** One destination of an alias or :include: file. */
  private async item(
    exp: Expansion,
    item: AliasItem,
    domain: string,
    depth: number,
    aliasName: string,
    perm: Permission,
    deliveredTo: string,
  ): Promise<void> {
    const cfg = exp.req.cfg;
    switch (item.kind) {
      case "address": {
        const { local, domain: d } = splitAddress(item.address);
        const dom = (d === "" ? domain : d).toLowerCase();
        if (
          d === "" ||
          dom === this.ctx.hostname.toLowerCase() ||
          cfg.domains("mydestination").matches(dom)
        )
          return this.localAddress(exp, local, dom, depth, item.noAlias, aliasName);
        const addr = `${local}@${d}`;
        if (!exp.seen.has(`fwd:${addr.toLowerCase()}`)) {
          exp.seen.add(`fwd:${addr.toLowerCase()}`);
          exp.forward.push(addr);
        }
        return;
      }
      case "include": {
        if (depth > MAX_DEPTH) {
          exp.leaves.push({
            status: "bounced",
            dsn: "5.4.6",
            diagnostic: `mail forwarding loop for ${deliveredTo}`,
          });
          return;
        }
        if (exp.seen.has(`inc:${item.path}`)) return;
        exp.seen.add(`inc:${item.path}`);
        let items: AliasItem[];
        try {
          items = await readInclude(item.path);
        } catch (err) {
          exp.leaves.push({
            status: "deferred",
            dsn: "4.3.0",
            diagnostic: `cannot open include file ${item.path}: ${strerror(err)}`,
          });
          return;
        }
        for (const i of items)
          await this.item(exp, i, domain, depth + 1, aliasName, "include", deliveredTo);
        return;
      }
      case "file": {
        if (exp.seen.has(`file:${item.path}`)) return;
        exp.seen.add(`file:${item.path}`);
        if (!cfg.list("allow_mail_to_files").includes(perm)) {
          exp.leaves.push({
            status: "bounced",
            dsn: "5.7.1",
            diagnostic: "mail to file is restricted",
          });
          return;
        }
        exp.leaves.push(await this.file(exp, item.path, deliveredTo));
        return;
      }
      case "command": {
        if (exp.seen.has(`cmd:${item.command}`)) return;
        exp.seen.add(`cmd:${item.command}`);
        if (!cfg.list("allow_mail_to_commands").includes(perm)) {
          exp.leaves.push({
            status: "bounced",
            dsn: "5.7.1",
            diagnostic: "mail to command is restricted",
          });
          return;
        }
        exp.leaves.push(await this.command(exp, item.command, deliveredTo, aliasName));
        return;
      }
    }
  }

  /** The account files and commands of aliases run as: $default_privs when we are root. */
  private privs(cfg: Config): { uid: number; gid: number } | undefined {
    if (process.getuid?.() !== 0) return undefined;
    const pw = getpwnam(cfg.str("default_privs"), this.opts.passwdFile);
    return pw !== undefined ? { uid: pw.uid, gid: pw.gid } : { uid: 65534, gid: 65534 };
  }

  private async mailbox(exp: Expansion, pw: PasswdEntry, address: string): Promise<Leaf> {
    const { req } = exp;
    const cfg = req.cfg;
    const home = cfg.str("home_mailbox").trim();
    let target: string;
    let maildir: boolean;
    if (home !== "") {
      target = join(pw.home, home);
      maildir = home.endsWith("/");
    } else {
      maildir = cfg.str("mail_spool_directory").trim().endsWith("/");
      target = join(cfg.path("mail_spool_directory"), pw.name);
    }
    const owner = process.getuid?.() === 0 ? { uid: pw.uid, gid: pw.gid } : undefined;
    const prefix = envelopeHeaders(req.message.sender, address);
    const sizeLimit = cfg.size("mailbox_size_limit");
    try {
      if (maildir) {
        await deliverMaildir(
          target,
          { prefix, body: req.body, sizeLimit, owner },
          this.ctx.hostname,
        );
        return { status: "sent", dsn: "2.0.0", diagnostic: "delivered to maildir" };
      }
      await deliverMbox(
        target,
        {
          prefix: concat(mboxFromLine(req.message.sender, req.message.arrivalTime), prefix),
          body: req.body,
          sizeLimit,
          owner,
        },
        { createParent: home === "", what: `mailbox ${target} for user ${pw.name}` },
      );
      return { status: "sent", dsn: "2.0.0", diagnostic: "delivered to mailbox" };
    } catch (err) {
      return failureLeaf(err);
    }
  }

  private async file(exp: Expansion, path: string, deliveredTo: string): Promise<Leaf> {
    const { req } = exp;
    const cfg = req.cfg;
    const prefix = envelopeHeaders(req.message.sender, deliveredTo);
    const sizeLimit = cfg.size("mailbox_size_limit");
    const owner = this.privs(cfg);
    try {
      if (path.endsWith("/")) {
        await deliverMaildir(path, { prefix, body: req.body, sizeLimit, owner }, this.ctx.hostname);
        return { status: "sent", dsn: "2.0.0", diagnostic: `delivered to file: ${path}` };
      }
      await deliverMbox(
        path,
        {
          prefix: concat(mboxFromLine(req.message.sender, req.message.arrivalTime), prefix),
          body: req.body,
          sizeLimit,
          owner,
        },
        { what: `file ${path}` },
      );
      return { status: "sent", dsn: "2.0.0", diagnostic: `delivered to file: ${path}` };
    } catch (err) {
      return failureLeaf(err);
    }
  }

  private async command(
    exp: Expansion,
    command: string,
    deliveredTo: string,
    aliasName: string,
  ): Promise<Leaf> {
    const { req, rcpt } = exp;
    const cfg = req.cfg;
    const privs = this.privs(cfg);
    const { local, domain } = splitAddress(deliveredTo);
    const [base, ext] = splitExtension(local, cfg.str("recipient_delimiter"));
    const env: Record<string, string> = {
      PATH: "/usr/bin:/bin",
      SHELL: "/bin/sh",
      HOME: "/",
      LOGNAME: cfg.str("default_privs"),
      USER: base,
      SENDER: req.message.sender,
      RECIPIENT: deliveredTo,
      ORIGINAL_RECIPIENT: rcpt.original ?? rcpt.address,
      LOCAL: local,
      EXTENSION: ext.slice(1),
      DOMAIN: domain,
      ALIAS: aliasName,
    };
    try {
      await deliverCommand({
        command,
        prefix: concat(
          mboxFromLine(req.message.sender, req.message.arrivalTime),
          envelopeHeaders(req.message.sender, deliveredTo),
        ),
        body: lfBody(req),
        env,
        cwd: "/",
        uid: privs?.uid,
        gid: privs?.gid,
        timeLimitMs: Math.max(1, cfg.time("command_time_limit")) * 1000,
      });
      return { status: "sent", dsn: "2.0.0", diagnostic: `delivered to command: ${command}` };
    } catch (err) {
      return failureLeaf(err);
    }
  }

  /** The remote destinations of the expansion, as one new message through cleanup. */
  private async forward(exp: Expansion): Promise<Leaf> {
    const { req, rcpt } = exp;
    const m = req.message;
    const session = this.ctx.newCleanup({
      sender: exp.owner ?? m.sender,
      origin: "sendmail",
      client: { name: "localhost", addr: "", protocol: "local" },
      trusted: false,
      envid: m.envid ?? undefined,
      ret: m.ret ?? undefined,
      bodyType: (m.bodyType as "7BIT" | "8BITMIME" | "BINARYMIME" | null) ?? undefined,
      smtputf8: m.smtputf8,
    });
    let outcome: CleanupOutcome;
    try {
      for (const address of exp.forward)
        session.addRecipient({
          address,
          original: rcpt.original ?? rcpt.address,
          ...(rcpt.orcpt !== null ? { orcpt: rcpt.orcpt } : {}),
          ...(rcpt.notify.length > 0 ? { notify: rcpt.notify } : {}),
        });
      session.write(encoder.encode(`Delivered-To: ${exp.address}\r\n`));
      for await (const chunk of req.body()) session.write(chunk);
      outcome = await session.end();
    } catch (err) {
      session.abort();
      return { status: "deferred", dsn: "4.3.0", diagnostic: `cannot forward: ${strerror(err)}` };
    }
    switch (outcome.kind) {
      case "queued":
      case "discarded":
        return { status: "sent", dsn: "2.0.0", diagnostic: `forwarded as ${outcome.queueId}` };
      case "rejected":
        return {
          status: outcome.code >= 500 ? "bounced" : "deferred",
          dsn: outcome.enhanced,
          diagnostic: outcome.text,
        };
      default:
        return { status: "deferred", dsn: outcome.enhanced, diagnostic: outcome.text };
    }
  }
}

export function createLocalAgent(ctx: DeliveryContext, opts: LocalAgentOptions = {}): LocalAgent {
  return new LocalAgent(ctx, opts);
}
