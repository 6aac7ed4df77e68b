/**
 * config — posteix's configuration: main.cf, master.cf and lookup tables, in Postfix syntax.
 *
 * loadConfig() finds the configuration directory (-c DIR, then $POSTEIX_CONFIG_DIR, then
 * /etc/posteix when it holds a main.cf; without one, built-in defaults and the built-in
 * master.cf run a safe local MTA), reads main.cf (postconf(5): `name = value`, continuation
 * lines, `#` comments, `$name` / `${name?x}` / `${name:x}` expansion) and master.cf (master(5)
 * service lines with `-o name=value`), and checks every value against its declaration in
 * params.ts. Problems name file and line; errors throw ConfigError, warnings (unused parameters,
 * undefined $names) stay in config.diagnostics.
 *
 * Tables (texthash:, hash:, inline:, static:, regexp:, pcre:, cidr:, unix:, and types other
 * components register, such as the queue's users:) open through one registry; lookup.ts has
 * Postfix's access(5), virtual(5) and canonical(5) search orders over them, matchers.ts the
 * mynetworks and mydestination-style lists.
 *
 * Parameters read here: config_directory, myhostname, mydomain, default_process_limit,
 * smtpd_restriction_classes, parent_domain_matches_subdomains; every parameter is declared in
 * params.ts and read through the Config interface in types.ts.
 */
import type { LoadOptions } from "./config.ts";
import { buildConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import type { Config, ConfigDiagnostic } from "./types.ts";

export type { LoadOptions } from "./config.ts";
export { resolveConfigDir } from "./config.ts";
export { defaultMainCf } from "./defaults.ts";
export { editMainCf } from "./edit-main-cf.ts";
export { ConfigError, formatDiagnostic } from "./errors.ts";
export type { AccessOptions, AddressHit, LookupHit } from "./lookup.ts";
export {
  accessLookupAddress,
  accessLookupClient,
  canonicalLookup,
  splitExtension,
  virtualLookup,
} from "./lookup.ts";
export { DEFAULT_MASTER_CF, parseInetName } from "./master-cf.ts";
export { createDomainMatcher, createNetworkMatcher } from "./matchers.ts";
export type { ParamDef, ParamName, ParamType } from "./params.ts";
export { isParamName, PARAMS } from "./params.ts";
export type { TableContext, TableFactory, TableTypeOptions } from "./tables.ts";
export { isPatternTable, openTable, registerTableType, TableSpecError } from "./tables.ts";
export type * from "./types.ts";
export { parseBool, parseInteger, parseSize, parseTime, splitList } from "./values.ts";

/** Loads and checks the configuration; throws ConfigError when it has errors. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const { config, diagnostics } = buildConfig(opts);
  if (diagnostics.some((d) => d.severity === "error")) throw new ConfigError(diagnostics);
  return config;
}

/** Loads and checks the configuration, returning every diagnostic instead of throwing. */
export function checkConfig(opts: LoadOptions = {}): ConfigDiagnostic[] {
  return [...buildConfig(opts).diagnostics];
}
