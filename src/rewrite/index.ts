/**
 * rewrite -- posteix's trivial-rewrite(8): canonical address form and address resolution.
 *
 * `canonicalize()` turns an envelope address into the internal canonical form (bare user ->
 * user@$myorigin, site!user -> user@site, trailing dots dropped, domain lowercased).
 * `resolve()` decides the address class (local, virtual alias, virtual mailbox, relay, default),
 * the transport and the next hop, following transport_maps, relayhost and the percent hack as
 * Postfix does. smtpd uses the class for relay control (reject_unauth_destination) and
 * recipient validation; qmgr uses transport and next hop to group deliveries.
 *
 * An address whose domain is ours but whose local part still routes elsewhere
 * (`user%remote@us`, `remote!user@us`, `"user@remote"@us`, `user@remote@us`) resolves to the
 * remote destination, so relay control sees where the mail would really go (RFC 5321 3.6.1,
 * 4.1.1.3 on source routes).
 *
 * Parameters: myorigin, mydomain, myhostname, mydestination, inet_interfaces,
 * virtual_alias_domains, virtual_mailbox_domains, relay_domains, relayhost, transport_maps,
 * local_transport, virtual_transport, relay_transport, default_transport, append_at_myorigin,
 * append_dot_mydomain, swap_bangpath, allow_percent_hack, recipient_delimiter.
 */
import { networkInterfaces } from "node:os";
import type { Config, LookupTable } from "../config/types.ts";
import { isIPv4, isIPv6, splitAddress } from "./address.ts";

export type AddressClass = "local" | "alias" | "virtual" | "relay" | "default";

export interface Resolved {
  /** The address delivery will use (after percent hack / bang path / canonical form). */
  address: string;
  class: AddressClass;
  transport: string;
  nexthop: string;
  /** Set when transport_maps or the class says the address must fail (error: transport). */
  error?: string;
}

function lowerDomain(address: string): string {
  const { local, domain } = splitAddress(address);
  if (domain === "") return local;
  let d = domain.toLowerCase();
  while (d.endsWith(".")) d = d.slice(0, -1);
  return `${local}@${d}`;
}

/** Canonical internal form (Postfix rewrite context "local"). The null sender stays "". */
export function canonicalize(cfg: Config, address: string): string {
  if (address === "") return "";
  let addr = address;
  let { local, domain } = splitAddress(addr);
  if (domain === "" && cfg.bool("swap_bangpath") && local.includes("!")) {
    const bang = local.indexOf("!");
    domain = local.slice(0, bang);
    local = local.slice(bang + 1);
  }
  if (domain === "") {
    if (!cfg.bool("append_at_myorigin")) return local;
    domain = cfg.str("myorigin");
  } else if (
    cfg.bool("append_dot_mydomain") &&
    !domain.includes(".") &&
    !domain.startsWith("[") &&
    cfg.str("mydomain")
  ) {
    domain = `${domain}.${cfg.str("mydomain")}`;
  }
  addr = `${local}@${domain}`;
  return lowerDomain(addr);
}

/** True when the domain is one of $mydestination, or an address literal of this host. */
export function isLocalDomain(cfg: Config, domain: string): boolean {
  const d = domain.toLowerCase();
  if (d.startsWith("[") && d.endsWith("]")) return isOwnAddressLiteral(cfg, d.slice(1, -1));
  return cfg.domains("mydestination").matches(d);
}

function isOwnAddressLiteral(cfg: Config, lit: string): boolean {
  const ip = (lit.toLowerCase().startsWith("ipv6:") ? lit.slice(5) : lit).toLowerCase();
  if (!isIPv4(ip) && !isIPv6(ip)) return false;
  const ifaces = cfg.list("inet_interfaces");
  if (ifaces.includes(ip)) return true;
  if (ifaces.includes("loopback-only")) return ip.startsWith("127.") || ip === "::1";
  if (!ifaces.includes("all")) return false;
  // user@[192.0.2.1] is local when 192.0.2.1 is one of this host's addresses (Postfix does
  // the same with inet_interfaces = all).
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.address.toLowerCase() === ip) return true;
  return false;
}

