/**
 * The configuration contract: how every other component reads main.cf, master.cf and tables.
 */
import type { ParamName } from "./params.ts";

/** A problem found in a configuration file, always with its place. */
export interface ConfigDiagnostic {
  severity: "error" | "warning";
  file: string; // path, or "(built-in)" / "(master.cf -o)"
  line: number; // 1-based; 0 when not tied to a line
  message: string; // e.g. 'unused parameter: foo=bar' or 'bad time value "5x" for smtpd_timeout'
}

/** One lookup table (texthash:, hash:, inline:, static:, regexp:, cidr:, unix:, users:...). */
export interface LookupTable {
  /** As written in main.cf, e.g. "texthash:/etc/posteix/aliases". */
  readonly spec: string;
  /**
   * The value for key, or undefined. Keys are looked up as given; callers do the Postfix
   * access(5)/virtual(5) search order (see lookup.ts). regexp/cidr tables match the whole key.
   */
  lookup(key: string): string | undefined;
}

/** A host/network list such as mynetworks: CIDR blocks, [ipv6]/len, host names, /file, type:table. */
export interface NetworkMatcher {
  matches(addr: string, hostname?: string): boolean;
}

/** A domain list such as mydestination or relay_domains: names, /file, type:table. */
export interface DomainMatcher {
  matches(domain: string): boolean;
}

/** One master.cf service line. */
export interface MasterService {
  /** Service name as written: "smtp", "127.0.0.1:2525", "submission", "lmtp". */
  name: string;
  type: "inet" | "unix" | "unix-dgram" | "fifo" | "pass";
  private: boolean;
  unpriv: boolean;
  chroot: boolean;
  wakeup: string; // "-" or a number
  /** Process (for smtpd: concurrent session) limit; 0 = no limit; from "-" = $default_process_limit. */
  maxproc: number;
  command: string; // "smtpd", "smtp", "lmtp", "local", "virtual", "discard", "error", ...
  args: string[]; // command arguments other than -o
  overrides: Record<string, string>; // -o name=value, in order
  file: string;
  line: number;
  /** For inet services: host to bind ("" = $inet_interfaces) and port (service names resolved: smtp=25, submission=587, smtps/submissions=465, lmtp=24). */
  host?: string;
  port?: number;
}

/** A loaded configuration: main.cf parameters (with defaults) plus master.cf. */
export interface Config {
  /** Directory holding main.cf/master.cf, or null when running on built-in defaults. */
  readonly configDir: string | null;
  readonly mainCfPath: string | null;
  readonly masterCfPath: string | null;
  readonly services: readonly MasterService[];
  readonly diagnostics: readonly ConfigDiagnostic[];

  /** Value after $name expansion (defaults applied). */
  str(name: ParamName): string;
  /** Split on commas and/or white space after expansion; empty entries dropped. */
  list(name: ParamName): string[];
  bool(name: ParamName): boolean;
  int(name: ParamName): number;
  /** Seconds. */
  time(name: ParamName): number;
  /** Bytes. */
  size(name: ParamName): number;
  /** Lookup tables, opened once and cached per Config. */
  tables(name: ParamName): LookupTable[];
  /** A path parameter resolved to an absolute path (relative to the config dir or cwd). */
  path(name: ParamName): string;
  /** mynetworks-style matcher for a list parameter. */
  networks(name: ParamName): NetworkMatcher;
  /** mydestination-style matcher for a list parameter. */
  domains(name: ParamName): DomainMatcher;
  /** Any parameter by name, declared or user-defined (restriction classes, $custom), expanded. */
  any(name: string): string | undefined;
  /** Raw (unexpanded) value as set in main.cf or -o, or undefined when only the default applies. */
  explicit(name: string): string | undefined;
  /** All explicitly set names in main.cf order (postconf -n). */
  explicitNames(): string[];
  /** Expand $name / ${name} / ${name?x} / ${name:x} in arbitrary text against this config. */
  expand(text: string): string;
  /** A derived config with master.cf -o overrides applied (cached per service). */
  withOverrides(overrides: Record<string, string>): Config;
  /**
   * A per-transport setting, expanded: `<transport>_<suffix>` when set in main.cf/-o (or
   * declared, e.g. local_destination_recipient_limit), else the generic one: `default_<suffix>`,
   * `<suffix>`, or the transport command's own `smtp_<suffix>`/`lmtp_<suffix>`; "" when none.
   * E.g. transport("relay", "destination_concurrency_limit"), transport("relay", "connect_timeout").
   */
  transport(transport: string, suffix: string): string;
}
