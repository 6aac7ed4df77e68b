/** @jsxImportSource hono/jsx/dom */
/**
 * Domains: the deliverability check (GET /api/v1/dns-check) of the configured domains or of
 * those typed in, each record OK / MISSING / WRONG with the zone-file lines to publish.
 */
import { useEffect, useState } from "hono/jsx/dom";
import { type DnsCheckReport, getJson } from "../api.ts";
import { ErrorNote, Loading, StatusBadge } from "../components.tsx";

type Check = DnsCheckReport["checks"][number];

const KIND: Record<string, string> = {
  address: "A/AAAA",
  ptr: "PTR",
  mx: "MX",
  spf: "SPF",
  dkim: "DKIM",
  dmarc: "DMARC",
  "mta-sts": "MTA-STS",
  "tls-rpt": "TLS-RPT",
};

function Copy({ text }: { text: string }) {
  const [done, setDone] = useState(false);
  if (!navigator.clipboard) return null;
  return (
    <button
      type="button"
      class="small"
      onClick={() =>
        navigator.clipboard.writeText(text).then(
          () => setDone(true),
          () => setDone(false),
        )
      }
    >
      {done ? "Copied" : "Copy"}
    </button>
  );
}

function CheckRows({ checks }: { checks: Check[] }) {
  return (
    <ul class="checks">
      {checks.map((c) => (
        <li class={`dns-check status-${c.status}`} data-kind={c.kind} data-status={c.status}>
          <div class="dns-check-head">
            <StatusBadge status={c.status} />
            <strong>{KIND[c.kind] ?? c.kind}</strong>
            <code class="name">{c.name}</code>
          </div>
          <p>{c.detail}</p>
          {c.status !== "ok" && c.found.length > 0 && (
            <div>
              <span class="muted">Found:</span>
              <pre>{c.found.join("\n")}</pre>
            </div>
          )}
          {c.publish.length > 0 && (
            <div>
              <span class="muted">Publish:</span> <Copy text={c.publish.join("\n")} />
              <pre class="publish">{c.publish.join("\n")}</pre>
            </div>
          )}
        </li>
      ))}
    </ul>
  );
}

export function Domains() {
  const [domains, setDomains] = useState("");
  const [address, setAddress] = useState("");
  const [fetchPolicy, setFetchPolicy] = useState(true);
  const [report, setReport] = useState<DnsCheckReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const check = async () => {
    const q = new URLSearchParams();
    for (const d of domains.split(/[\s,]+/)) if (d) q.append("domain", d);
    for (const a of address.split(/[\s,]+/)) if (a) q.append("address", a);
    if (!fetchPolicy) q.set("fetch_policy", "false");
    setBusy(true);
    setError(null);
    try {
      setReport(await getJson<DnsCheckReport>(`/api/v1/dns-check?${q}`));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    void check();
  }, []);

  const problems = report?.checks.filter((c) => c.status !== "ok").length ?? 0;
  return (
    <main>
      <h1>Domains</h1>
      <p class="muted">
        Will other mail systems accept mail from this host and find their way to it? Each DNS record
        is looked up now, through this server's resolver.
      </p>
      <form
        class="filters"
        method="post"
        aria-label="Deliverability check"
        onSubmit={(e: Event) => {
          e.preventDefault();
          void check();
        }}
      >
        <label>
          Domains (empty: those of main.cf)
          <input
            name="domains"
            value={domains}
            placeholder="example.com"
            onInput={(e: Event) => setDomains((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Sending address (empty: those of the host name)
          <input
            name="address"
            value={address}
            placeholder="203.0.113.25"
            onInput={(e: Event) => setAddress((e.target as HTMLInputElement).value)}
          />
        </label>
        <label class="check">
          <input
            type="checkbox"
            name="fetch_policy"
            checked={fetchPolicy}
            onChange={() => setFetchPolicy(!fetchPolicy)}
          />
          Fetch MTA-STS policy files (HTTPS)
        </label>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Checking…" : "Check"}
        </button>
      </form>
      <ErrorNote error={error} />
      {report === null ? (
        busy && <Loading what="DNS records" />
      ) : (
        <>
          <p class={`summary ${report.ok ? "good" : "bad"}`} role="status">
            {report.ok
              ? `All ${report.checks.length} checks OK.`
              : `${problems} of ${report.checks.length} checks need attention.`}
          </p>
          <section aria-labelledby="host-heading">
            <h2 id="host-heading">
              {report.hostname}{" "}
              <span class="muted">
                (this host{report.addresses.length > 0 ? `, ${report.addresses.join(", ")}` : ""})
              </span>
            </h2>
            <CheckRows checks={report.checks.filter((c) => c.domain === null)} />
          </section>
          {report.domains.map((d) => (
            <section aria-label={d.name} data-domain={d.name}>
              <h2>
                {d.name}{" "}
                <span class="muted">
                  ({d.roles.join(", ")}; {d.sources.join(", ")})
                </span>
              </h2>
              <CheckRows checks={report.checks.filter((c) => c.domain === d.name)} />
            </section>
          ))}
          {report.notes.length > 0 && (
            <ul class="notes">
              {report.notes.map((n) => (
                <li>{n}</li>
              ))}
            </ul>
          )}
        </>
      )}
    </main>
  );
}
