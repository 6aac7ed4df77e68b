/**
 * The loaded configuration: main.cf settings over the declared defaults, master.cf services,
 * `$name` expansion with loop detection, typed accessors, tables and matchers opened once, and
 * the load-time checks (bad values, unused parameters, undefined references).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { domainOf, systemHostname } from "./defaults.ts";
import { ConfigError, configError } from "./errors.ts";
import { ExpandSyntaxError, expandText, references } from "./expand.ts";
import type { Setting } from "./main-cf.ts";
import { parseMainCf } from "./main-cf.ts";
import type { MasterEntry } from "./master-cf.ts";
import { DEFAULT_MASTER_CF, parseMasterCf } from "./master-cf.ts";
import { createDomainMatcher, createNetworkMatcher } from "./matchers.ts";
import type { ParamDef, ParamName } from "./params.ts";
import { isParamName, PARAMS } from "./params.ts";
import { isTableTypeRegistered, openTable, TableSpecError, tableType } from "./tables.ts";
import type {
  Config,
  ConfigDiagnostic,
  DomainMatcher,
  LookupTable,
  MasterService,
  NetworkMatcher,
} from "./types.ts";
import { checkValue, parseBool, parseInteger, parseSize, parseTime, splitList } from "./values.ts";

export interface LoadOptions {
  /** -c DIR; null or undefined: POSTEIX_CONFIG_DIR, then /etc/posteix when it has a main.cf. */
  configDir?: string | null;
  env?: Record<string, string | undefined>;
  /** Base of relative paths when there is no configuration directory (default: process.cwd()). */
  cwd?: string;
  /** The system host name used for the default $myhostname (default: os.hostname()). */
  hostname?: string;
}

export const BUILTIN = "(built-in)";
const OVERRIDE_FILE = "(master.cf -o)";

/** Parameters whose values are templates expanded by their user, never by the configuration. */
const RAW_PARAMS = new Set<string>(["default_rbl_reply"]);

/** Table types that other components register when they load (the queue's users:). */
const LATE_TABLE_TYPES = new Set(["users"]);

/** Delivery agents whose master.cf services get per-transport parameters (Postfix's list). */
const DELIVERY_COMMANDS = new Set(["local", "virtual", "smtp", "lmtp", "error", "discard", "pipe"]);

/** Per-transport parameter suffixes, their generic parameter, and their type. */
const SERVICE_SUFFIXES: Record<string, { generic: ParamName; def: ParamDef }> = {
  destination_concurrency_limit: {
    generic: "default_destination_concurrency_limit",
    def: PARAMS.default_destination_concurrency_limit,
  },
  destination_recipient_limit: {
    generic: "default_destination_recipient_limit",
    def: PARAMS.default_destination_recipient_limit,
  },
  initial_destination_concurrency: {
    generic: "initial_destination_concurrency",
    def: PARAMS.initial_destination_concurrency,
  },
  destination_rate_delay: {
    generic: "default_destination_rate_delay",
    def: PARAMS.default_destination_rate_delay,
  },
  destination_concurrency_failed_cohort_limit: {
    generic: "default_destination_concurrency_failed_cohort_limit",
    def: PARAMS.default_destination_concurrency_failed_cohort_limit,
  },
  time_limit: { generic: "command_time_limit", def: PARAMS.command_time_limit },
};

/** mynetworks-style and domain-style list parameters, checked when loaded. */
const NETWORK_PARAMS: readonly ParamName[] = [
  "mynetworks",
  "debug_peer_list",
  "smtpd_client_event_limit_exceptions",
  "smtpd_forbid_bare_newline_exclusions",
];
const DOMAIN_PARAMS: readonly ParamName[] = [
  "mydestination",
  "relay_domains",
  "virtual_alias_domains",
  "virtual_mailbox_domains",
];

interface Where {
  file: string;
  line: number;
}

/** State shared by a loaded configuration and the configurations derived from it by -o. */
interface Shared {
  configDir: string | null;
  mainCfPath: string | null;
  masterCfPath: string | null;
  baseDir: string;
  hostname: string;
  services: MasterEntry[];
  diagnostics: ConfigDiagnostic[];
  /** Per-transport parameter name → its generic parameter's name. */
  serviceParams: Map<string, ParamName>;
  /** Names referenced as $name anywhere, or listed as restriction classes. */
  referenced: Set<string>;
  tables: Map<string, LookupTable>;
  derived: Map<string, ConfigImpl>;
  root: ConfigImpl | null;
}

