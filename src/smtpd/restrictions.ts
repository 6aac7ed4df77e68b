/**
 * Postfix's SMTP access restrictions (smtpd_check.c), evaluated as Postfix does.
 *
 * Lists are read left to right; the first restriction that permits or rejects ends the list.
 * With $smtpd_delay_reject (default) the client, helo and sender lists are applied at RCPT
 * time, then $smtpd_relay_restrictions, then $smtpd_recipient_restrictions; DATA applies
 * $smtpd_data_restrictions and end of data $smtpd_end_of_data_restrictions. defer_if_permit
 * and defer_if_reject postpone a temporary failure until the outcome is known, warn_if_reject
 * turns the next reject into a logged warning. A DNS temporary failure defers (4xx), never
 * passes; DNS blocklists are the one exception, as in Postfix, so that an RBL outage does not
 * stop all mail.
 *
 * Every reject is logged as Postfix logs it:
 *   NOQUEUE: reject: RCPT from host[addr]: 554 5.7.1 <x@y>: Relay access denied;
 *   from=<a@b> to=<x@y> proto=ESMTP helo=<h>
 *
 * Parameters: smtpd_{client,helo,sender,relay,recipient,data,end_of_data}_restrictions,
 * smtpd_restriction_classes (and each class's own parameter), smtpd_delay_reject,
 * smtpd_reject_unlisted_recipient, smtpd_reject_unlisted_sender, smtpd_null_access_lookup_key,
 * mynetworks, recipient_delimiter, parent_domain_matches_subdomains, reject_code, defer_code,
 * relay_domains_reject_code, access_map_reject_code, access_map_defer_code,
 * invalid_hostname_reject_code, non_fqdn_reject_code, unknown_hostname_reject_code,
 * unknown_address_reject_code, maps_rbl_reject_code, default_rbl_reply.
 */

import { domainToASCII } from "node:url";
import {
  checkSenderLogin,
  type SenderLoginCheck,
  type SenderLoginMaps,
} from "../auth/login-maps.ts";
import { parseIp } from "../config/ip.ts";
import { accessLookupAddress, accessLookupClient } from "../config/lookup.ts";
import type { Config, LookupTable } from "../config/types.ts";
import { splitList } from "../config/values.ts";
import type { Resolver } from "../dns/index.ts";
import { reverseName } from "../dns/reverse.ts";
import { logger } from "../log/index.ts";
import { externalForm, isIPv4, isIPv6, splitAddress } from "../rewrite/address.ts";
import { canonicalize, resolve } from "../rewrite/index.ts";
import { verifyRecipient } from "../rewrite/verify.ts";
import { fixDsn, parseAccessValue, restrictionTable, splitDsn } from "./access.ts";
import type { Reply } from "./reply.ts";
import type { SmtpdSettings } from "./settings.ts";
import type { PeerInfo, TlsInfo } from "./types.ts";

const log = logger("smtpd");

/** Postfix's reply classes ("Recipient address rejected: ..."). */
export const CLIENT = "Client host";
export const HELO = "Helo command";
export const SENDER = "Sender address";
export const RECIPIENT = "Recipient address";
export const DATA = "Data command";
export const EOD = "End-of-data";
export const ETRN = "Etrn command";

/** What the restrictions read of the session. */
export interface CheckSubject {
  readonly settings: SmtpdSettings;
  readonly resolver: Resolver | undefined;
  readonly client: PeerInfo;
  readonly helo: string | null;
  /** MAIL FROM in internal form; "" the null sender; null before MAIL. */
  readonly sender: string | null;
  /** Recipients accepted so far in this transaction. */
  readonly rcptCount: number;
  /** The first accepted recipient (for logs at DATA with one recipient). */
  readonly firstRecipient: string | null;
  readonly protocol: string;
  /** The command being checked, for logs: "RCPT", "DATA", "END-OF-MESSAGE", "CONNECT"... */
  readonly where: string;
  readonly queueId: string | null;
  readonly saslUser: string | null;
  readonly saslMethod: string | null;
  readonly tls: TlsInfo | null;
  readonly illPipelining: boolean;
  /** $smtpd_sender_login_maps (reject_*_sender_login_mismatch); absent: those never match. */
  senderLoginMaps?(): SenderLoginMaps;
}

/** Access table actions that shape the message rather than the reply. */
export interface MessageActions {
  hold?: string;
  discard?: string;
  prepend: string[];
  redirect?: string;
  bcc: string[];
}

type Status = { kind: "ok" } | { kind: "dunno" } | { kind: "reject"; reply: Reply };
const OK: Status = { kind: "ok" };
const DUNNO: Status = { kind: "dunno" };

interface Deferral {
  code: number;
  dsn: string;
  text: string;
}

/** Restrictions that take the next list element as their argument. */
const WITH_ARGUMENT = new Set([
  "check_client_access",
  "check_reverse_client_hostname_access",
  "check_helo_access",
  "check_sender_access",
  "check_recipient_access",
  "reject_rbl_client",
  "reject_rbl",
  "reject_rhsbl_client",
  "reject_rhsbl_reverse_client",
  "reject_rhsbl_helo",
  "reject_rhsbl_sender",
  "reject_rhsbl_recipient",
  "sleep",
]);

