/**
 * Authentication-Results fields (RFC 8601) that claim an authserv-id: recognised and removed
 * (section 5: a forged field claiming ours would be believed by our own users' mail readers).
 * Pure text handling, without mailauth, so cleanup can strip before the verifier is loaded.
 */

/**
 * The authserv-id of an Authentication-Results field value (RFC 8601 section 2.2): the first
 * token after any comments, up to ";" or white space; quoted strings unquoted.
 */
export function authservIdOf(value: string): string {
  let i = 0;
  const n = value.length;
  const skipCfws = (): void => {
    for (;;) {
      while (i < n && /[ \t\r\n]/.test(value[i])) i++;
      if (value[i] !== "(") return;
      let depth = 0;
      for (; i < n; i++) {
        if (value[i] === "\\") i++;
        else if (value[i] === "(") depth++;
        else if (value[i] === ")" && --depth === 0) {
          i++;
          break;
        }
      }
    }
  };
  skipCfws();
  if (value[i] === '"') {
    let out = "";
    for (i++; i < n && value[i] !== '"'; i++) out += value[i] === "\\" ? value[++i] : value[i];
    return out;
  }
  const start = i;
  while (i < n && !/[ \t\r\n;(]/.test(value[i])) i++;
  return value.slice(start, i);
}

/** Whether an Authentication-Results field (name and value, folded or not) claims this id. */
export function claimsAuthservId(field: string, authservId: string): boolean {
  const colon = field.indexOf(":");
  if (colon < 0) return false;
  if (field.slice(0, colon).trim().toLowerCase() !== "authentication-results") return false;
  return authservIdOf(field.slice(colon + 1)).toLowerCase() === authservId.toLowerCase();
}

/**
 * Removes Authentication-Results fields that claim our authserv-id (RFC 8601 section 5: a
 * forged one would be believed by our own users' mail readers). Takes cleanup's header list
 * ({ name, raw } per field) or a raw header section (folded lines, CRLF or LF).
 */
export function stripOwnAuthResults<H extends { name: string; raw: string }>(
  headers: H[],
  authservId: string,
): H[];
export function stripOwnAuthResults(headers: string, authservId: string): string;
export function stripOwnAuthResults<H extends { name: string; raw: string }>(
  headers: H[] | string,
  authservId: string,
): H[] | string {
  if (typeof headers !== "string") {
    return headers.filter(
      (h) =>
        h.name.toLowerCase() !== "authentication-results" || !claimsAuthservId(h.raw, authservId),
    );
  }
  const lines = headers.split(/(?<=\n)/);
  const out: string[] = [];
  let field: string[] = [];
  const flush = (): void => {
    if (field.length > 0 && !claimsAuthservId(field.join(""), authservId)) out.push(...field);
    field = [];
  };
  for (const line of lines) {
    if ((line.startsWith(" ") || line.startsWith("\t")) && field.length > 0) field.push(line);
    else {
      flush();
      field.push(line);
    }
  }
  flush();
  return out.join("");
}