function isSmtpCommand(command: string): boolean {
  return command === "smtp" || command === "lmtp";
}

export class ConfigImpl implements Config {
  private readonly cache = new Map<string, string>();
  private readonly typed = new Map<string, number | boolean>();
  private readonly lists = new Map<string, readonly string[]>();
  private readonly tableLists = new Map<string, LookupTable[]>();
  private readonly matchers = new Map<string, NetworkMatcher | DomainMatcher>();

  constructor(
    private readonly shared: Shared,
    /** Settings by name: main.cf, then -o overrides. */
    private readonly settings: Map<string, Setting>,
    private readonly order: readonly string[],
    /** The -o overrides this configuration was derived with. */
    readonly overrides: Readonly<Record<string, string>>,
  ) {}

  get configDir(): string | null {
    return this.shared.configDir;
  }
  get mainCfPath(): string | null {
    return this.shared.mainCfPath;
  }
  get masterCfPath(): string | null {
    return this.shared.masterCfPath;
  }
  get services(): readonly MasterService[] {
    return this.shared.services;
  }
  /** Services with their normalized master.cf words (postconf -M). */
  get masterEntries(): readonly MasterEntry[] {
    return this.shared.services;
  }
  get diagnostics(): readonly ConfigDiagnostic[] {
    return this.shared.diagnostics;
  }
  /** Directory that relative paths and table file names are resolved against. */
  get baseDir(): string {
    return this.shared.baseDir;
  }

  // ------------------------------------------------------------------ declarations

  /** The declaration of a built-in, per-transport or smtp-client-per-transport parameter. */
  declaration(name: string): ParamDef | undefined {
    if (isParamName(name)) return PARAMS[name];
    const generic = this.shared.serviceParams.get(name);
    if (generic) return PARAMS[generic];
    const clone = this.smtpClone(name);
    return clone ? PARAMS[clone] : undefined;
  }

  /**
   * `relay_connect_timeout` for a master.cf service `relay` running smtp: the smtp_ (or lmtp_)
   * parameter it stands for.
   */
  private smtpClone(name: string): ParamName | undefined {
    for (const s of this.shared.services) {
      if (!isSmtpCommand(s.command) || !name.startsWith(`${s.name}_`)) continue;
      const rest = name.slice(s.name.length + 1);
      for (const prefix of ["smtp_", "lmtp_"]) {
        const p = prefix + rest;
        if (isParamName(p)) return p;
      }
    }
    return undefined;
  }

  /** Names postconf shows: built-in, per-transport, and user-defined names in use. */
  displayNames(withUser: boolean): string[] {
    const names = new Set<string>(Object.keys(PARAMS));
    for (const n of this.shared.serviceParams.keys()) names.add(n);
    if (withUser) for (const n of this.order) if (this.isUsed(n)) names.add(n);
    return [...names].sort();
  }

  /** Known to posteix or referenced, so a main.cf/-o setting of it is not "unused". */
  isUsed(name: string): boolean {
    return this.declaration(name) !== undefined || this.shared.referenced.has(name);
  }

  // ------------------------------------------------------------------ raw values

  /** The default text of a parameter (computed ones computed), or undefined for unknown names. */
  defaultRaw(name: string): string | undefined {
    switch (name) {
      case "myhostname":
        return this.shared.hostname;
      case "mydomain":
        return domainOf(this.str("myhostname"));
      case "config_directory":
        return this.shared.configDir ?? "";
    }
    if (isParamName(name)) return PARAMS[name].default;
    const generic = this.shared.serviceParams.get(name);
    if (generic) return `$${generic}`;
    const clone = this.smtpClone(name);
    return clone ? `$${clone}` : undefined;
  }

  raw(name: string): string | undefined {
    return this.settings.get(name)?.value ?? this.defaultRaw(name);
  }

