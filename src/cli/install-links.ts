/**
 * install-links -- make the Postfix command names point at this one binary.
 *
 *   posteix install-links [--force] [--target FILE] DIR
 *
 * Creates DIR/sendmail, mailq, postqueue, postsuper, postcat, postconf and newaliases as
 * symbolic links to the running executable (or --target FILE), so that scripts and programs
 * that call /usr/sbin/sendmail or mailq reach posteix. A name that already exists and is not a
 * link to the same file is left alone and nothing is changed, unless --force is given; then it
 * is replaced atomically (a new link renamed over it). Directories are never replaced.
 * Prints one line per link. main.cf parameters: none.
 */
import { existsSync, lstatSync, realpathSync, renameSync, statSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { LINK_NAMES } from "../main.ts";
import { fatal } from "./common.ts";
import type { CliCommand } from "./types.ts";

const USAGE = "usage: posteix install-links [--force] [--target FILE] DIR";

type Plan = { path: string; action: "create" | "replace" | "keep" };

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

export const run: CliCommand = async (argv, io) => {
  let force = false;
  let target = process.execPath;
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--force" || a === "-f") force = true;
    else if (a === "--target" && i + 1 < argv.length) target = argv[++i];
    else if (a.startsWith("-")) return fatal(io, USAGE);
    else operands.push(a);
  }
  if (operands.length !== 1) return fatal(io, USAGE);
  const dir = resolve(operands[0]);
  target = resolve(target);
  if (!existsSync(target)) return fatal(io, `${target}: No such file or directory`);
  try {
    if (!statSync(dir).isDirectory()) return fatal(io, `${dir}: Not a directory`);
  } catch {
    return fatal(io, `${dir}: No such file or directory`);
  }

  // Decide everything first, so that a refusal leaves the directory as it was.
  const plans: Plan[] = [];
  for (const name of LINK_NAMES) {
    const path = join(dir, name);
    let st: ReturnType<typeof lstatSync> | undefined;
    try {
      st = lstatSync(path);
    } catch {
      plans.push({ path, action: "create" });
      continue;
    }
    if (st.isSymbolicLink() && sameFile(path, target)) {
      plans.push({ path, action: "keep" });
    } else if (st.isDirectory()) {
      return fatal(io, `${path} is a directory; not replacing it`);
    } else if (!force) {
      const what = st.isSymbolicLink() ? "a link to another file" : "not a link";
      return fatal(io, `${path} exists and is ${what}; use --force to replace it`);
    } else plans.push({ path, action: "replace" });
  }

  for (const { path, action } of plans) {
    try {
      if (action === "create") symlinkSync(target, path);
      else if (action === "replace") {
        const tmp = `${path}.posteix-${process.pid}`;
        symlinkSync(target, tmp);
        renameSync(tmp, path);
      }
    } catch (err) {
      return fatal(io, `${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const note = action === "keep" ? " (unchanged)" : action === "replace" ? " (replaced)" : "";
    io.stdout(`${path} -> ${target}${note}\n`);
  }
  return 0;
};
