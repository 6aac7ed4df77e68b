/**
 * postconf — show or change posteix configuration, as Postfix's postconf(1).
 *
 *   postconf [-dhHnqx] [-f] [-o name=value] [name...]   main.cf parameters, `name = value`
 *   postconf -e name=value...                            edit main.cf (also: postconf name=value)
 *   postconf -M [-fx] [service[/type]...]                master.cf services
 *
 * -d defaults, -n only main.cf settings, -h values only, -H names only, -x expand $name, -f fold
 * long lines, -q no warnings about unused parameters, -o override a parameter for this command.
 * The configuration directory comes from -c (handled by the dispatcher) or POSTEIX_CONFIG_DIR.
 * Output follows Postfix's: sorted by name, white space normalized, `name =` for empty values,
 * `postconf: warning: NAME: unknown parameter` for unknown names (exit status 0).
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import type { ConfigImpl } from "../config/config.ts";
import { buildConfig, resolveConfigDir } from "../config/config.ts";
import { editMainCf } from "../config/edit-main-cf.ts";
import { ConfigError, formatDiagnostic } from "../config/errors.ts";
import { formatMasterEntry } from "../config/master-cf.ts";
import { splitNameValue } from "../config/values.ts";
import type { CliCommand, CliIO } from "./types.ts";

const LINE_LIMIT = 80;
const INDENT = "    ";
/** Values that are templates for their user; postconf -x leaves them alone, as Postfix. */
const RAW_PARAMS = new Set(["default_rbl_reply"]);

const USAGE =
  "usage: postconf [-c config_dir] [-d (defaults)] [-e (edit)] [-f (fold lines)]" +
  " [-h (no names)] [-H (no values)] [-M (master.cf)] [-n (non-default parameters)]" +
  " [-o name=value] [-q (quiet)] [-x (expand values)] [name...]";

class Fatal extends Error {}

interface Options {
  flags: Set<string>;
  configDir: string | null;
  overrides: Record<string, string>;
  names: string[];
}

function parseArgs(argv: string[], io: CliIO): Options {
  const flags = new Set<string>();
  const overrides: Record<string, string> = {};
  let configDir = io.configDir;
  let i = 0;
  // Options end at the first non-option word, as Postfix's GETOPT("+...").
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      if (c === "c" || c === "o") {
        const value = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
        if (value === undefined) throw new Fatal(`option requires an argument -- '${c}'\n${USAGE}`);
        if (c === "c") configDir = value;
        else {
          const nv = splitNameValue(value);
          if ("error" in nv) throw new Fatal(`${nv.error}: "${value}"`);
          overrides[nv.name] = nv.value;
        }
        break;
      }
      if (!"dehHMnfqx".includes(c)) throw new Fatal(`invalid option -- '${c}'\n${USAGE}`);
      flags.add(c);
    }
  }
  return { flags, configDir, overrides, names: argv.slice(i) };
}

/** Postfix's print_line(): white space normalized, optionally folded at 80 columns. */
function printLine(text: string, fold: boolean): string {
  let out = "";
  let len = 0;
  for (const word of text.split(/[ \t\r\n]+/)) {
    if (word === "") continue;
    if (len > 0) {
      if (!fold || len + word.length < LINE_LIMIT) {
        out += " ";
        len += 1;
      } else {
        out += `\n${INDENT}`;
        len = INDENT.length;
      }
    }
    out += word;
    len += word.length;
  }
  return `${out}\n`;
}

function edit(opts: Options, io: CliIO, out: string[]): void {
  if (opts.flags.has("M")) throw new Fatal("-M with -e is not supported; edit master.cf");
  if (opts.names.length === 0) throw new Fatal("-e requires name=value argument");
  const updates: Record<string, string> = {};
  for (const arg of opts.names) {
    if (/[\r\n]/.test(arg)) throw new Fatal("-e accepts no multi-line input");
    if (arg.trimStart().startsWith("#")) throw new Fatal("-e accepts no comment input");
    const nv = splitNameValue(arg);
    if ("error" in nv) throw new Fatal(`${nv.error}: "${arg}"`);
    if (Object.hasOwn(updates, nv.name)) {
      out.push(
        `${io.progName}: warning: ignoring earlier request: '${nv.name} = ${updates[nv.name]}'\n`,
      );
      delete updates[nv.name];
    }
    updates[nv.name] = nv.value;
  }
  const dir = resolveConfigDir({ configDir: opts.configDir, env: process.env });
  if (dir === null) {
    throw new Fatal(
      'no configuration directory to edit: use -c DIR, or create one with "posteix init DIR"',
    );
  }
  checkDir(dir);
  for (const w of editMainCf(join(dir, "main.cf"), updates)) {
    out.push(`${io.progName}: warning: ${w}\n`);
  }
}

