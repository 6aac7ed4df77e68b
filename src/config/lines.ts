/**
 * Logical lines of Postfix configuration files (main.cf, master.cf, postmap and regexp sources),
 * as readllines() does: `#` comment lines and blank lines are skipped, and a line that starts with
 * white space continues the previous logical line. A logical line keeps its first line number.
 */

export interface LogicalLine {
  text: string;
  line: number;
  /** The logical line itself starts with white space (nothing before it to continue). */
  indented: boolean;
}

export function logicalLines(text: string): LogicalLine[] {
  const out: LogicalLine[] = [];
  const raw = text.split("\n");
  let cur: LogicalLine | null = null;
  for (let i = 0; i < raw.length; i++) {
    let s = raw[i]!;
    if (s.endsWith("\r")) s = s.slice(0, -1);
    const t = s.trim();
    if (t === "" || t.startsWith("#")) continue;
    const c = s.charCodeAt(0);
    if (c === 0x20 || c === 0x09) {
      if (cur) {
        cur.text = `${cur.text.trimEnd()} ${t}`;
        continue;
      }
      cur = { text: t, line: i + 1, indented: true };
      out.push(cur);
      continue;
    }
    cur = { text: s.trimEnd(), line: i + 1, indented: false };
    out.push(cur);
  }
  return out;
}
