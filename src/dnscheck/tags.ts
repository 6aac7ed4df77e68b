/**
 * Tag=value lists as DKIM (RFC 6376 section 3.2), DMARC (RFC 7489 section 6.4), MTA-STS
 * (RFC 8461 section 3.1) and TLS-RPT (RFC 8460 section 3) records write them:
 * `v=DMARC1; p=none; rua=mailto:...`. Tag names are case-sensitive in DKIM and compared
 * lowercased here, which is what every verifier in practice does.
 */

export interface TagList {
  tags: Map<string, string>;
  /** Parts that are not tag=value, or repeat a tag (a syntax error in all four formats). */
  errors: string[];
}

export function parseTags(text: string): TagList {
  const tags = new Map<string, string>();
  const errors: string[] = [];
  for (const raw of text.split(";")) {
    const part = raw.trim();
    if (part === "") continue;
    const eq = part.indexOf("=");
    if (eq <= 0) {
      errors.push(`"${part}" is not tag=value`);
      continue;
    }
    const name = part.slice(0, eq).trim().toLowerCase();
    if (tags.has(name)) errors.push(`tag ${name} appears twice`);
    else tags.set(name, part.slice(eq + 1).trim());
  }
  return { tags, errors };
}