const listCache = new WeakMap<Config, Map<string, string[]>>();

function restrictionList(cfg: Config, name: string): string[] {
  let m = listCache.get(cfg);
  if (!m) {
    m = new Map();
    listCache.set(cfg, m);
  }
  let l = m.get(name);
  if (!l) {
    l = splitList(cfg.any(name) ?? "");
    m.set(name, l);
  }
  return l;
}

class ConfigProblem extends Error {}

/** Postfix's valid_hostname(): letters, digits, "-", "_"; not all-numeric. */
export function validHostname(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  let numeric = true;
  for (const label of name.split(".")) {
    if (!/^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label)) return false;
    if (!/^\d+$/.test(label)) numeric = false;
  }
  return !numeric;
}

/** "name." → "name" (but not "name.."), as Postfix's dup_if_truncate. */
function truncateDot(name: string): string {
  return name.length > 1 && name.endsWith(".") && !name.endsWith("..") ? name.slice(0, -1) : name;
}

/** One session's restriction state. */
export class Restrictions {
  actions: MessageActions = { prepend: [], bcc: [] };
  #warnIfReject = 0;
  #recursion = 0;
  #deferIfPermit: Deferral | null = null;
  #deferIfReject: Deferral | null = null;
  #afterClient: Deferral | null = null;
  #afterHelo: Deferral | null = null;
  #afterSender: Deferral | null = null;
  #recipientChecked = false;
  #senderChecked = false;
  // The values under check (Postfix pushes them into its state for logging).
  #helo: string | null = null;
  #sender: string | null = null;
  /** undefined: not under check (logs name the first accepted recipient, as Postfix's do). */
  #recipient: string | null | undefined = undefined;
  #etrn: string | null = null;

  constructor(private readonly s: CheckSubject) {}

  /** A new MAIL transaction: forget HOLD/DISCARD/PREPEND/REDIRECT of the last one. */
  resetTransaction(): void {
    this.actions = { prepend: [], bcc: [] };
  }

