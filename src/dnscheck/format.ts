/**
 * The report as `posteix check --dns` prints it: one block for this host, one per domain, a
 * line per check (status, what, why), and under each problem what DNS holds now and the
 * zone-file lines to publish.
 */
import type { CheckKind, CheckResult, CheckStatus, DnsCheckReport } from "./types.ts";

export const STATUS_LABEL: Record<CheckStatus, string> = {
  ok: "OK",
  missing: "MISSING",
  wrong: "WRONG",
  error: "ERROR",
};

const KIND_LABEL: Record<CheckKind, string> = {
  address: "A/AAAA",
  ptr: "PTR",
  mx: "MX",
  spf: "SPF",
  dkim: "DKIM",
  dmarc: "DMARC",
  "mta-sts": "MTA-STS",
  "tls-rpt": "TLS-RPT",
};

const INDENT = " ".repeat(19);

function checkLines(c: CheckResult): string {
  let out = `  ${STATUS_LABEL[c.status].padEnd(8)} ${KIND_LABEL[c.kind].padEnd(8)} ${c.detail}\n`;
  if (c.status === "ok") return out;
  for (const f of c.found)
    out += `${INDENT}found:   ${c.kind === "mx" || c.kind === "address" || c.kind === "ptr" ? f : JSON.stringify(f)}\n`;
  c.publish.forEach((line, i) => {
    out += `${INDENT}${i === 0 ? "publish:" : "        "} ${line}\n`;
  });
  return out;
}

export function formatReport(report: DnsCheckReport): string {
  const via = report.addresses.length > 0 ? `, sending from ${report.addresses.join(", ")}` : "";
  let out = `posteix: deliverability of ${report.hostname}${via}\n\n`;
  out += `${report.hostname} (this host)\n`;
  for (const c of report.checks) if (c.domain === null) out += checkLines(c);
  for (const d of report.domains) {
    const roles = d.roles.map((r) => (r === "receive" ? "receives" : "sends")).join(", ");
    out += `\n${d.name} (${roles}; from ${d.sources.join(", ")})\n`;
    for (const c of report.checks) if (c.domain === d.name) out += checkLines(c);
  }
  if (report.notes.length > 0) out += "\n";
  for (const n of report.notes) out += `note: ${n}\n`;
  const counts = new Map<CheckStatus, number>();
  for (const c of report.checks) counts.set(c.status, (counts.get(c.status) ?? 0) + 1);
  const problems = report.checks.length - (counts.get("ok") ?? 0);
  if (problems === 0) {
    out += `\nposteix: all ${report.checks.length} checks OK\n`;
  } else {
    const parts = (["missing", "wrong", "error"] as const)
      .filter((s) => counts.has(s))
      .map((s) => `${counts.get(s)} ${STATUS_LABEL[s].toLowerCase()}`);
    out += `\nposteix: ${problems} problem${problems === 1 ? "" : "s"} (${parts.join(", ")}) in ${report.checks.length} checks\n`;
  }
  return out;
}