  /** Where a parameter's value comes from, for messages. */
  where(name: string): Where {
    const s = this.settings.get(name);
    return s ? { file: s.file, line: s.line } : { file: BUILTIN, line: 0 };
  }

  private expandName(name: string, stack: string[]): string | undefined {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit;
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    if (RAW_PARAMS.has(name) || !raw.includes("$")) {
      this.cache.set(name, raw);
      return raw;
    }
    const at = stack.indexOf(name);
    if (at >= 0) {
      const chain = [...stack.slice(at), name].join(" -> ");
      const w = this.where(stack[at]!);
      throw configError(w.file, w.line, `parameter expansion loop: ${chain}`);
    }
    stack.push(name);
    let value: string;
    try {
      value = expandText(raw, (n) => this.expandName(n, stack));
    } catch (e) {
      if (e instanceof ExpandSyntaxError) {
        const w = this.where(name);
        throw configError(w.file, w.line, `${name}: ${e.message}`);
      }
      throw e;
    } finally {
      stack.pop();
    }
    this.cache.set(name, value);
    return value;
  }

  // ------------------------------------------------------------------ the Config contract

  str(name: ParamName): string {
    return this.expandName(name, []) ?? "";
  }

  list(name: ParamName): string[] {
    let l = this.lists.get(name);
    if (!l) {
      l = splitList(this.str(name));
      this.lists.set(name, l);
    }
    return [...l];
  }

  private typedValue<T extends number | boolean>(
    name: string,
    parse: (v: string, def: ParamDef) => T | undefined,
  ): T {
    const hit = this.typed.get(name);
    if (hit !== undefined) return hit as T;
    const def = this.declaration(name)!;
    const v = (this.expandName(name, []) ?? "").trim();
    const parsed = parse(v, def);
    if (parsed === undefined) {
      const w = this.where(name);
      throw configError(w.file, w.line, checkValue(name, def, v) ?? `bad value for ${name}`);
    }
    this.typed.set(name, parsed);
    return parsed;
  }

  bool(name: ParamName): boolean {
    return this.typedValue(name, (v) => parseBool(v));
  }
  int(name: ParamName): number {
    return this.typedValue(name, (v) => parseInteger(v));
  }
  time(name: ParamName): number {
    return this.typedValue(name, (v, def) => parseTime(v, def.unit));
  }
  size(name: ParamName): number {
    return this.typedValue(name, (v) => parseSize(v));
  }

  /** Opens (once per loaded configuration) one table spec. */
  openTable(spec: string): LookupTable {
    const key = spec.trim();
    let t = this.shared.tables.get(key);
    if (!t) {
      t = openTable(key, {
        baseDir: this.shared.baseDir,
        config: this.shared.root ?? this,
        warn: (d) => this.shared.diagnostics.push(d),
      });
      this.shared.tables.set(key, t);
    }
    return t;
  }