  get #cfg(): Config {
    return this.s.settings.cfg;
  }

  // ---------------------------------------------------------------- stages

  async client(): Promise<Reply | null> {
    this.#deferIfPermit = null;
    const r = await this.#stage(() =>
      this.#list(
        "smtpd_client_restrictions",
        namaddrOf(this.s.client),
        CLIENT,
        "check_client_access",
      ),
    );
    this.#afterClient = this.#deferIfPermit;
    return r;
  }

  async helo(name: string | null): Promise<Reply | null> {
    if (name === null) return null;
    this.#helo = name;
    this.#deferIfPermit = this.#afterClient;
    const r = await this.#stage(() =>
      this.#list("smtpd_helo_restrictions", name, HELO, "check_helo_access"),
    );
    this.#afterHelo = this.#deferIfPermit;
    return r;
  }

  async mail(sender: string | null): Promise<Reply | null> {
    if (sender === null) return null;
    this.#sender = sender;
    this.#deferIfPermit = this.#afterHelo ?? this.#afterClient;
    this.#senderChecked = false;
    let r = await this.#stage(() =>
      this.#list("smtpd_sender_restrictions", sender, SENDER, "check_sender_access"),
    );
    this.#afterSender = this.#deferIfPermit;
    if (
      !r &&
      this.#cfg.bool("smtpd_reject_unlisted_sender") &&
      !this.#senderChecked &&
      this.actions.discard === undefined &&
      sender !== ""
    ) {
      r = await this.#stage(async () => this.#unlisted(sender, SENDER));
    }
    return r;
  }

  async rcpt(recipient: string): Promise<Reply | null> {
    // RFC 5321 4.5.1: "postmaster" is accepted without a domain, whatever the restrictions.
    if (recipient.toLowerCase() === "postmaster") return null;
    this.#recipient = recipient;
    this.#recipientChecked = false;
    try {
      if (this.s.settings.delayReject) {
        const early =
          (await this.client()) ??
          (await this.helo(this.s.helo)) ??
          (await this.mail(this.s.sender));
        if (early) return early;
      }
      this.#deferIfPermit = this.#afterSender;
      let r = await this.#stage(async () => {
        for (const name of ["smtpd_relay_restrictions", "smtpd_recipient_restrictions"]) {
          const st = await this.#list(name, recipient, RECIPIENT, "check_recipient_access");
          if (st.kind === "reject") return st;
        }
        return this.#deferIfPermit ? this.#defer(this.#deferIfPermit) : DUNNO;
      });
      if (
        !r &&
        this.#cfg.bool("smtpd_reject_unlisted_recipient") &&
        !this.#recipientChecked &&
        this.actions.discard === undefined
      ) {
        r = await this.#stage(async () => this.#unlisted(recipient, RECIPIENT));
      }
      return r;
    } finally {
      this.#recipient = undefined;
    }
  }

  async data(): Promise<Reply | null> {
    return this.#messageStage("smtpd_data_restrictions", "DATA", DATA);
  }

  async eod(): Promise<Reply | null> {
    return this.#messageStage("smtpd_end_of_data_restrictions", "END-OF-MESSAGE", EOD);
  }

  async etrn(domain: string): Promise<Reply | null> {
    this.#etrn = domain;
    try {
      if (this.s.settings.delayReject) {
        const early = (await this.client()) ?? (await this.helo(this.s.helo));
        if (early) return early;
      }
      this.#deferIfPermit = this.#afterHelo ?? this.#afterClient;
      return await this.#stage(async () => {
        const st = await this.#list("smtpd_etrn_restrictions", domain, ETRN, "check_etrn_access");
        if (st.kind === "reject") return st;
        return this.#deferIfPermit ? this.#defer(this.#deferIfPermit) : DUNNO;
      });
    } finally {
      this.#etrn = null;
    }
  }

  /** DATA and end of data: with several recipients, none is named in logs (Postfix). */
  async #messageStage(param: string, replyName: string, cls: string): Promise<Reply | null> {
    this.#recipient = this.s.rcptCount === 1 ? this.s.firstRecipient : null;
    this.#deferIfPermit = null;
    try {
      return await this.#stage(async () => {
        const st = await this.#list(param, replyName, cls, null);
        if (st.kind === "reject") return st;
        return this.#deferIfPermit ? this.#defer(this.#deferIfPermit) : DUNNO;
      });
    } finally {
      this.#recipient = undefined;
    }
  }

  /** Run one stage; a configuration problem or lookup error becomes 451 4.3.5. */
  async #stage(run: () => Promise<Status>): Promise<Reply | null> {
    this.#recursion = 0;
    this.#warnIfReject = 0;
    this.#deferIfReject = null;
    try {
      const st = await run();
      return st.kind === "reject" ? st.reply : null;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      log.warn(`${namaddrOf(this.s.client)}: restriction error: ${why}`);
      this.#recursion = 0;
      this.#warnIfReject = 0;
      const st = this.#reject(451, "4.3.5", "Server configuration error", true);
      return st.kind === "reject" ? st.reply : null;
    }
  }

  async #list(
    param: string,
    replyName: string,
    cls: string,
    defAcl: string | null,
  ): Promise<Status> {
    const list = restrictionList(this.#cfg, param);
    if (list.length === 0) return DUNNO;
    return this.#generic(list, replyName, cls, defAcl);
  }

  // ---------------------------------------------------------------- the list walker

  async #generic(
    list: readonly string[],
    replyName: string,
    cls: string,
    defAcl: string | null,
  ): Promise<Status> {
    const saved = this.#recursion++;
    let status: Status = DUNNO;
    for (let i = 0; i < list.length; i++) {
      if (this.actions.discard !== undefined) break;
      let name = list[i].toLowerCase();
      let arg: string | undefined;
      if (name === "warn_if_reject") {
        if (this.#warnIfReject === 0) this.#warnIfReject = this.#recursion;
        continue;
      }
      if (list[i].includes(":")) {
        // A bare table means "check_<stage>_access table".
        if (!defAcl)
          throw new ConfigProblem(`specify a check_*_access restriction before "${list[i]}"`);
        arg = list[i];
        name = defAcl;
      } else if (WITH_ARGUMENT.has(name)) {
        arg = list[++i];
        if (arg === undefined) throw new ConfigProblem(`restriction ${name} requires an argument`);
      }
      status = await this.#one(name, arg, replyName, cls, defAcl);
      if (this.#warnIfReject >= this.#recursion) this.#warnIfReject = 0;
      if (status.kind !== "dunno") break;
      if (this.#deferIfPermit && this.#deferIfReject) break;
    }
    this.#recursion = saved;
    if (this.#warnIfReject >= this.#recursion) this.#warnIfReject = 0;
    return status;
  }

  async #one(
    name: string,
    arg: string | undefined,
    replyName: string,
    cls: string,
    defAcl: string | null,
  ): Promise<Status> {
    const s = this.s;
    const st = s.settings;
    const cfg = this.#cfg;
    const client = s.client;
    const helo = this.#helo ?? s.helo;
    const sender = this.#sender ?? s.sender;
    const rcpt = this.#recipient ?? null;
    switch (name) {
      // ---------------------------------------------------------- generic
      case "permit":
        return OK;
      case "reject":
        return this.#reject(
          cfg.int("reject_code"),
          "5.7.1",
          `<${replyName}>: ${cls} rejected: Access denied`,
        );
      case "defer":
        return this.#reject(
          cfg.int("defer_code"),
          "4.3.2",
          `<${replyName}>: ${cls} rejected: Try again later`,
        );
      case "defer_if_permit":
        return this.#deferIfPermitOr(
          450,
          "4.7.0",
          `<${replyName}>: ${cls} rejected: defer_if_permit requested`,
        );
      case "defer_if_reject":
        this.#deferIf(
          "reject",
          450,
          "4.7.0",
          `<${replyName}>: ${cls} rejected: defer_if_reject requested`,
        );
        return DUNNO;
      case "reject_unauth_pipelining":
        if (!s.illPipelining) return DUNNO;
        return this.#reject(
          503,
          "5.5.0",
          `<${replyName}>: ${cls} rejected: Improper use of SMTP command pipelining`,
        );
      case "sleep": {
        if (!/^\d+$/.test(arg!))
          throw new ConfigProblem("restriction sleep must be followed by number");
        await Bun.sleep(Number(arg) * 1000);
        return DUNNO;
      }
      case "reject_plaintext_session":
        return s.tls ? DUNNO : this.#reject(450, "4.7.1", "Session encryption is required");

      // ---------------------------------------------------------- client
      case "permit_mynetworks":
        return st.mynetworks.matches(client.addr, client.name) ? OK : DUNNO;
      case "permit_sasl_authenticated":
        return s.saslUser ? OK : DUNNO;
      case "reject_unknown_client_hostname":
      case "reject_unknown_client":
        if (client.nameStatus === "ok") return DUNNO;
        return this.#reject(
          450,
          "4.7.25",
          `Client host rejected: cannot find your hostname, [${client.addr}]`,
        );
      case "reject_unknown_reverse_client_hostname":
        if (client.reverseStatus === "ok") return DUNNO;
        return this.#reject(
          450,
          "4.7.1",
          `Client host rejected: cannot find your reverse hostname, [${client.addr}]`,
        );
      case "check_client_access": {
        const t = restrictionTable(cfg, arg!);
        const hit = accessLookupClient([t], client.name, client.addr, this.#accessOptions());
        return hit ? this.#tableResult(arg!, hit.value, namaddrOf(client), CLIENT, defAcl) : DUNNO;
      }
      case "check_reverse_client_hostname_access": {
        const t = restrictionTable(cfg, arg!);
        const hit = accessLookupClient([t], client.reverseName, client.addr, this.#accessOptions());
        return hit
          ? this.#tableResult(arg!, hit.value, client.reverseName, "Unverified Client host", defAcl)
          : DUNNO;
      }
      case "reject_rbl_client":
      case "reject_rbl":
        return this.#rblClient(arg!, CLIENT);
      case "reject_rhsbl_client":
        return client.name === "unknown" ? DUNNO : this.#rhsbl(arg!, client.name, CLIENT);
      case "reject_rhsbl_reverse_client":
        return client.reverseName === "unknown"
          ? DUNNO
          : this.#rhsbl(arg!, client.reverseName, "Unverified Client host");

      // ---------------------------------------------------------- helo
      case "check_helo_access": {
        if (!helo) return DUNNO;
        const t = restrictionTable(cfg, arg!);
        const hit = accessLookupClient([t], helo, "", this.#accessOptions());
        return hit ? this.#tableResult(arg!, hit.value, helo, HELO, defAcl) : DUNNO;
      }
      case "reject_invalid_helo_hostname":
      case "reject_invalid_hostname":
        if (!helo) return DUNNO;
        if (helo.startsWith("[")) return this.#invalidLiteral(helo);
        if (validHostname(truncateDot(helo)) || isIPv4(helo)) return DUNNO;
        return this.#reject(
          cfg.int("invalid_hostname_reject_code"),
          "5.5.2",
          `<${helo}>: ${HELO} rejected: Invalid name`,
        );
      case "reject_non_fqdn_helo_hostname":
      case "reject_non_fqdn_hostname": {
        if (!helo) return DUNNO;
        if (helo.startsWith("[")) return this.#invalidLiteral(helo);
        const h = truncateDot(helo);
        if (validHostname(h) && h.includes(".")) return DUNNO;
        return this.#reject(
          cfg.int("non_fqdn_reject_code"),
          "5.5.2",
          `<${helo}>: ${HELO} rejected: need fully-qualified hostname`,
        );
      }
      case "reject_unknown_helo_hostname":
      case "reject_unknown_hostname":
        if (!helo) return DUNNO;
        if (helo.startsWith("[")) return this.#invalidLiteral(helo);
        return this.#unknownHostname(truncateDot(helo));
      case "reject_rhsbl_helo":
        return helo ? this.#rhsbl(arg!, helo, HELO) : DUNNO;

      // ---------------------------------------------------------- sender
      case "check_sender_access": {
        if (sender === null) return DUNNO;
        const t = restrictionTable(cfg, arg!);
        if (sender === "") {
          const v = t.lookup(cfg.str("smtpd_null_access_lookup_key"));
          return v === undefined ? DUNNO : this.#tableResult(arg!, v, "", SENDER, defAcl);
        }
        return this.#mailAccess(t, arg!, sender, SENDER, defAcl);
      }
      case "reject_unknown_sender_domain":
      case "reject_unknown_address":
        return sender ? this.#unknownAddress(sender, SENDER) : DUNNO;
      case "reject_non_fqdn_sender":
        return sender ? this.#nonFqdnAddress(sender, SENDER) : DUNNO;
      case "reject_rhsbl_sender":
        return sender ? this.#rhsbl(arg!, sender, SENDER) : DUNNO;
      case "reject_unlisted_sender":
        if (!sender || this.#senderChecked) return DUNNO;
        return this.#unlisted(sender, SENDER);
      case "reject_sender_login_mismatch":
      case "reject_authenticated_sender_login_mismatch":
      case "reject_unauthenticated_sender_login_mismatch":
      case "reject_known_sender_login_mismatch": {
        const maps = s.senderLoginMaps?.();
        if (!sender || !maps) return DUNNO;
        const r = checkSenderLogin(name as SenderLoginCheck, sender, s.saslUser, maps);
        if (!r) return DUNNO;
        return this.#reject(r.code, r.enhanced ?? "5.7.1", String(r.text));
      }
      case "reject_multi_recipient_bounce":
        if (sender !== "" || s.rcptCount <= (s.where === "RCPT" ? 0 : 1)) return DUNNO;
        return this.#reject(
          550,
          "5.5.3",
          `<${replyName}>: ${cls} rejected: Multi-recipient bounce`,
        );

      // ---------------------------------------------------------- recipient
      case "check_recipient_access": {
        if (!rcpt) return DUNNO;
        return this.#mailAccess(restrictionTable(cfg, arg!), arg!, rcpt, RECIPIENT, defAcl);
      }
      case "permit_auth_destination":
        return rcpt && this.#authDestination(rcpt) ? OK : DUNNO;
      case "reject_unauth_destination":
      case "defer_unauth_destination": {
        if (!rcpt || this.#authDestination(rcpt)) return DUNNO;
        const code = cfg.int("relay_domains_reject_code");
        return name === "reject_unauth_destination"
          ? this.#reject(code, "5.7.1", `<${rcpt}>: Relay access denied`)
          : this.#reject(code - 100, "4.7.1", `<${rcpt}>: Relay access denied`);
      }
      case "reject_unknown_recipient_domain":
        return rcpt ? this.#unknownAddress(rcpt, RECIPIENT) : DUNNO;
      case "reject_non_fqdn_recipient":
        return rcpt ? this.#nonFqdnAddress(rcpt, RECIPIENT) : DUNNO;
      case "reject_rhsbl_recipient":
        return rcpt ? this.#rhsbl(arg!, rcpt, RECIPIENT) : DUNNO;
      case "reject_unlisted_recipient":
      case "check_recipient_maps":
        if (!rcpt || this.#recipientChecked) return DUNNO;
        return this.#unlisted(rcpt, RECIPIENT);
    }
    // ---------------------------------------------------------- restriction classes
    if (cfg.list("smtpd_restriction_classes").some((c) => c.toLowerCase() === name)) {
      const list = restrictionList(cfg, name);
      return this.#generic(list, replyName, cls, defAcl);
    }
    log.warn(`unknown smtpd restriction: "${name}"`);
    throw new ConfigProblem(`unknown smtpd restriction: "${name}"`);
  }

  #accessOptions() {
    return {
      delimiter: this.#cfg.str("recipient_delimiter"),
      parentMatchesSubdomains: this.#cfg
        .list("parent_domain_matches_subdomains")
        .includes("smtpd_access_maps"),
    };
  }

  /** check_sender_access / check_recipient_access: the address as resolved, access(5) order. */
  #mailAccess(
    table: LookupTable,
    spec: string,
    addr: string,
    cls: string,
    defAcl: string | null,
  ): Promise<Status> | Status {
    const canonical = canonicalize(this.#cfg, addr);
    const hit = accessLookupAddress([table], canonical.toLowerCase(), this.#accessOptions());
    if (!hit) return DUNNO;
    return this.#tableResult(spec, hit.value, addr, cls, defAcl).then((st) => {
      // Postfix: a routed recipient (user%remote@us, user@remote@us) is too suspicious for OK.
      if (
        st.kind === "ok" &&
        cls === RECIPIENT &&
        resolve(this.#cfg, canonical).address !== canonical
      )
        return DUNNO;
      return st;
    });
  }

  /** permit_auth_destination: one of our domains (local, virtual, relay), after routing tricks. */
  #authDestination(rcpt: string): boolean {
    const r = resolve(this.#cfg, canonicalize(this.#cfg, rcpt));
    if (splitAddress(r.address).domain === "") return true;
    return r.class !== "default";
  }

  #unlisted(addr: string, cls: string): Status {
    if (cls === RECIPIENT) this.#recipientChecked = this.#warnIfReject === 0;
    else this.#senderChecked = this.#warnIfReject === 0;
    const v = verifyRecipient(this.#cfg, addr);
    if (v.known) return DUNNO;
    // Postfix: 5.1.0 for a sender missing from a recipient table, else the DSN fitted to it.
    const tableMiss = /^User unknown in (local recipient|virtual mailbox|relay recipient) table$/;
    const dsn =
      cls !== SENDER
        ? (v.enhanced ?? "5.1.1")
        : tableMiss.test(v.text ?? "")
          ? "5.1.0"
          : fixDsn(v.enhanced ?? "5.1.0", SENDER);
    return this.#reject(
      v.code ?? 550,
      dsn,
      `<${addr}>: ${cls} rejected: ${v.text ?? "User unknown"}`,
    );
  }

  #invalidLiteral(helo: string): Status {
    const inner = helo.slice(1, helo.endsWith("]") ? -1 : undefined);
    const ip = inner.toLowerCase().startsWith("ipv6:") ? inner.slice(5) : inner;
    if (
      helo.endsWith("]") &&
      (isIPv4(ip) || (isIPv6(ip) && inner.toLowerCase().startsWith("ipv6:")))
    )
      return DUNNO;
    return this.#reject(
      this.#cfg.int("invalid_hostname_reject_code"),
      "5.5.2",
      `<${helo}>: ${HELO} rejected: invalid ip address`,
    );
  }

  #nonFqdnAddress(addr: string, cls: string): Status {
    const domain = splitAddress(addr).domain;
    if (domain.startsWith("[") && domain.endsWith("]")) return DUNNO;
    const d = truncateDot(domain);
    if (d !== "" && validHostname(d) && d.includes(".")) return DUNNO;
    return this.#reject(
      this.#cfg.int("non_fqdn_reject_code"),
      "4.5.2",
      `<${addr}>: ${cls} rejected: need fully-qualified address`,
    );
  }

  // ---------------------------------------------------------------- DNS checks

  async #unknownHostname(name: string): Promise<Status> {
    const dns = this.s.resolver;
    if (!dns) return DUNNO;
    const results = await Promise.all([dns.a(name), dns.aaaa(name), dns.mx(name)]);
    if (results.some((r) => r.status === "ok")) return DUNNO;
    const helo = this.#helo ?? this.s.helo ?? name;
    const text = `<${helo}>: ${HELO} rejected: Host not found`;
    if (results.some((r) => r.status === "tempfail"))
      return this.#deferIfPermitOr(450, "4.7.1", text);
    return this.#reject(this.#cfg.int("unknown_hostname_reject_code"), "4.7.1", text);
  }

  /** reject_unknown_sender_domain / _recipient_domain: MX, else A/AAAA; null MX refuses. */
  async #unknownAddress(addr: string, cls: string): Promise<Status> {
    const dns = this.s.resolver;
    const r = resolve(this.#cfg, canonicalize(this.#cfg, addr));
    const domain = splitAddress(r.address).domain;
    if (!dns || domain === "" || (r.class !== "default" && r.class !== "relay")) return DUNNO;
    if (domain.startsWith("[")) return DUNNO;
    const isSender = cls === SENDER;
    const dsn = isSender ? "4.1.8" : "4.1.2";
    const text = `<${addr}>: ${cls} rejected: Domain not found`;
    // An SMTPUTF8 domain is looked up as its A-label (Postfix: midna_domain_to_ascii).
    const ascii = asciiDomain(domain);
    const mx = await dns.mx(ascii);
    if (mx.status === "ok") {
      if (!mx.nullMx) return DUNNO;
      return this.#reject(
        isSender ? 550 : 556,
        isSender ? "4.7.27" : "4.1.10",
        `<${addr}>: ${cls} rejected: Domain ${domain} does not accept mail (nullMX)`,
      );
    }
    if (mx.status === "tempfail") return this.#deferIfPermitOr(450, dsn, text);
    if (mx.status === "nodata") {
      const [a, aaaa] = await Promise.all([dns.a(ascii), dns.aaaa(ascii)]);
      if (a.status === "ok" || aaaa.status === "ok") return DUNNO;
      if (a.status === "tempfail" || aaaa.status === "tempfail")
        return this.#deferIfPermitOr(450, dsn, text);
    }
    return this.#reject(this.#cfg.int("unknown_address_reject_code"), dsn, text);
  }

  async #rblClient(spec: string, cls: string): Promise<Status> {
    const addr = this.s.client.addr;
    if (!parseIp(addr)) return DUNNO;
    const prefix = reverseName(addr).replace(/\.(in-addr|ip6)\.arpa$/, "");
    return this.#dnsxl(spec, prefix, addr, cls);
  }

  async #rhsbl(spec: string, what: string, cls: string): Promise<Status> {
    const at = what.lastIndexOf("@");
    const domain = asciiDomain(truncateDot(at === -1 ? what : what.slice(at + 1)));
    if (domain === "" || domain.startsWith("[")) return DUNNO;
    // Postfix skips names with a numeric last label (some lists refuse "IP queries").
    if (/^\d+$/.test(domain.slice(domain.lastIndexOf(".") + 1)) || !validHostname(domain))
      return DUNNO;
    return this.#dnsxl(spec, domain, what, cls);
  }

  /** One DNSxL query: "<prefix>.<list domain>" has an A record (matching the =filter). */
  async #dnsxl(spec: string, prefix: string, what: string, cls: string): Promise<Status> {
    const dns = this.s.resolver;
    if (!dns) return DUNNO;
    const eq = spec.indexOf("=");
    const listDomain = eq === -1 ? spec : spec.slice(0, eq);
    const filter = eq === -1 ? null : spec.slice(eq + 1);
    const query = `${prefix}.${listDomain}`;
    const a = await dns.a(query);
    if (a.status === "tempfail") {
      log.warn(`${query}: RBL lookup error: ${a.error ?? "temporary failure"}`);
      return DUNNO;
    }
    if (a.status !== "ok") return DUNNO;
    if (filter !== null && !a.records.some((ip) => ipFilterMatch(filter, ip))) return DUNNO;
    const txt = await dns.txt(query);
    let reason = txt.status === "ok" ? txt.records.join(" / ") : "";
    if (reason.length > 500) reason = reason.slice(0, 500);
    const template = this.#cfg.str("default_rbl_reply");
    const vars: Record<string, string> = {
      rbl_code: String(this.#cfg.int("maps_rbl_reject_code")),
      rbl_domain: listDomain,
      rbl_reason: reason,
      rbl_txt: reason,
      rbl_what: what,
      rbl_class: cls,
      client_address: this.s.client.addr,
      client_name: this.s.client.name,
    };
    const text = expandTemplate(template, vars, this.#cfg);
    const m = /^([45]\d\d) (.*)$/s.exec(text);
    if (!m) {
      log.warn(`rbl response code configuration error: ${text}`);
      return this.#reject(450, "4.7.1", "Service unavailable");
    }
    const d = splitDsn("4.7.1", m[2]);
    return this.#reject(Number(m[1]), fixDsn(d.dsn, cls), d.text || "Service unavailable");
  }

  // ---------------------------------------------------------------- table results

  async #tableResult(
    table: string,
    value: string,
    replyName: string,
    cls: string,
    defAcl: string | null,
  ): Promise<Status> {
    const a = parseAccessValue(value);
    const cfg = this.#cfg;
    const rejectText = (t: string, dflt: string) => `<${replyName}>: ${cls} rejected: ${t || dflt}`;
    switch (a.kind) {
      case "ok":
        return OK;
      case "dunno":
        return DUNNO;
      case "reject":
        return this.#reject(
          cfg.int("access_map_reject_code"),
          fixDsn(a.dsn, cls),
          rejectText(a.text, "Access denied"),
        );
      case "defer":
        return this.#reject(
          cfg.int("access_map_defer_code"),
          fixDsn(a.dsn, cls),
          rejectText(a.text, "Access denied"),
        );
      case "code":
        return this.#reject(a.code, fixDsn(a.dsn, cls), rejectText(a.text, "Access denied"));
      case "defer_if_permit":
        return this.#deferIfPermitOr(
          cfg.int("access_map_defer_code"),
          fixDsn(a.dsn, cls),
          rejectText(a.text, "Service unavailable"),
        );
      case "defer_if_reject":
        this.#deferIf(
          "reject",
          cfg.int("access_map_defer_code"),
          fixDsn(a.dsn, cls),
          rejectText(a.text, "Service unavailable"),
        );
        return DUNNO;
      case "warn":
        this.#whatsup("warn", a.text);
        return DUNNO;
      case "info":
        this.#whatsup("info", a.text);
        return DUNNO;
      case "hold":
        if (!this.#canDelegate(table, "HOLD")) return DUNNO;
        this.#whatsup("hold", `<${replyName}>: ${cls} ${a.text || "triggers HOLD action"}`);
        this.actions.hold ??= a.text || `${cls} triggers HOLD action`;
        return DUNNO;
      case "discard":
        if (!this.#canDelegate(table, "DISCARD")) return DUNNO;
        this.#whatsup("discard", `<${replyName}>: ${cls} ${a.text || "triggers DISCARD action"}`);
        this.actions.discard = a.text || `${cls} triggers DISCARD action`;
        return OK;
      case "prepend":
        if (!this.#canDelegate(table, "PREPEND")) return DUNNO;
        if (this.s.where === "END-OF-MESSAGE") {
          log.warn(
            `access table ${table}: action PREPEND must be used before smtpd_end_of_data_restrictions`,
          );
          return DUNNO;
        }
        this.actions.prepend.push(a.header);
        return DUNNO;
      case "filter":
        // No content filter hand-off in posteix: logged like Postfix, then ignored.
        if (!this.#canDelegate(table, "FILTER")) return DUNNO;
        this.#whatsup("filter", `<${replyName}>: ${cls} triggers FILTER ${a.destination}`);
        return DUNNO;
      case "redirect":
        if (!this.#canDelegate(table, "REDIRECT")) return DUNNO;
        this.#whatsup("redirect", `<${replyName}>: ${cls} triggers REDIRECT ${a.address}`);
        this.actions.redirect = a.address;
        return DUNNO;
      case "bcc":
        if (!this.#canDelegate(table, "BCC")) return DUNNO;
        this.#whatsup("bcc", `<${replyName}>: ${cls} triggers BCC ${a.address}`);
        this.actions.bcc.push(a.address);
        return DUNNO;
      case "restrictions":
        if (this.#recursion > 100)
          throw new ConfigProblem(
            `access table ${table} entry ${value} causes unreasonable recursion`,
          );
        return this.#generic(a.list, replyName, cls, defAcl);
      case "error":
        log.warn(`access table ${table}: ${a.reason}`);
        throw new ConfigProblem(a.reason);
    }
  }

  /** HOLD, DISCARD... need a transaction (Postfix: not in client/helo checks without MAIL). */
  #canDelegate(table: string, action: string): boolean {
    if (this.#etrn !== null) {
      log.warn(`access table ${table}: action ${action} is unavailable in smtpd_etrn_restrictions`);
      return false;
    }
    if ((this.#sender ?? this.s.sender) === null) {
      log.warn(
        `access table ${table}: with smtpd_delay_reject=no, action ${action} is always skipped in client or helo restrictions`,
      );
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- outcomes

  #deferIf(which: "permit" | "reject", code: number, dsn: string, text: string): void {
    const d = { code, dsn, text };
    if (which === "permit") this.#deferIfPermit ??= d;
    else this.#deferIfReject ??= d;
  }

  /** Postfix's DEFER_IF_PERMIT: postpone, unless warn_if_reject is on. */
  #deferIfPermitOr(code: number, dsn: string, text: string): Status {
    if (this.#warnIfReject === 0) {
      this.#deferIf("permit", code, dsn, text);
      return DUNNO;
    }
    return this.#reject(code, dsn, text);
  }

  #defer(d: Deferral): Status {
    return this.#reject(d.code, d.dsn, d.text);
  }

  /**
   * Postfix's smtpd_check_reject: validate the code, honour warn_if_reject and
   * defer_if_reject, make the DSN class match the code, log, and reject.
   */
  #reject(code: number, dsn: string, text: string, softwareError = false): Status {
    let c = code;
    let d = dsn;
    let t = text;
    if (this.#warnIfReject !== 0 && !softwareError) {
      this.#whatsup("reject_warning", `${c} ${String(c)[0]}${d.slice(1)} ${t}`);
      return DUNNO;
    }
    if (c < 400 || c > 599 || !/^[45]\.\d{1,3}\.\d{1,3}$/.test(d)) {
      log.warn(`SMTP reply code configuration error: ${c} ${d} ${t}`);
      c = 450;
      d = "4.7.1";
      t = "Service unavailable";
    }
    if (this.#deferIfReject && c >= 500) {
      const later = this.#deferIfReject;
      this.#deferIfReject = null;
      return this.#reject(later.code, later.dsn, later.text, softwareError);
    }
    d = `${String(c)[0]}${d.slice(1)}`;
    if (t.length > 500) t = t.slice(0, 500);
    t = t.replace(/[\x00-\x1f\x7f]/g, " ");
    this.#whatsup("reject", `${c} ${d} ${t}`);
    return { kind: "reject", reply: { code: c, enhanced: d, text: t } };
  }

  /** Log a session event the way restrictions log theirs (bare newline, size rejects). */
  logWhatsup(what: string, text: string, sender?: string): void {
    const saved = this.#sender;
    if (sender !== undefined) this.#sender = sender;
    this.#whatsup(what, text);
    this.#sender = saved;
  }

  /** Postfix's log_whatsup: "QUEUEID: reject: RCPT from host[addr]: TEXT; from=<> to=<> ...". */
  #whatsup(what: string, text: string): void {
    const s = this.s;
    const sender = this.#sender ?? s.sender;
    const rcpt = this.#recipient === undefined ? s.firstRecipient : this.#recipient;
    let line = `${s.queueId ?? "NOQUEUE"}: ${what}: ${s.where} from ${namaddrOf(s.client)}: ${text};`;
    if (sender !== null) line += ` from=<${externalForm(sender)}>`;
    if (rcpt !== null) line += ` to=<${externalForm(rcpt)}>`;
    line += ` proto=${s.protocol}`;
    const helo = this.#helo ?? s.helo;
    if (helo !== null) line += ` helo=<${helo}>`;
    if (s.saslMethod) line += ` sasl_method=${s.saslMethod}`;
    if (s.saslUser) line += ` sasl_username=${s.saslUser}`;
    log.info(line);
  }
}

/** A U-label domain as its A-label ("" when it cannot be converted); ASCII unchanged. */
function asciiDomain(domain: string): string {
  return /^[\x00-\x7f]*$/.test(domain) ? domain : domainToASCII(domain);
}

export function namaddrOf(p: PeerInfo): string {
  return `${p.name}[${p.addr}]`;
}

/**
 * A DNSxL reply filter (Postfix "domain=127.0.0.[2..11;15]"): four octet patterns, each a
 * number, or "[" a list of numbers and "a..b" ranges separated by ";" "]".
 */
export function ipFilterMatch(filter: string, ip: string): boolean {
  const octet = "(\\d{1,3}|\\[[0-9.;]*\\])";
  const m = new RegExp(`^${octet}\\.${octet}\\.${octet}\\.${octet}$`).exec(filter);
  const got = ip.split(".");
  if (!m || got.length !== 4) return false;
  const want = m.slice(1);
  for (let i = 0; i < 4; i++) {
    const n = Number(got[i]);
    const w = want[i];
    if (w.startsWith("[") && w.endsWith("]")) {
      const ok = w
        .slice(1, -1)
        .split(";")
        .some((part) => {
          const r = /^(\d+)\.\.(\d+)$/.exec(part);
          return r ? n >= Number(r[1]) && n <= Number(r[2]) : Number(part) === n;
        });
      if (!ok) return false;
    } else if (Number(w) !== n) return false;
  }
  return true;
}

/** $name, ${name}, ${name?text}, ${name:text} over the given variables, then main.cf. */
export function expandTemplate(
  template: string,
  vars: Record<string, string>,
  cfg: Config,
): string {
  const value = (name: string): string => vars[name] ?? cfg.any(name) ?? "";
  return template.replace(
    /\$(?:\{([A-Za-z0-9_]+)(?:([?:])((?:[^{}]|\{[^{}]*\})*))?\}|([A-Za-z0-9_]+)|\$)/g,
    (
      _m,
      braced: string | undefined,
      op: string | undefined,
      alt: string | undefined,
      bare: string | undefined,
    ) => {
      if (braced === undefined && bare === undefined) return "$";
      const name = braced ?? bare!;
      const v = value(name);
      if (op === "?") return v !== "" ? expandTemplate(alt ?? "", vars, cfg) : "";
      if (op === ":") return v === "" ? expandTemplate(alt ?? "", vars, cfg) : "";
      return v;
    },
  );
}
