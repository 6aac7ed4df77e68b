/**
 * Bearer tokens from $api_token_file: one per line, `#` comments and blank lines ignored.
 * A missing file is created on first start with one random token (32 bytes, base64url) and
 * mode 0600. Tokens are compared as SHA-256 digests with timingSafeEqual, against every token
 * in the file without an early exit, so timing tells nothing about a near miss.
 * The file is re-read on reload, and at most once a second when its mtime changed, so a token
 * added or revoked with an editor takes effect without a restart.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { logger } from "../log/index.ts";

const log = logger("api");
const RECHECK_MS = 1000;

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/** The tokens of a token file's text. */
export function parseTokens(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line !== "" && !line.startsWith("#")) out.push(line);
  }
  return out;
}

export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

export class TokenStore {
  private digests: Buffer[] = [];
  private mtime = -1;
  private checkedAt = 0;

  constructor(readonly file: string) {}

  /** Create the file when missing (start-up), then load it. Returns true when it was created. */
  ensure(): boolean {
    let created = false;
    try {
      statSync(this.file);
    } catch {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o750 });
      const text = `# posteix API bearer tokens, one per line (Authorization: Bearer TOKEN)\n${generateToken()}\n`;
      try {
        // "wx": never overwrite a file another process created meanwhile.
        writeFileSync(this.file, text, { mode: 0o600, flag: "wx" });
        created = true;
        log.info(`generated an API token in ${this.file}`);
      } catch (err) {
        if ((err as { code?: string }).code !== "EEXIST") throw err;
      }
    }
    this.load();
    return created;
  }

  load(): void {
    let text = "";
    try {
      const st = statSync(this.file);
      this.mtime = st.mtimeMs;
      if ((st.mode & 0o077) !== 0) {
        log.warn(`${this.file} is readable by others: chmod 600 it`);
      }
      text = readFileSync(this.file, "utf8");
    } catch (err) {
      this.mtime = -1;
      log.warn(`cannot read API tokens from ${this.file}: ${(err as Error).message}`);
    }
    this.digests = parseTokens(text).map(digest);
    this.checkedAt = Date.now();
    if (this.digests.length === 0) {
      log.warn(`no API tokens in ${this.file}: every authenticated request is refused`);
    }
  }

  private refresh(): void {
    const now = Date.now();
    if (now - this.checkedAt < RECHECK_MS) return;
    this.checkedAt = now;
    let mtime = -1;
    try {
      mtime = statSync(this.file).mtimeMs;
    } catch {
      // Gone: load() below empties the list and says so.
    }
    if (mtime !== this.mtime) this.load();
  }

  /** Whether `token` is one of the file's tokens (constant time per token). */
  verify(token: string): boolean {
    this.refresh();
    const d = digest(token);
    let ok = false;
    for (const t of this.digests) ok = timingSafeEqual(d, t) || ok;
    return ok;
  }

  get count(): number {
    return this.digests.length;
  }
}

/** The token of an `Authorization: Bearer TOKEN` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return m ? m[1] : null;
}
