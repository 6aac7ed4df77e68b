/** @jsxImportSource hono/jsx/dom */
/** Configuration, read-only: main.cf settings (postconf -n) and master.cf services (postconf -M). */
import { useEffect, useState } from "hono/jsx/dom";
import { type ConfigView, getJson } from "../api.ts";
import { ErrorNote, Loading, Scroll } from "../components.tsx";

function yn(b: boolean): string {
  return b ? "y" : "n";
}

export function ConfigPage() {
  const [cfg, setCfg] = useState<ConfigView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState("");
  const [expanded, setExpanded] = useState(false);

  useEffect(() => {
    getJson<ConfigView>("/api/v1/config")
      .then(setCfg)
      .catch((err: Error) => setError(err.message));
  }, []);

  const f = filter.trim().toLowerCase();
  const params = (cfg?.parameters ?? []).filter(
    (p) => f === "" || p.name.includes(f) || p.value.toLowerCase().includes(f),
  );
  return (
    <main>
      <h1>Configuration</h1>
      <ErrorNote error={error} />
      {cfg === null ? (
        error === null && <Loading what="the configuration" />
      ) : (
        <>
          <p class="muted">
            {cfg.config_directory === null
              ? "Built-in defaults (no configuration directory)."
              : `From ${cfg.main_cf ?? "(no main.cf)"} and ${cfg.master_cf ?? "(no master.cf)"}.`}{" "}
            Read-only: change it with <code>postconf -e</code> or an editor, then reload.
          </p>
          <section aria-labelledby="main-heading">
            <h2 id="main-heading">main.cf (postconf -n)</h2>
            <div class="filters">
              <label>
                Filter
                <input
                  type="search"
                  value={filter}
                  onInput={(e: Event) => setFilter((e.target as HTMLInputElement).value)}
                />
              </label>
              <label class="check">
                <input type="checkbox" checked={expanded} onChange={() => setExpanded(!expanded)} />
                Expand $names (postconf -x)
              </label>
            </div>
            {params.length === 0 ? (
              <p class="muted">
                No parameters set{f ? " that match" : ""}: built-in defaults apply.
              </p>
            ) : (
              <Scroll label="main.cf parameters">
                <table class="params mono">
                  <tbody>
                    {params.map((p) => (
                      <tr data-param={p.name}>
                        <th scope="row">{p.name}</th>
                        <td>= {expanded ? (p.expanded ?? p.value) : p.value}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </Scroll>
            )}
          </section>
          <section aria-labelledby="master-heading">
            <h2 id="master-heading">master.cf (postconf -M)</h2>
            <Scroll label="master.cf services">
              <table class="mono">
                <thead>
                  <tr>
                    <th scope="col">service</th>
                    <th scope="col">type</th>
                    <th scope="col">private</th>
                    <th scope="col">unpriv</th>
                    <th scope="col">chroot</th>
                    <th scope="col">wakeup</th>
                    <th scope="col">maxproc</th>
                    <th scope="col">command + args</th>
                  </tr>
                </thead>
                <tbody>
                  {cfg.services.map((s) => (
                    <tr>
                      <td>{s.name}</td>
                      <td>{s.type}</td>
                      <td>{yn(s.private)}</td>
                      <td>{yn(s.unpriv)}</td>
                      <td>{yn(s.chroot)}</td>
                      <td>{s.wakeup}</td>
                      <td>{s.maxproc === 0 ? "-" : s.maxproc}</td>
                      <td>
                        {[
                          s.command,
                          ...s.args,
                          ...Object.entries(s.overrides).map(([k, v]) => `-o ${k}=${v}`),
                        ].join(" ")}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Scroll>
          </section>
        </>
      )}
    </main>
  );
}
