/** @jsxImportSource hono/jsx/dom */
/**
 * The queue: the list filters of GET /api/v1/queue (kept in the page's address, so a filtered
 * view can be bookmarked), cursor paging, and hold / release / requeue / delete of the selected
 * messages (the bulk endpoints with their IDs), and flush.
 */
import { useEffect, useState } from "hono/jsx/dom";
import { getJson, type MessageList, postJson } from "../api.ts";
import { ErrorNote, Loading, Scroll, StateBadge } from "../components.tsx";
import { bytes, dateTime, relative, sender } from "../format.ts";

export const STATES = ["incoming", "active", "deferred", "hold", "bounce", "corrupt"];
const FILTERS = ["state", "sender", "recipient", "domain", "older_than"] as const;
type Filters = Record<(typeof FILTERS)[number] | "limit", string>;
const ACTIONS = ["hold", "release", "requeue", "delete"] as const;
type Action = (typeof ACTIONS)[number];
const DONE: Record<Action, string> = {
  hold: "put on hold",
  release: "released",
  requeue: "requeued",
  delete: "deleted",
};

function filtersOf(query: URLSearchParams): Filters {
  const f = { limit: query.get("limit") ?? "50" } as Filters;
  for (const k of FILTERS) f[k] = query.get(k) ?? "";
  return f;
}

function listPath(f: Filters, cursor: string | null): string {
  const q = new URLSearchParams();
  for (const k of FILTERS) if (f[k] !== "") q.set(k, f[k]);
  q.set("limit", f.limit);
  if (cursor) q.set("cursor", cursor);
  return `/api/v1/queue?${q}`;
}

