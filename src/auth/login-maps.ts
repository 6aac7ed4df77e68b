/**
 * Who may use which envelope sender: $smtpd_sender_login_maps (sender address -> SASL logins that
 * own it, separated by commas or white space) and the restrictions that use it, with Postfix's
 * semantics (smtpd_check.c):
 *
 *   reject_authenticated_sender_login_mismatch    a logged-in client must own the sender
 *                                                 (an address without an owner is refused too)
 *   reject_unauthenticated_sender_login_mismatch  a sender that has an owner needs a login
 *   reject_sender_login_mismatch                  both of the above
 *   reject_known_sender_login_mismatch            both, but only for senders that have an owner
 *
 * 553 5.7.1 "<a@b>: Sender address rejected: not owned by user NAME" / "... not logged in".
 * The null sender is never checked. Lookups use Postfix's order for these maps (mail_addr_find):
 * user+ext@domain, user@domain, user+ext and user (local domains only), @domain.
 *
 * posteix addition, when $smtpd_sender_login_maps is empty (Postfix then checks nothing): a
 * login owns the address equal to its name (and its +extensions). Logins from the user table
 * are addresses, so `posteix user add alice@example.com` can send as alice@example.com and,
 * under these restrictions, as nothing else; an address that is itself a login "has an owner"
 * for the unauthenticated checks.
 */
import { splitExtension, virtualLookup } from "../config/lookup.ts";
import type { Config, LookupTable } from "../config/types.ts";
import type { Reply } from "../smtpd/reply.ts";

export type SenderLoginCheck =
  | "reject_sender_login_mismatch"
  | "reject_authenticated_sender_login_mismatch"
  | "reject_unauthenticated_sender_login_mismatch"
  | "reject_known_sender_login_mismatch";

export const SENDER_LOGIN_CHECKS: readonly SenderLoginCheck[] = [
  "reject_sender_login_mismatch",
  "reject_authenticated_sender_login_mismatch",
  "reject_unauthenticated_sender_login_mismatch",
  "reject_known_sender_login_mismatch",
];

export interface SenderLoginMaps {
  /** True when no table is configured and the posteix fallback applies. */
  readonly fallback: boolean;
  /** $recipient_delimiter: user+ext@domain is owned like user@domain. */
  readonly delimiter: string;
  /** The logins that own `sender`, or null when the sender has no owner. */
  owners(sender: string): string[] | null;
}

export interface SenderLoginOptions {
  /** $recipient_delimiter. */
  delimiter?: string;
  /** Local domains ($mydestination...): only there "user" keys match. */
  isLocalDomain?: (domain: string) => boolean;
  /** For the fallback: whether a login of that name exists (the user table). */
  isLogin?: (name: string) => boolean;
}

function withoutExtension(address: string, delimiter: string): string {
  const at = address.lastIndexOf("@");
  const local = at < 0 ? address : address.slice(0, at);
  const [base] = splitExtension(local, delimiter);
  return at < 0 ? base : `${base}${address.slice(at)}`;
}

export function senderLoginMapsFromTables(
  tables: readonly LookupTable[],
  opts: SenderLoginOptions = {},
): SenderLoginMaps {
  const delimiter = opts.delimiter ?? "";
  if (tables.length === 0) {
    return {
      fallback: true,
      delimiter,
      owners(sender) {
        const base = withoutExtension(sender.toLowerCase(), delimiter);
        return opts.isLogin?.(base) ? [base] : null;
      },
    };
  }
  return {
    fallback: false,
    delimiter,
    owners(sender) {
      const hit = virtualLookup(
        tables,
        sender.toLowerCase(),
        opts.isLocalDomain ?? false,
        delimiter,
      );
      if (hit === undefined) return null;
      return hit.value.split(/[\s,]+/).filter((s) => s !== "");
    },
  };
}

/** The maps of a configuration ($smtpd_sender_login_maps, $recipient_delimiter, $mydestination). */
export function senderLoginMaps(
  cfg: Config,
  opts: Pick<SenderLoginOptions, "isLogin"> = {},
): SenderLoginMaps {
  const local = cfg.domains("mydestination");
  return senderLoginMapsFromTables(cfg.tables("smtpd_sender_login_maps"), {
    delimiter: cfg.str("recipient_delimiter"),
    isLocalDomain: (d) => local.matches(d),
    isLogin: opts.isLogin,
  });
}

function owns(maps: SenderLoginMaps, sender: string, login: string): boolean | null {
  const l = login.toLowerCase();
  if (maps.fallback) {
    if (withoutExtension(sender.toLowerCase(), maps.delimiter) === l) return true;
    return maps.owners(sender) === null ? null : false;
  }
  const owners = maps.owners(sender);
  if (owners === null) return null;
  return owners.some((o) => o.toLowerCase() === l);
}

/**
 * Applies one of the four restrictions to MAIL FROM. Returns the 553 reply, or null when the
 * restriction has nothing to say (Postfix's DUNNO).
 */
export function checkSenderLogin(
  check: SenderLoginCheck,
  sender: string,
  saslUser: string | null,
  maps: SenderLoginMaps,
): Reply | null {
  if (sender === "" || sender === "<>") return null;
  const authenticated = (allowUnknown: boolean): Reply | null => {
    if (saslUser === null) return null;
    const o = owns(maps, sender, saslUser);
    if (o === true || (o === null && allowUnknown)) return null;
    return {
      code: 553,
      enhanced: "5.7.1",
      text: `<${sender}>: Sender address rejected: not owned by user ${saslUser}`,
    };
  };
  const unauthenticated = (): Reply | null => {
    if (saslUser !== null || maps.owners(sender) === null) return null;
    return {
      code: 553,
      enhanced: "5.7.1",
      text: `<${sender}>: Sender address rejected: not logged in`,
    };
  };
  switch (check) {
    case "reject_authenticated_sender_login_mismatch":
      return authenticated(false);
    case "reject_unauthenticated_sender_login_mismatch":
      return unauthenticated();
    case "reject_sender_login_mismatch":
      return authenticated(false) ?? unauthenticated();
    case "reject_known_sender_login_mismatch":
      return saslUser !== null ? authenticated(true) : unauthenticated();
  }
}
