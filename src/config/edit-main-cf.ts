/**
 * `postconf -e`: rewrite main.cf settings in place, as Postfix's pcf_edit_main() does. A changed
 * setting keeps its place (its continuation lines are dropped), comments and order are kept, new
 * names are appended in name order, and the result replaces the file atomically.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";

/** Returns warnings (a name set more than once in the file). */
export function editMainCf(path: string, updates: Record<string, string>): string[] {
  const warnings: string[] = [];
  for (const [name, value] of Object.entries(updates)) {
    if (!/^[^\s=#]+$/.test(name)) throw new Error(`bad parameter name: "${name}"`);
    if (/[\r\n]/.test(value)) throw new Error(`-e accepts no multi-line input: "${name}"`);
  }
  const found = new Map<string, number>();
  const src = existsSync(path) ? readFileSync(path, "utf8") : "";
  const lines = src === "" ? [] : src.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const out: string[] = [];
  let replacing = false;
  for (const line of lines) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) {
      out.push(line);
      continue;
    }
    const c = line.charCodeAt(0);
    if (c === 0x20 || c === 0x09) {
      if (!replacing) out.push(line);
      continue;
    }
    const key = /^[^\s=]*/.exec(line)![0];
    replacing = Object.hasOwn(updates, key);
    if (replacing) {
      const n = (found.get(key) ?? 0) + 1;
      found.set(key, n);
      if (n === 2) warnings.push(`${path}: multiple entries for "${key}"`);
      out.push(`${key} = ${updates[key]}`);
    } else {
      out.push(line);
    }
  }
  for (const name of Object.keys(updates).sort()) {
    if (!found.has(name)) out.push(`${name} = ${updates[name]}`);
  }
  writeAtomically(path, out.length > 0 ? `${out.join("\n")}\n` : "");
  return warnings;
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  let mode = 0o644;
  try {
    mode = statSync(path).mode & 0o7777;
  } catch {
    // new file
  }
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}
