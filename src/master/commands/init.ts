/**
 * `posteix init [DIR]`: write commented main.cf and master.cf to edit (the built-in defaults,
 * spelled out). Refuses to overwrite existing files unless --force. Run as root, it also makes
 * the $mail_owner account (default "posteix") that the daemon switches to, when missing.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { CliCommand } from "../../cli/types.ts";
import { DEFAULT_MASTER_CF, defaultMainCf, loadConfig } from "../../config/index.ts";
import { ensureMailOwner, runningAsRoot } from "../privileges.ts";

export const run: CliCommand = async (argv, io) => {
  const force = argv.includes("--force");
  const rest = argv.filter((a) => a !== "--force");
  if (rest.length > 1 || rest.some((a) => a.startsWith("-"))) {
    io.stderr("posteix: usage: posteix init [--force] [DIR]\n");
    return 1;
  }
  const dir = resolve(rest[0] ?? io.configDir ?? "/etc/posteix");
  const mainCf = join(dir, "main.cf");
  const masterCf = join(dir, "master.cf");
  if (!force && (existsSync(mainCf) || existsSync(masterCf))) {
    io.stderr(
      `posteix: fatal: ${existsSync(mainCf) ? mainCf : masterCf} exists; use --force to overwrite\n`,
    );
    return 1;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(mainCf, defaultMainCf(join(dir, "data")), { mode: 0o644 });
  writeFileSync(masterCf, DEFAULT_MASTER_CF, { mode: 0o644 });
  io.stdout(`posteix: wrote ${mainCf} and ${masterCf}\n`);
  if (runningAsRoot()) {
    const name = loadConfig({ configDir: dir }).str("mail_owner").trim();
    try {
      const { owner, created } = ensureMailOwner(name);
      if (created)
        io.stdout(`posteix: created the system account ${name} (uid ${owner.uid}) to run as\n`);
    } catch (err) {
      io.stderr(`posteix: warning: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  io.stdout(`posteix: start with: posteix -c ${dir} run\n`);
  return 0;
};