function checkDir(dir: string): void {
  let ok = false;
  try {
    ok = statSync(dir).isDirectory();
  } catch {
    // not there
  }
  if (!ok) throw new Fatal(`open ${join(dir, "main.cf")}: no such directory: ${dir}`);
}

function showMaster(config: ConfigImpl, opts: Options): string {
  const fold = opts.flags.has("f");
  const expand = opts.flags.has("x") ? (v: string) => config.expand(v) : undefined;
  let out = "";
  for (const s of config.masterEntries) {
    if (opts.names.length > 0) {
      const hit = opts.names.some((f) => {
        const [name, type] = f.split("/");
        return (name === "*" || name === s.name) && (!type || type === "*" || type === s.type);
      });
      if (!hit) continue;
    }
    out += `${formatMasterEntry(s.argv, fold, expand)}\n`;
  }
  return out;
}

function showParams(
  config: ConfigImpl,
  opts: Options,
  io: CliIO,
  err: string[],
): [string, boolean] {
  const f = opts.flags;
  const defaults = f.has("d") ? config.defaults() : null;
  const known = new Set(config.displayNames(!defaults));
  const names = opts.names.length > 0 ? opts.names : [...known];
  const fold = f.has("f");
  let out = "";
  let ok = true;
  for (const name of names) {
    if (!known.has(name)) {
      err.push(`${io.progName}: warning: ${name}: unknown parameter\n`);
      continue;
    }
    let value: string | undefined;
    if (defaults) value = defaults.defaultRaw(name);
    else if (f.has("n")) value = config.explicit(name);
    else value = config.explicit(name) ?? config.defaultRaw(name);
    if (value === undefined) continue;
    if (f.has("x") && !RAW_PARAMS.has(name)) {
      try {
        value = (defaults ?? config).expand(value);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        for (const d of e.diagnostics) err.push(`${io.progName}: error: ${formatDiagnostic(d)}\n`);
        ok = false;
        continue;
      }
    }
    if (f.has("H")) out += `${name}\n`;
    else if (f.has("h")) out += printLine(value, fold);
    else out += printLine(`${name} = ${value}`, fold);
  }
  return [out, ok];
}

export const run: CliCommand = async (argv, io) => {
  const err: string[] = [];
  try {
    const opts = parseArgs(argv, io);
    const f = opts.flags;
    const modes = ["d", "e", "n"].filter((m) => f.has(m));
    if (modes.length > 1) throw new Fatal(`specify one of ${modes.map((m) => `-${m}`).join(", ")}`);
    if (f.has("h") && f.has("H")) throw new Fatal("specify one of -h, -H");
    if (f.has("e") || (opts.names[0]?.includes("=") && !f.has("M"))) {
      edit(opts, io, err);
      if (err.length > 0) io.stderr(err.join(""));
      return 0;
    }
    if (opts.configDir !== null) checkDir(opts.configDir);
    const built = buildConfig({ configDir: opts.configDir, env: process.env });
    const config =
      Object.keys(opts.overrides).length > 0 ? built.config.derive(opts.overrides) : built.config;
    let out: string;
    let ok = true;
    if (f.has("M")) out = showMaster(config, opts);
    else [out, ok] = showParams(config, opts, io, err);
    if (out !== "") io.stdout(out);
    // Like Postfix, report problems after the output, and not for -d (it ignores main.cf).
    if (!f.has("q") && !f.has("d")) {
      for (const d of built.diagnostics) {
        err.push(`${io.progName}: ${d.severity}: ${formatDiagnostic(d)}\n`);
      }
    }
    if (err.length > 0) io.stderr(err.join(""));
    return ok ? 0 : 1;
  } catch (e) {
    // Bad usage, unwritable main.cf, a table file that cannot be read: one line, status 1.
    if (!(e instanceof Error)) throw e;
    io.stderr(`${err.join("")}${io.progName}: fatal: ${e.message}\n`);
    return 1;
  }
};
