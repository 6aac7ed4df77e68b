/**
 * cidr: tables (cidr_table(5)): `network/prefix result` or `address result` per logical line,
 * IPv4 and IPv6 (optionally in [brackets]), `!network/prefix` negation and `if network/prefix` ...
 * `endif` blocks. The lookup key is a client IP address; the first matching line wins. Host bits
 * set beyond the prefix are an error, as in Postfix.
 */
import { configError } from "./errors.ts";
import type { Cidr } from "./ip.ts";
import { cidrMatch, parseCidr, parseIp } from "./ip.ts";
import { logicalLines } from "./lines.ts";
import type { TableContext } from "./table-types.ts";
import { readTableFile, tablePath } from "./table-types.ts";
import type { LookupTable } from "./types.ts";

interface CidrRule {
  readonly block: Cidr;
  readonly negate: boolean;
  /** For an `if`: index after its block; -1 for a line with a result. */
  end: number;
  readonly result: string;
}

export function parseCidrTable(text: string, file: string): CidrRule[] {
  const rules: CidrRule[] = [];
  const open: { index: number; line: number }[] = [];
  for (const l of logicalLines(text)) {
    const fail = (msg: string): never => {
      throw configError(file, l.line, msg);
    };
    const words = l.text.trim().split(/\s+/);
    const kw = words[0]!.toLowerCase();
    if (kw === "endif") {
      if (words.length > 1) fail(`extra text after endif: "${l.text}"`);
      const o = open.pop();
      if (!o) fail("endif without matching if");
      rules[o!.index]!.end = rules.length;
      continue;
    }
    const isIf = kw === "if";
    const rest = isIf ? l.text.trim().slice(2).trim() : l.text.trim();
    const m = /^(!?)\s*(\S+)\s*([\s\S]*)$/.exec(rest);
    if (!m) fail(`expected "network/prefix result": "${l.text}"`);
    const block = parseCidr(m![2]!);
    if ("error" in block) fail(block.error);
    const result = m![3]!.trim();
    if (isIf) {
      if (result !== "") fail(`extra text after if pattern: "${l.text}"`);
      open.push({ index: rules.length, line: l.line });
      rules.push({ block: block as Cidr, negate: m![1] === "!", end: rules.length + 1, result });
      continue;
    }
    if (result === "") fail(`missing result after pattern: "${l.text}"`);
    rules.push({ block: block as Cidr, negate: m![1] === "!", end: -1, result });
  }
  const o = open.pop();
  if (o) throw configError(file, o.line, "if without matching endif");
  return rules;
}

export function cidrLookup(rules: readonly CidrRule[], key: string): string | undefined {
  const k = key.startsWith("[") && key.endsWith("]") ? key.slice(1, -1) : key;
  const addr = parseIp(k);
  if (!addr) return undefined;
  let i = 0;
  while (i < rules.length) {
    const r = rules[i]!;
    const hit = cidrMatch(r.block, addr) !== r.negate;
    if (r.end >= 0) {
      i = hit ? i + 1 : r.end;
      continue;
    }
    if (hit) return r.result;
    i++;
  }
  return undefined;
}

export function openCidrTable(name: string, ctx: TableContext, spec: string): LookupTable {
  const file = tablePath(name, ctx);
  const rules = parseCidrTable(readTableFile(file), file);
  return { spec, lookup: (key) => cidrLookup(rules, key) };
}