  /** Runs fn, turning a table-spec problem into an error at the parameter's place. */
  private at<T>(name: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof TableSpecError) {
        const w = this.where(name);
        throw configError(w.file, w.line, `${name}: ${e.message}`);
      }
      throw e;
    }
  }

  tables(name: ParamName): LookupTable[] {
    let t = this.tableLists.get(name);
    if (!t) {
      t = this.at(name, () => this.list(name).map((spec) => this.openTable(spec)));
      this.tableLists.set(name, t);
    }
    return t;
  }

  path(name: ParamName): string {
    return resolve(this.shared.baseDir, this.str(name));
  }

  private matcherOptions(name: string) {
    return {
      openTable: (spec: string) => this.openTable(spec),
      parentMatchesSubdomains: this.list("parent_domain_matches_subdomains").includes(name),
    };
  }

  networks(name: ParamName): NetworkMatcher {
    let m = this.matchers.get(name) as NetworkMatcher | undefined;
    if (!m) {
      m = this.at(name, () => createNetworkMatcher(this.list(name), this.matcherOptions(name)));
      this.matchers.set(name, m);
    }
    return m;
  }

  domains(name: ParamName): DomainMatcher {
    let m = this.matchers.get(name) as DomainMatcher | undefined;
    if (!m) {
      m = this.at(name, () => createDomainMatcher(this.list(name), this.matcherOptions(name)));
      this.matchers.set(name, m);
    }
    return m;
  }

  any(name: string): string | undefined {
    return this.expandName(name, []);
  }

  explicit(name: string): string | undefined {
    return this.settings.get(name)?.value;
  }

  /** The main.cf (or -o) setting of a name, with its place. */
  settingOf(name: string): Setting | undefined {
    return this.settings.get(name);
  }

  explicitNames(): string[] {
    return [...this.order];
  }

  expand(text: string): string {
    try {
      return expandText(text, (n) => this.expandName(n, []));
    } catch (e) {
      if (e instanceof ExpandSyntaxError) throw configError(BUILTIN, 0, e.message);
      throw e;
    }
  }

  withOverrides(overrides: Record<string, string>): Config {
    return this.derive(overrides);
  }

  /** withOverrides with the concrete type (postconf, load checks). */
  derive(overrides: Record<string, string>): ConfigImpl {
    const root = this.shared.root ?? this;
    const all = { ...this.overrides, ...overrides };
    const key = JSON.stringify(Object.entries(all));
    let d = this.shared.derived.get(key);
    if (d) return d;
    if (Object.keys(all).length === 0) return root;
    // Name the master.cf line in messages when these are some service's overrides.
    const svc = this.shared.services.find(
      (s) => JSON.stringify(Object.entries(s.overrides)) === key,
    );
    const file = svc?.file ?? OVERRIDE_FILE;
    const line = svc?.line ?? 0;
    const settings = new Map(root.settings);
    const order = [...root.order];
    for (const [name, value] of Object.entries(all)) {
      if (!settings.has(name)) order.push(name);
      settings.set(name, { name, value, file, line });
    }
    d = new ConfigImpl(this.shared, settings, order, all);
    this.shared.derived.set(key, d);
    return d;
  }

  /** The same configuration without main.cf settings (postconf -d). */
  defaults(): ConfigImpl {
    return new ConfigImpl(this.shared, new Map(), [], {});
  }

  transport(transport: string, suffix: string): string {
    const own = `${transport}_${suffix}`;
    if (this.settings.has(own) || isParamName(own)) return this.expandName(own, []) ?? "";
    const svc = SERVICE_SUFFIXES[suffix];
    if (svc) return this.str(svc.generic);
    for (const generic of [`default_${suffix}`, suffix]) {
      if (isParamName(generic)) return this.str(generic);
    }
    const command = this.shared.services.find((s) => s.name === transport)?.command;
    if (command && isParamName(`${command}_${suffix}`)) {
      return this.str(`${command}_${suffix}` as ParamName);
    }
    return "";
  }

  /** Clears cached values (after the service list is known). */
  resetCaches(): void {
    this.cache.clear();
    this.typed.clear();
    this.lists.clear();
  }
}

// ------------------------------------------------------------------ loading

/** Where the configuration lives: -c, then POSTEIX_CONFIG_DIR, then /etc/posteix with a main.cf. */
export function resolveConfigDir(opts: LoadOptions): string | null {
  if (opts.configDir) return resolve(opts.configDir);
  const env = (opts.env ?? process.env).POSTEIX_CONFIG_DIR;
  if (env) return resolve(env);
  return existsSync("/etc/posteix/main.cf") ? "/etc/posteix" : null;
}

function readIfExists(path: string, diagnostics: ConfigDiagnostic[]): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") {
      diagnostics.push({ severity: "error", file: path, line: 0, message: `cannot read: ${code}` });
    }
    return null;
  }
}

