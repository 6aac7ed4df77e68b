/**
 * newaliases -- check the alias files, as `newaliases` (`sendmail -bi`) is run after editing
 * /etc/aliases.
 *
 *   newaliases [-c config_dir] [-v]
 *
 * Postfix's newaliases builds an indexed .db file from each $alias_database source. posteix
 * reads texthash:/hash: tables straight from their text, so there is nothing to build: this
 * reads every file-based table of $alias_database (or $alias_maps when that is empty) the way
 * the delivery agent will, reports problems with file and line (`newaliases: warning:
 * /etc/aliases, line 7: duplicate entry: "root"`), and prints one line per table checked.
 * Exit status 1 when a table cannot be read or has a syntax error.
 * main.cf parameters: alias_database, alias_maps.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { formatDiagnostic } from "../config/errors.ts";
import { ConfigError, openTable } from "../config/index.ts";
import { parseTextTable } from "../config/table-text.ts";
import { readTableFile, tablePath } from "../config/table-types.ts";
import { tableType } from "../config/tables.ts";
import type { ConfigDiagnostic } from "../config/types.ts";
import { EX_USAGE, getopt, loadCliConfig, usageError, warning } from "./common.ts";
import type { CliCommand, CliIO } from "./types.ts";

/** Types read from a file of ours; the rest (inline:, unix:, users:, ...) has nothing to check. */
const TEXT_TYPES = new Set(["texthash", "hash"]);
const PATTERN_TYPES = new Set(["regexp", "pcre", "cidr"]);

/** Split an alias value on commas outside double quotes, as local(8) does. */
export function splitAliasValue(value: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === "\\" && quoted && i + 1 < value.length) {
      cur += ch + value[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === "," && !quoted) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** Problems in the alias values: empty list members and :include: files that do not exist. */
export function checkAliasValues(map: Map<string, string>, baseDir: string): string[] {
  const problems: string[] = [];
  for (const [name, value] of map) {
    for (const member of splitAliasValue(value)) {
      if (member === "") problems.push(`alias ${name}: empty list member in "${value}"`);
      else if (member.toLowerCase().startsWith(":include:")) {
        const file = resolve(baseDir, member.slice(9).trim());
        if (!existsSync(file)) problems.push(`alias ${name}: include file ${file} does not exist`);
      }
    }
  }
  return problems;
}

function errorLine(io: CliIO, text: string): void {
  io.stderr(`${io.progName}: error: ${text}\n`);
}

export const run: CliCommand = async (argv, io) => {
  const parsed = getopt(argv, "c:v");
  if ("bad" in parsed || parsed.operands.length > 0) {
    const err = "bad" in parsed ? parsed : null;
    return usageError(io, err, `usage: ${io.progName} [-c config_dir] [-v]`, EX_USAGE);
  }
  for (const { opt, arg } of parsed.opts) if (opt === "c") io = { ...io, configDir: arg };
  const cfg = loadCliConfig(io);
  if (typeof cfg === "number") return cfg;

  const param = cfg.list("alias_database").length > 0 ? "alias_database" : "alias_maps";
  const baseDir = cfg.configDir ?? process.cwd();
  const warn = (d: ConfigDiagnostic) => warning(io, formatDiagnostic(d));
  let failed = false;
  let checked = 0;
  for (const spec of cfg.list(param)) {
    const type = tableType(spec);
    const name = spec.slice(spec.indexOf(":") + 1);
    try {
      if (TEXT_TYPES.has(type)) {
        const file = tablePath(name, { baseDir, config: cfg, warn });
        const map = parseTextTable(readTableFile(file), file, warn);
        for (const p of checkAliasValues(map, baseDir)) warning(io, `${file}: ${p}`);
        io.stdout(`${spec}: ${map.size} ${map.size === 1 ? "alias" : "aliases"}\n`);
        checked++;
      } else if (PATTERN_TYPES.has(type)) {
        openTable(spec, { baseDir, config: cfg, warn });
        io.stdout(`${spec}: ok\n`);
        checked++;
      }
    } catch (err) {
      failed = true;
      if (err instanceof ConfigError) {
        for (const d of err.diagnostics) errorLine(io, formatDiagnostic(d));
      } else errorLine(io, `${spec}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (checked === 0 && !failed) io.stdout(`no alias files to check in ${param}\n`);
  return failed ? 1 : 0;
};
