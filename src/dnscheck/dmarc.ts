/**
 * DMARC (RFC 7489 section 6): one "v=DMARC1" TXT record at _dmarc.DOMAIN with a valid p= (none,
 * quarantine or reject). When the domain has none, receivers use the organisational domain's
 * record (section 6.6.3); mailauth finds that one with the public suffix list.
 */
import { mailauthResolver } from "../dns/index.ts";
import { parseTags } from "./tags.ts";
import type { CheckContext, CheckResult } from "./types.ts";
import { lookupError, result, txtRecord, withVersion } from "./zone.ts";

const DMARC_VERSION = /^v\s*=\s*DMARC1\s*(;|$)/i;
const POLICIES = ["none", "quarantine", "reject"];

/** What is wrong with a DMARC record, or null. */
export function dmarcProblem(text: string): string | null {
  const { tags, errors } = parseTags(text);
  if (errors.length > 0) return errors[0];
  const p = tags.get("p");
  if (p === undefined) return "no p= policy tag";
  if (!POLICIES.includes(p.toLowerCase())) return `p=${p} is not none, quarantine or reject`;
  const sp = tags.get("sp");
  if (sp !== undefined && !POLICIES.includes(sp.toLowerCase())) {
    return `sp=${sp} is not none, quarantine or reject`;
  }
  for (const uriTag of ["rua", "ruf"]) {
    const v = tags.get(uriTag);
    if (v !== undefined && !v.split(",").every((u) => /^mailto:[^@\s]+@[^@\s]+$/i.test(u.trim()))) {
      return `${uriTag}= must be mailto: addresses`;
    }
  }
  return null;
}

export async function checkDmarc(ctx: CheckContext, domain: string): Promise<CheckResult> {
  const name = `_dmarc.${domain}`;
  const r = await ctx.resolver.txt(name);
  const records = withVersion(r.records, DMARC_VERSION);
  const base = { kind: "dmarc" as const, domain, name, found: records };
  const suggested = txtRecord(name, `v=DMARC1; p=none; rua=mailto:postmaster@${domain}`);
  if (r.status === "tempfail") {
    return result({ ...base, status: "error", detail: lookupError(name, "TXT", r.error) });
  }
  if (records.length > 1) {
    return result({
      ...base,
      status: "wrong",
      detail: `${records.length} DMARC records: receivers then apply none (RFC 7489 section 6.6.3); keep one`,
      publish: [txtRecord(name, records[0])],
    });
  }
  if (records.length === 1) {
    const problem = dmarcProblem(records[0]);
    if (problem !== null) {
      return result({ ...base, status: "wrong", detail: problem, publish: [suggested] });
    }
    const p = parseTags(records[0]).tags.get("p")?.toLowerCase();
    return result({ ...base, status: "ok", detail: `policy ${p}` });
  }
  // None here: the organisational domain's record applies, if there is one.
  const { dmarc } = await import("mailauth/lib/dmarc");
  try {
    const res =
      (await dmarc({
        headerFrom: `postmaster@${domain}`,
        resolver: mailauthResolver(ctx.resolver),
      })) || null;
    if (res?.rr && res.domain !== domain && dmarcProblem(res.rr) === null) {
      return result({
        ...base,
        status: "ok",
        found: [res.rr],
        detail: `no record of its own; _dmarc.${res.domain} applies (policy ${res.policy} for its subdomains)`,
      });
    }
  } catch {
    // A failed lookup of the organisational record: report what we know, the missing record.
  }
  return result({
    ...base,
    status: "missing",
    detail: `${domain} has no DMARC record`,
    publish: [suggested],
  });
}
