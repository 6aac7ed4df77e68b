/**
 * Types shared by the table registry and the table implementations.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { configError } from "./errors.ts";
import type { Config, ConfigDiagnostic, LookupTable } from "./types.ts";

export interface TableContext {
  /** Directory that relative file names are resolved against (config dir, else cwd). */
  readonly baseDir: string;
  /** The configuration the table belongs to, when there is one (users: reads queue_directory). */
  readonly config: Config | null;
  /** Receives non-fatal problems found in table files (duplicate keys...). */
  readonly warn: (d: ConfigDiagnostic) => void;
}

/** Opens one table; `name` is the part after `type:`, `spec` the whole text. Throws on errors. */
export type TableFactory = (name: string, ctx: TableContext, spec: string) => LookupTable;

export interface TableTypeOptions {
  /**
   * Pattern tables (regexp, pcre, cidr) get only whole-key queries: the access(5)/virtual(5)
   * search orders do not query them with partial keys, as in Postfix.
   */
  pattern?: boolean;
}

/** A problem with the table spec itself (unknown type, inline syntax); the caller adds where. */
export class TableSpecError extends Error {}

/** A file name in a table spec, made absolute against the context's base directory. */
export function tablePath(name: string, ctx: TableContext): string {
  return resolve(ctx.baseDir, name);
}

/** Reads a table's source file; a missing or unreadable file is an error naming the file. */
export function readTableFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw configError(path, 0, `cannot open table file: ${code}`);
  }
}