export function Queue({ query }: { query: URLSearchParams }) {
  const applied = filtersOf(query);
  const [form, setForm] = useState<Filters>(applied);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<MessageList | null>(null);
  const [selected, setSelected] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    let alive = true;
    getJson<MessageList>(listPath(applied, cursor))
      .then((p) => {
        if (!alive) return;
        setPage(p);
        setError(null);
        const ids = new Set(p.messages.map((m) => m.id));
        setSelected((s) => s.filter((id) => ids.has(id)));
      })
      .catch((err: Error) => alive && setError(err.message));
    return () => {
      alive = false;
    };
  }, [cursor, reload]);

  const apply = (e: Event) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const k of FILTERS) if (form[k].trim() !== "") q.set(k, form[k].trim());
    if (form.limit !== "50") q.set("limit", form.limit);
    const s = q.toString();
    location.hash = s ? `#/queue?${s}` : "#/queue";
  };

  const field = (k: keyof Filters) => (e: Event) =>
    setForm({ ...form, [k]: (e.target as HTMLInputElement).value });

  const run = async (what: string, fn: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    try {
      setStatus(await fn());
      setReload((n) => n + 1);
    } catch (err) {
      setError(`${what}: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  const act = (action: Action) => {
    const ids = selected;
    if (ids.length === 0) return;
    const n = `${ids.length} message${ids.length === 1 ? "" : "s"}`;
    if (action === "delete" && !confirm(`Delete ${n}? This cannot be undone.`)) return;
    void run(action, async () => {
      const r = await postJson<{ affected: number }>(`/api/v1/queue/${action}`, { ids });
      setSelected([]);
      return `${r.affected} of ${n} ${DONE[action]}.`;
    });
  };

  const flush = () =>
    run("flush", async () => {
      const r = await postJson<{ affected: number }>("/api/v1/queue/flush");
      return `Flush: ${r.affected} deferred message${r.affected === 1 ? "" : "s"} to be tried now.`;
    });

  const messages = page?.messages ?? [];
  const allSelected = messages.length > 0 && selected.length === messages.length;
  const toggle = (id: string) =>
    setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));

  return (
    <main>
      <h1>Queue</h1>
      <form class="filters" method="post" onSubmit={apply} aria-label="Filter messages">
        <label>
          State
          <select name="state" value={form.state} onChange={field("state")}>
            <option value="">any</option>
            {STATES.map((s) => (
              <option value={s} selected={form.state === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Sender contains
          <input name="sender" value={form.sender} onInput={field("sender")} />
        </label>
        <label>
          Recipient contains
          <input name="recipient" value={form.recipient} onInput={field("recipient")} />
        </label>
        <label>
          Recipient domain
          <input name="domain" value={form.domain} onInput={field("domain")} />
        </label>
        <label>
          Older than
          <input
            name="older_than"
            placeholder="90m, 2h, 3d"
            value={form.older_than}
            onInput={field("older_than")}
          />
        </label>
        <label>
          Per page
          <select name="limit" value={form.limit} onChange={field("limit")}>
            {["25", "50", "100", "250"].map((n) => (
              <option value={n} selected={form.limit === n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Apply filters</button>
      </form>

      <div class="toolbar" role="toolbar" aria-label="Actions on the selected messages">
        {ACTIONS.map((a) => (
          <button
            type="button"
            class={a === "delete" ? "danger" : ""}
            data-action={a}
            disabled={busy || selected.length === 0}
            onClick={() => act(a)}
          >
            {a[0].toUpperCase() + a.slice(1)}
            {selected.length > 0 ? ` (${selected.length})` : ""}
          </button>
        ))}
        <button type="button" data-action="flush" disabled={busy} onClick={flush}>
          Flush deferred
        </button>
        <button type="button" disabled={busy} onClick={() => setReload((n) => n + 1)}>
          Refresh
        </button>
      </div>
      <p class="status" role="status">
        {status}
      </p>
      <ErrorNote error={error} />

      {page === null ? (
        <Loading what="the queue" />
      ) : messages.length === 0 ? (
        <p class="muted">No messages{query.toString() ? " match these filters" : ""}.</p>
      ) : (
        <Scroll label="Messages">
          <table class="messages">
            <thead>
              <tr>
                <th scope="col">
                  <input
                    type="checkbox"
                    aria-label="Select all on this page"
                    checked={allSelected}
                    onChange={() => setSelected(allSelected ? [] : messages.map((m) => m.id))}
                  />
                </th>
                <th scope="col">ID</th>
                <th scope="col">State</th>
                <th scope="col">Sender</th>
                <th scope="col">Recipients</th>
                <th scope="col">Size</th>
                <th scope="col">Arrived</th>
                <th scope="col">Attempts</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {messages.map((m) => (
                <tr data-id={m.id} class={selected.includes(m.id) ? "selected" : ""}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${m.id}`}
                      checked={selected.includes(m.id)}
                      onChange={() => toggle(m.id)}
                    />
                  </td>
                  <td>
                    <a class="mono" href={`#/message/${m.id}`}>
                      {m.id}
                    </a>
                  </td>
                  <td>
                    <StateBadge state={m.state} />
                  </td>
                  <td class="addr">{sender(m.sender)}</td>
                  <td class="addr">
                    {m.recipients[0]?.address ?? ""}
                    {m.recipients.length > 1 ? ` +${m.recipients.length - 1}` : ""}
                  </td>
                  <td class="num">{bytes(m.size)}</td>
                  <td>
                    <time dateTime={m.arrival_time} title={dateTime(m.arrival_time)}>
                      {relative(m.arrival_time)}
                    </time>
                  </td>
                  <td class="num">{m.attempts}</td>
                  <td class="reason">{m.reason ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors([null])}>
          First
        </button>
        <button
          type="button"
          disabled={cursors.length <= 1}
          onClick={() => setCursors((c) => c.slice(0, -1))}
        >
          Previous
        </button>
        <span class="muted">Page {cursors.length}</span>
        <button
          type="button"
          disabled={!page?.next_cursor}
          onClick={() => page?.next_cursor && setCursors((c) => [...c, page.next_cursor])}
        >
          Next
        </button>
      </nav>
    </main>
  );
}