/** Loads main.cf and master.cf and checks them; never throws for configuration problems. */
export function buildConfig(opts: LoadOptions = {}): {
  config: ConfigImpl;
  diagnostics: ConfigDiagnostic[];
} {
  const diagnostics: ConfigDiagnostic[] = [];
  const configDir = resolveConfigDir(opts);
  let mainText: string | null = null;
  let masterText: string | null = null;
  if (configDir !== null) {
    let isDir = false;
    try {
      isDir = statSync(configDir).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) {
      diagnostics.push({
        severity: "error",
        file: configDir,
        line: 0,
        message: "configuration directory does not exist",
      });
    } else {
      mainText = readIfExists(join(configDir, "main.cf"), diagnostics);
      masterText = readIfExists(join(configDir, "master.cf"), diagnostics);
    }
  }
  const mainCfPath = mainText !== null ? join(configDir!, "main.cf") : null;
  const masterCfPath = masterText !== null ? join(configDir!, "master.cf") : null;
  const parsedMain = mainText !== null ? parseMainCf(mainText, mainCfPath!) : null;
  if (parsedMain) diagnostics.push(...parsedMain.diagnostics);

  const shared: Shared = {
    configDir,
    mainCfPath,
    masterCfPath,
    baseDir: configDir ?? opts.cwd ?? process.cwd(),
    hostname: opts.hostname ?? systemHostname(),
    services: [],
    diagnostics,
    serviceParams: new Map(),
    referenced: new Set(),
    tables: new Map(),
    derived: new Map(),
    root: null,
  };
  const settings = new Map<string, Setting>();
  for (const s of parsedMain?.settings ?? []) settings.set(s.name, s);
  const root = new ConfigImpl(shared, settings, [...settings.keys()], {});
  shared.root = root;

  // master.cf needs $default_process_limit for maxproc "-".
  let processLimit = 100;
  try {
    processLimit = root.int("default_process_limit");
  } catch {
    // reported by the value checks below
  }
  const parsedMaster = parseMasterCf(
    masterText ?? DEFAULT_MASTER_CF,
    masterCfPath ?? BUILTIN,
    processLimit,
  );
  diagnostics.push(...parsedMaster.diagnostics);
  shared.services = parsedMaster.services;
  for (const s of shared.services) {
    if (!DELIVERY_COMMANDS.has(s.command)) continue;
    for (const [suffix, { generic }] of Object.entries(SERVICE_SUFFIXES)) {
      const name = `${s.name}_${suffix}`;
      if (!isParamName(name)) shared.serviceParams.set(name, generic);
    }
  }
  root.resetCaches();
  checkConfigValues(root, shared);
  return { config: root, diagnostics };
}

function pushOnce(diagnostics: ConfigDiagnostic[], d: ConfigDiagnostic): void {
  if (!diagnostics.some((x) => x.file === d.file && x.line === d.line && x.message === d.message)) {
    diagnostics.push(d);
  }
}

function errorsOf(e: unknown): ConfigDiagnostic[] {
  if (e instanceof ConfigError) return [...e.diagnostics];
  return [{ severity: "error", file: BUILTIN, line: 0, message: String(e) }];
}

/** Checks one setting's value against its declaration; returns false when it is bad. */
function checkSetting(config: ConfigImpl, s: Setting, diagnostics: ConfigDiagnostic[]): boolean {
  const def = config.declaration(s.name);
  if (!def) return true;
  let value: string;
  try {
    value = config.any(s.name) ?? "";
  } catch (e) {
    for (const d of errorsOf(e)) pushOnce(diagnostics, d);
    return false;
  }
  const bad = checkValue(s.name, def, value);
  if (bad) {
    pushOnce(diagnostics, { severity: "error", file: s.file, line: s.line, message: bad });
    return false;
  }
  return true;
}

