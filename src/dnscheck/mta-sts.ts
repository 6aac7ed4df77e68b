/**
 * MTA-STS (RFC 8461): one "v=STSv1" TXT record at _mta-sts.DOMAIN with an id= (1 to 32 letters
 * and digits, section 3.1) announces a policy file at
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt (section 3.3). When asked to, the file is
 * fetched (HTTPS only, no redirects, 64 KB at most, 10 s) and must be a valid policy whose mx:
 * patterns match $myhostname (section 4.1); mode none counts as wrong, since it turns the
 * protection off. Fetching is skippable because it leaves the DNS world (and tests cannot).
 */
import { parseTags } from "./tags.ts";
import type { CheckContext, CheckResult } from "./types.ts";
import { bare, lookupError, result, txtRecord, withVersion } from "./zone.ts";

const STS_VERSION = /^v\s*=\s*STSv1\s*(;|$)/;
const POLICY_MAX_BYTES = 65_536;
const FETCH_TIMEOUT_MS = 10_000;

export interface StsPolicy {
  mode: string;
  mx: string[];
  maxAge: number;
}

/** A policy file's text (section 3.2); throws an Error saying what is wrong. */
export function parseStsPolicy(text: string): StsPolicy {
  const fields = new Map<string, string[]>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`"${line}" is not key: value`);
    const key = line.slice(0, colon).trim().toLowerCase();
    const list = fields.get(key) ?? [];
    list.push(line.slice(colon + 1).trim());
    fields.set(key, list);
  }
  if (fields.get("version")?.[0] !== "STSv1") throw new Error("version is not STSv1");
  const mode = fields.get("mode")?.[0] ?? "";
  if (!["enforce", "testing", "none"].includes(mode)) {
    throw new Error(`mode "${mode}" is not enforce, testing or none`);
  }
  const maxAge = Number(fields.get("max_age")?.[0]);
  if (!Number.isInteger(maxAge) || maxAge < 0 || maxAge > 31_557_600) {
    throw new Error("max_age is missing or not 0 to 31557600");
  }
  const mx = fields.get("mx") ?? [];
  if (mode !== "none" && mx.length === 0) throw new Error("no mx: lines");
  return { mode, mx: mx.map(bare), maxAge };
}

/** Whether an MX host matches an mx: pattern ("*.example.com" covers one label, section 4.1). */
export function stsMxMatches(pattern: string, host: string): boolean {
  const p = bare(pattern);
  const h = bare(host);
  if (p.startsWith("*.")) {
    const dot = h.indexOf(".");
    return dot > 0 && h.slice(dot + 1) === p.slice(2);
  }
  return p === h;
}

export function policyUrl(domain: string): string {
  return `https://mta-sts.${domain}/.well-known/mta-sts.txt`;
}

async function fetchPolicy(domain: string): Promise<string> {
  const res = await fetch(policyUrl(domain), {
    redirect: "manual",
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    headers: { accept: "text/plain" },
  });
  if (res.status !== 200) throw new Error(`HTTP status ${res.status} (must be 200, no redirects)`);
  const type = (res.headers.get("content-type") ?? "").toLowerCase();
  if (!type.startsWith("text/plain"))
    throw new Error(`Content-Type ${type || "none"}, not text/plain`);
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > POLICY_MAX_BYTES) throw new Error("larger than 64 KB");
  return new TextDecoder().decode(body);
}

/** The policy file to serve, as zone-file comments under the TXT record. */
function policyComments(domain: string, hostname: string): string[] {
  return [
    `; policy file ${policyUrl(domain)}`,
    `; (text/plain, over HTTPS with a certificate for mta-sts.${domain}):`,
    ";   version: STSv1",
    ";   mode: testing",
    `;   mx: ${bare(hostname)}`,
    ";   max_age: 604800",
  ];
}

export async function checkMtaSts(ctx: CheckContext, domain: string): Promise<CheckResult> {
  const name = `_mta-sts.${domain}`;
  const r = await ctx.resolver.txt(name);
  const records = withVersion(r.records, STS_VERSION);
  const base = { kind: "mta-sts" as const, domain, name, found: records };
  const id = ctx.now.toISOString().replace(/\D/g, "").slice(0, 14);
  const suggested = txtRecord(name, `v=STSv1; id=${id}`);
  const policy = policyComments(domain, ctx.hostname);
  if (r.status === "tempfail") {
    return result({ ...base, status: "error", detail: lookupError(name, "TXT", r.error) });
  }
  if (records.length === 0) {
    return result({
      ...base,
      status: "missing",
      detail: "no MTA-STS record",
      publish: [suggested, ...policy],
    });
  }
  if (records.length > 1) {
    return result({
      ...base,
      status: "wrong",
      detail: `${records.length} MTA-STS records: senders then ignore the policy (RFC 8461 section 3.1); keep one`,
      publish: [suggested],
    });
  }
  const { tags, errors } = parseTags(records[0]);
  const recordId = tags.get("id");
  if (errors.length > 0 || recordId === undefined || !/^[A-Za-z0-9]{1,32}$/.test(recordId)) {
    return result({
      ...base,
      status: "wrong",
      detail: errors[0] ?? "id= must be 1 to 32 letters and digits",
      publish: [suggested],
    });
  }
  if (!ctx.fetchPolicy) {
    return result({ ...base, status: "ok", detail: `id ${recordId} (policy file not fetched)` });
  }
  let file: StsPolicy;
  try {
    file = parseStsPolicy(await fetchPolicy(domain));
  } catch (err) {
    return result({
      ...base,
      status: "wrong",
      detail: `policy ${policyUrl(domain)}: ${(err as Error).message}`,
      publish: policy,
    });
  }
  if (file.mode === "none") {
    return result({
      ...base,
      status: "wrong",
      detail: "the policy's mode is none: MTA-STS is switched off",
      publish: policy,
    });
  }
  if (!file.mx.some((p) => stsMxMatches(p, ctx.hostname))) {
    return result({
      ...base,
      status: "wrong",
      detail: `the policy's mx: lines (${file.mx.join(", ")}) do not cover ${bare(ctx.hostname)}: senders enforcing it will not deliver here`,
      publish: policy,
    });
  }
  return result({ ...base, status: "ok", detail: `id ${recordId}, policy mode ${file.mode}` });
}
