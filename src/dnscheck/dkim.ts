/**
 * DKIM (RFC 6376 section 3.6.1, RFC 8463): for each key cleanup signs the domain's mail with
 * (keysForDomain: the newest RSA and Ed25519 key of the domain or of its nearest parent with
 * keys), the TXT record at SELECTOR._domainkey.KEYDOMAIN must hold that key's public half:
 * same p=, same k= (rsa when absent). An empty p= means the key was revoked (section 3.6.1).
 */
import { type DkimKey, keysForDomain } from "../auth/dkim-keys.ts";
import { parseTags } from "./tags.ts";
import type { CheckContext, CheckResult } from "./types.ts";
import { bare, lookupError, result } from "./zone.ts";

/** A DKIM key record: has a p= tag, and v=DKIM1 first if it has v= at all (section 3.6.1). */
function isKeyRecord(text: string): boolean {
  const t = text.trim();
  if (/^v\s*=/i.test(t)) return /^v\s*=\s*DKIM1\s*(;|$)/i.test(t);
  return /(^|;)\s*p\s*=/i.test(t);
}

const compact = (s: string) => s.replace(/\s+/g, "");

function keyData(txt: string): string {
  return compact(parseTags(txt).tags.get("p") ?? "");
}

async function checkKey(ctx: CheckContext, domain: string, key: DkimKey): Promise<CheckResult> {
  const name = bare(key.name);
  const r = await ctx.resolver.txt(name);
  const records = r.records.filter(isKeyRecord);
  const base = { kind: "dkim" as const, domain, name, found: records };
  const publish = [key.record];
  if (r.status === "tempfail") {
    return result({ ...base, status: "error", detail: lookupError(name, "TXT", r.error) });
  }
  if (records.length === 0) {
    return result({
      ...base,
      status: "missing",
      detail: `no DKIM record for selector ${key.selector} (key ${key.path})`,
      publish,
    });
  }
  if (records.length > 1) {
    return result({
      ...base,
      status: "wrong",
      detail: `${records.length} DKIM records at ${name}: verifiers may pick any; keep one`,
      publish,
    });
  }
  const tags = parseTags(records[0]).tags;
  const p = keyData(records[0]);
  const k = (tags.get("k") ?? "rsa").toLowerCase();
  if (p === "") {
    return result({
      ...base,
      status: "wrong",
      detail: "the record revokes the key (empty p=)",
      publish,
    });
  }
  if (k !== key.type) {
    return result({
      ...base,
      status: "wrong",
      detail: `the record is for a ${k} key; ours (${key.path}) is ${key.type}`,
      publish,
    });
  }
  if (p !== keyData(key.txt)) {
    return result({
      ...base,
      status: "wrong",
      detail: `p= is not the public key of ${key.path}: mail signed with it fails DKIM`,
      publish,
    });
  }
  return result({
    ...base,
    status: "ok",
    detail: `matches the ${key.type} key ${key.path}`,
  });
}

export async function checkDkim(ctx: CheckContext, domain: string): Promise<CheckResult[]> {
  const keys = keysForDomain(ctx.dkimKeyDirectory, domain);
  if (keys.length === 0) {
    return [
      result({
        kind: "dkim",
        domain,
        name: `_domainkey.${domain}`,
        status: "missing",
        detail: `no DKIM key for ${domain} in ${ctx.dkimKeyDirectory}: make one with "posteix dkim keygen ${domain}", then publish the record it prints`,
      }),
    ];
  }
  return Promise.all(keys.map((k) => checkKey(ctx, domain, k)));
}
