/**
 * SMTP TLS Reporting (RFC 8460 section 3): one "v=TLSRPTv1" TXT record at _smtp._tls.DOMAIN
 * with rua= naming where senders send their reports about TLS failures (mailto: or https:).
 */
import { parseTags } from "./tags.ts";
import type { CheckContext, CheckResult } from "./types.ts";
import { lookupError, result, txtRecord, withVersion } from "./zone.ts";

const TLSRPT_VERSION = /^v\s*=\s*TLSRPTv1\s*(;|$)/;

export async function checkTlsRpt(ctx: CheckContext, domain: string): Promise<CheckResult> {
  const name = `_smtp._tls.${domain}`;
  const r = await ctx.resolver.txt(name);
  const records = withVersion(r.records, TLSRPT_VERSION);
  const base = { kind: "tls-rpt" as const, domain, name, found: records };
  const suggested = txtRecord(name, `v=TLSRPTv1; rua=mailto:postmaster@${domain}`);
  if (r.status === "tempfail") {
    return result({ ...base, status: "error", detail: lookupError(name, "TXT", r.error) });
  }
  if (records.length === 0) {
    return result({
      ...base,
      status: "missing",
      detail: "no TLS-RPT record",
      publish: [suggested],
    });
  }
  if (records.length > 1) {
    return result({
      ...base,
      status: "wrong",
      detail: `${records.length} TLS-RPT records: senders then send no reports (RFC 8460 section 3); keep one`,
      publish: [suggested],
    });
  }
  const { tags, errors } = parseTags(records[0]);
  const rua = tags.get("rua");
  const uris = (rua ?? "").split(",").map((u) => u.trim());
  const valid = (u: string) => /^mailto:[^@\s]+@[^@\s]+$/i.test(u) || /^https:\/\/\S+$/i.test(u);
  if (errors.length > 0 || rua === undefined || !uris.every(valid)) {
    return result({
      ...base,
      status: "wrong",
      detail: errors[0] ?? "rua= must list mailto: or https: addresses",
      publish: [suggested],
    });
  }
  return result({ ...base, status: "ok", detail: `reports go to ${uris.join(", ")}` });
}