/** The class of a domain, without looking at the local part. */
export function domainClass(cfg: Config, domain: string): AddressClass {
  if (isLocalDomain(cfg, domain)) return "local";
  const d = domain.toLowerCase();
  if (cfg.domains("virtual_alias_domains").matches(d)) return "alias";
  if (cfg.domains("virtual_mailbox_domains").matches(d)) return "virtual";
  if (cfg.domains("relay_domains").matches(d)) return "relay";
  return "default";
}

/**
 * Peel routing tricks off an address whose domain is local: `a@b@us` -> `a@b`, `a%b@us` ->
 * `a@b` (allow_percent_hack), `b!a@us` -> `a@b` (swap_bangpath). Repeats until stable.
 */
function peel(cfg: Config, address: string): string {
  let addr = address;
  for (let guard = 0; guard < 20; guard++) {
    const { local, domain } = splitAddress(addr);
    if (domain === "" || !isLocalDomain(cfg, domain)) return addr;
    if (local.includes("@")) {
      addr = lowerDomain(local);
      continue;
    }
    if (cfg.bool("allow_percent_hack") && local.includes("%")) {
      const pct = local.lastIndexOf("%");
      addr = lowerDomain(`${local.slice(0, pct)}@${local.slice(pct + 1)}`);
      continue;
    }
    if (cfg.bool("swap_bangpath") && local.includes("!")) {
      const bang = local.indexOf("!");
      addr = lowerDomain(`${local.slice(bang + 1)}@${local.slice(0, bang)}`);
      continue;
    }
    return addr;
  }
  return addr;
}

/** Split "transport:nexthop"; either side may be empty. */
export function splitTransport(value: string): { transport: string; nexthop: string } {
  const colon = value.indexOf(":");
  if (colon === -1) return { transport: value.trim(), nexthop: "" };
  return { transport: value.slice(0, colon).trim(), nexthop: value.slice(colon + 1).trim() };
}

/** transport(5) search order: address, domain, .parent domains, "*". */
function transportLookup(tables: LookupTable[], address: string): string | undefined {
  if (tables.length === 0) return undefined;
  const { domain } = splitAddress(address);
  const keys = [address.toLowerCase()];
  if (domain) {
    keys.push(domain);
    const labels = domain.split(".");
    for (let i = 1; i < labels.length; i++) keys.push(`.${labels.slice(i).join(".")}`);
  }
  keys.push("*");
  for (const key of keys) {
    for (const t of tables) {
      const v = t.lookup(key);
      if (v !== undefined) return v;
    }
  }
  return undefined;
}

/** Resolve an address in canonical form to its class, transport and next hop. */
export function resolve(cfg: Config, address: string): Resolved {
  const addr = peel(cfg, address);
  const { domain } = splitAddress(addr);
  const cls = domain === "" ? "local" : domainClass(cfg, domain);
  let def: { transport: string; nexthop: string };
  switch (cls) {
    case "local":
      def = splitTransport(cfg.str("local_transport"));
      if (!def.nexthop) def.nexthop = cfg.str("myhostname");
      break;
    case "alias":
      return {
        address: addr,
        class: cls,
        transport: "error",
        nexthop: "5.1.1 User unknown in virtual alias table",
        error: "5.1.1 User unknown in virtual alias table",
      };
    case "virtual":
      def = splitTransport(cfg.str("virtual_transport"));
      if (!def.nexthop) def.nexthop = domain;
      break;
    default: {
      def = splitTransport(cfg.str(cls === "relay" ? "relay_transport" : "default_transport"));
      if (!def.nexthop) def.nexthop = cfg.str("relayhost") || domain;
    }
  }
  const override = transportLookup(cfg.tables("transport_maps"), addr);
  if (override !== undefined) {
    const o = splitTransport(override);
    if (o.transport) def.transport = o.transport;
    if (o.nexthop) def.nexthop = o.nexthop;
  }
  const r: Resolved = { address: addr, class: cls, ...def };
  if (r.transport === "error" || r.transport === "retry") r.error = r.nexthop;
  return r;
}
