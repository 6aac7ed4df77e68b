/**
 * Running with the fewest rights: started as root, posteix binds its ports, then becomes
 * $mail_owner (Postfix's mail_owner, default "posteix") for good. Started by another user, it
 * changes nothing and runs as that user.
 *
 * Before the switch, the directories posteix writes ($queue_directory, $data_directory and
 * everything under them, $maillog_file) are given to $mail_owner and lose their "other"
 * permission bits; the umask is 077 from the start, so every file the daemon creates (queue
 * database, Maildirs, keys, tokens) is private. Groups are dropped (setgroups), then the gid,
 * then the uid: none of them can be taken back.
 *
 * The account is made when missing (`useradd --system`, or busybox `adduser -S`), by
 * `posteix init` and by a start as root, and may not be root itself.
 */
import { spawnSync } from "node:child_process";
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  existsSync,
  lstatSync,
  readdirSync,
} from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/types.ts";
import { getpwnam } from "../delivery/local/passwd.ts";

export interface MailOwner {
  name: string;
  uid: number;
  gid: number;
}

/** True when this process may (and so must) give up root. */
export function runningAsRoot(): boolean {
  return process.geteuid?.() === 0;
}

export function lookupMailOwner(name: string, passwdFile?: string): MailOwner | undefined {
  const pw = getpwnam(name, passwdFile);
  return pw === undefined ? undefined : { name: pw.name, uid: pw.uid, gid: pw.gid };
}

/**
 * The account `name`, made as a system account without a home or a login shell when missing.
 * Throws with the command to run by hand when it cannot be made.
 */
export function ensureMailOwner(name: string): { owner: MailOwner; created: boolean } {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) {
    throw new Error(`mail_owner "${name}" is not a valid account name`);
  }
  const found = lookupMailOwner(name);
  if (found !== undefined) return { owner: found, created: false };
  const nologin = ["/usr/sbin/nologin", "/sbin/nologin", "/bin/false"].find((p) => existsSync(p));
  const tries: string[][] = [
    [
      "useradd",
      "--system",
      "--no-create-home",
      "--home-dir",
      "/nonexistent",
      "--shell",
      nologin ?? "/bin/false",
      "--user-group",
      name,
    ],
    ["adduser", "-S", "-D", "-H", "-h", "/nonexistent", "-s", nologin ?? "/bin/false", name],
  ];
  const errors: string[] = [];
  for (const argv of tries) {
    const p = spawnSync(argv[0], argv.slice(1), {
      encoding: "utf8",
      env: { ...process.env, PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ""}` },
    });
    if (p.error === undefined && p.status === 0) break;
    errors.push(`${argv[0]}: ${(p.stderr || p.error?.message || `exit ${p.status}`).trim()}`);
  }
  const made = lookupMailOwner(name);
  if (made === undefined) {
    throw new Error(
      `mail_owner account "${name}" does not exist and could not be made (${errors.join("; ")}); ` +
        `make it with: useradd --system --no-create-home --shell /usr/sbin/nologin ${name}`,
    );
  }
  return { owner: made, created: true };
}

/**
 * Give `path` and everything under it to the owner and take the "other" bits away. Symbolic
 * links are left alone (never followed: a link planted in a Maildir must not hand over
 * anything else).
 */
export function giveTree(path: string, owner: MailOwner): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (st.isSymbolicLink()) return;
  if (st.uid !== owner.uid || st.gid !== owner.gid) chownSync(path, owner.uid, owner.gid);
  if ((st.mode & 0o007) !== 0) chmodSync(path, st.mode & 0o7770);
  if (!st.isDirectory()) return;
  for (const name of readdirSync(path)) giveTree(join(path, name), owner);
}

/**
 * Become $mail_owner after the ports are bound. `paths` are the trees the daemon writes (given
 * to the account), `readable` what it must still read afterwards (the configuration, for
 * reloads). Throws, naming the path, when the account cannot reach one of them (a parent
 * directory closed to others, such as a 0700 home or temp directory).
 * Returns the account, or null when not running as root (nothing to do).
 */
export function dropPrivileges(
  cfg: Config,
  paths: string[],
  readable: string[] = [],
): MailOwner | null {
  if (!runningAsRoot()) return null;
  const { owner } = ensureMailOwner(cfg.str("mail_owner").trim());
  if (owner.uid === 0 || owner.gid === 0) {
    throw new Error(`mail_owner "${owner.name}" must not be root (uid or gid 0)`);
  }
  for (const p of paths) giveTree(p, owner);
  process.setgroups?.([owner.gid]);
  process.setgid?.(owner.gid);
  process.setuid?.(owner.uid);
  if (process.getuid?.() !== owner.uid || process.getgid?.() !== owner.gid) {
    throw new Error(`could not become ${owner.name} (uid ${owner.uid}, gid ${owner.gid})`);
  }
  const want: [string, number][] = [
    ...paths.map((p): [string, number] => [p, constants.W_OK]),
    ...readable.map((p): [string, number] => [p, constants.R_OK]),
  ];
  for (const [p, mode] of want) {
    try {
      accessSync(p, mode);
    } catch {
      throw new Error(
        `running as ${owner.name}, posteix cannot ${mode === constants.W_OK ? "write" : "read"} ${p}: ` +
          `every directory above it must be searchable by ${owner.name} (chmod o+x), or set ` +
          "mail_owner to an account that can reach it",
      );
    }
  }
  return owner;
}