/** Opens the tables and builds the matchers of the given parameters, reporting what fails. */
function checkTablesAndLists(
  config: ConfigImpl,
  names: ReadonlySet<string> | null,
  failed: ReadonlySet<string>,
  diagnostics: ConfigDiagnostic[],
): void {
  // Only values set in main.cf/-o: defaults are valid by themselves (a test makes sure), and a
  // bad value they refer to is reported at its own line.
  const wanted = (n: string): boolean =>
    !failed.has(n) && (names === null ? config.explicit(n) !== undefined : names.has(n));
  for (const [name, def] of Object.entries(PARAMS) as [ParamName, ParamDef][]) {
    if (def.type !== "tables" || !wanted(name)) continue;
    let specs: string[];
    try {
      specs = config.list(name);
    } catch {
      continue; // expansion errors are reported with the value checks
    }
    const w = config.where(name);
    let deferred = false;
    for (const spec of specs) {
      const type = tableType(spec);
      if (!isTableTypeRegistered(type)) {
        if (LATE_TABLE_TYPES.has(type)) {
          deferred = true;
          continue;
        }
        pushOnce(diagnostics, {
          severity: "error",
          file: w.file,
          line: w.line,
          message: `${name}: unsupported dictionary type: ${type}`,
        });
        deferred = true;
      }
    }
    if (deferred) {
      // Open what can be opened now, so file errors still show.
      for (const spec of specs) {
        if (!isTableTypeRegistered(tableType(spec))) continue;
        try {
          config.openTable(spec);
        } catch (e) {
          const ds =
            e instanceof TableSpecError
              ? [{ severity: "error" as const, ...w, message: `${name}: ${e.message}` }]
              : errorsOf(e);
          for (const d of ds) pushOnce(diagnostics, d);
        }
      }
      continue;
    }
    try {
      config.tables(name);
    } catch (e) {
      for (const d of errorsOf(e)) pushOnce(diagnostics, d);
    }
  }
  const lists: [readonly ParamName[], (n: ParamName) => unknown][] = [
    [NETWORK_PARAMS, (n) => config.networks(n)],
    [DOMAIN_PARAMS, (n) => config.domains(n)],
  ];
  for (const [params, build] of lists) {
    for (const name of params) {
      if (!wanted(name)) continue;
      try {
        build(name);
      } catch (e) {
        for (const d of errorsOf(e)) pushOnce(diagnostics, d);
      }
    }
  }
}

function checkConfigValues(root: ConfigImpl, shared: Shared): void {
  const diagnostics = shared.diagnostics;
  const mainSettings = root.explicitNames().map((n) => root.settingOf(n)!);

  // Names in use: $name references in any main.cf or -o value, and restriction classes.
  for (const s of mainSettings) {
    if (RAW_PARAMS.has(s.name)) continue;
    try {
      for (const r of references(s.value)) shared.referenced.add(r.name);
    } catch {
      // syntax errors are reported by the value checks
    }
  }
  for (const svc of shared.services) {
    for (const v of Object.values(svc.overrides)) {
      try {
        for (const r of references(v)) shared.referenced.add(r.name);
      } catch {
        // reported below
      }
    }
  }
  try {
    for (const c of root.list("smtpd_restriction_classes")) shared.referenced.add(c);
  } catch {
    // reported below
  }

  // main.cf values.
  const failed = new Set<string>();
  for (const s of mainSettings) {
    if (!root.isUsed(s.name)) {
      diagnostics.push({
        severity: "warning",
        file: s.file,
        line: s.line,
        message: `unused parameter: ${s.name}=${s.value}`,
      });
      continue;
    }
    if (!checkSetting(root, s, diagnostics)) {
      failed.add(s.name);
      continue;
    }
    warnUndefined(root, s, diagnostics);
  }
  checkTablesAndLists(root, null, failed, diagnostics);

  // master.cf -o values, each in its service's configuration.
  for (const svc of shared.services) {
    const names = Object.keys(svc.overrides);
    if (names.length === 0) continue;
    const derived = root.derive(svc.overrides);
    for (const name of names) {
      const s: Setting = { name, value: svc.overrides[name]!, file: svc.file, line: svc.line };
      if (!derived.isUsed(name)) {
        diagnostics.push({
          severity: "warning",
          file: svc.file,
          line: svc.line,
          message: `unused parameter: ${name}=${s.value}`,
        });
        continue;
      }
      if (checkSetting(derived, s, diagnostics)) warnUndefined(derived, s, diagnostics);
      else failed.add(name);
    }
    checkTablesAndLists(derived, new Set(names), failed, diagnostics);
  }
}

/** Postfix expands an undefined $name to nothing; that is almost always a typo, so say so. */
function warnUndefined(config: ConfigImpl, s: Setting, diagnostics: ConfigDiagnostic[]): void {
  if (RAW_PARAMS.has(s.name)) return;
  let refs: { name: string; conditional: boolean }[];
  try {
    refs = references(s.value);
  } catch {
    return;
  }
  for (const r of refs) {
    if (r.conditional || config.raw(r.name) !== undefined) continue;
    pushOnce(diagnostics, {
      severity: "warning",
      file: s.file,
      line: s.line,
      message: `undefined parameter: ${r.name} (referenced by ${s.name})`,
    });
  }
}
