/** @jsxImportSource hono/jsx/dom */
/**
 * One message: envelope, per-recipient status, the event history as a timeline, header fields,
 * the raw source as a download, and hold / release / requeue / delete.
 */
import { useEffect, useState } from "hono/jsx/dom";
import { ApiFailure, getJson, type MessageDetail, postJson, request } from "../api.ts";
import { ErrorNote, Loading, Scroll, StateBadge } from "../components.tsx";
import { bytes, dateTime, relative, sender } from "../format.ts";

const MOVES = ["hold", "release", "requeue"] as const;

/** Event details as key=value; times recorded as milliseconds since 1970 shown as dates. */
function detailText(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => {
      if (typeof v === "number" && v > 1e12 && /(attempt|time|_at)$/.test(k)) {
        return `${k}=${new Date(v).toLocaleString()}`;
      }
      return `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`;
    })
    .join(", ");
}

export function MessagePage({ id }: { id: string }) {
  const [m, setM] = useState<MessageDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [gone, setGone] = useState(false);
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let alive = true;
    getJson<MessageDetail>(`/api/v1/messages/${encodeURIComponent(id)}`)
      .then((d) => {
        if (alive) {
          setM(d);
          setError(null);
        }
      })
      .catch((err: Error) => {
        if (!alive) return;
        if (err instanceof ApiFailure && err.status === 404) setGone(true);
        else setError(err.message);
      });
    return () => {
      alive = false;
    };
  }, [id, reload]);

  const act = async (action: (typeof MOVES)[number] | "delete") => {
    if (action === "delete" && !confirm(`Delete ${id}? This cannot be undone.`)) return;
    setBusy(true);
    setError(null);
    try {
      if (action === "delete") {
        await postJson(`/api/v1/messages/${id}`, undefined, "DELETE");
        setStatus(`${id} deleted.`);
        setGone(true);
      } else {
        await postJson(`/api/v1/messages/${id}/${action}`);
        setStatus(`${id}: ${action} done.`);
        setReload((n) => n + 1);
      }
    } catch (err) {
      setError(`${action}: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  const download = async () => {
    try {
      const blob = await (await request(`/api/v1/messages/${id}/raw`)).blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `${id}.eml`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setError(`download: ${(err as Error).message}`);
    }
  };

  const header = (
    <p>
      <a href="#/queue">← Queue</a>
    </p>
  );
  if (gone) {
    return (
      <main>
        {header}
        <h1 class="mono">{id}</h1>
        <p class="status" role="status">
          {status}
        </p>
        <p>This message is no longer in the queue (delivered, bounced or deleted).</p>
      </main>
    );
  }
  if (m === null) {
    return (
      <main>
        {header}
        <h1 class="mono">{id}</h1>
        <ErrorNote error={error} />
        {error === null && <Loading what="the message" />}
      </main>
    );
  }
  return (
    <main>
      {header}
      <div class="title-row">
        <h1 class="mono">{m.id}</h1>
        <StateBadge state={m.state} />
      </div>
      <div class="toolbar" role="toolbar" aria-label="Actions on this message">
        {MOVES.map((a) => (
          <button type="button" data-action={a} disabled={busy} onClick={() => act(a)}>
            {a[0].toUpperCase() + a.slice(1)}
          </button>
        ))}
        <button
          type="button"
          class="danger"
          data-action="delete"
          disabled={busy}
          onClick={() => act("delete")}
        >
          Delete
        </button>
        <button type="button" onClick={download}>
          Download source
        </button>
      </div>
      <p class="status" role="status">
        {status}
      </p>
      <ErrorNote error={error} />

      <section aria-labelledby="envelope-heading">
        <h2 id="envelope-heading">Envelope</h2>
        <dl class="fields">
          <dt>Sender</dt>
          <dd class="addr">{sender(m.sender)}</dd>
          <dt>Size</dt>
          <dd>{bytes(m.size)}</dd>
          <dt>Arrived</dt>
          <dd>
            {dateTime(m.arrival_time)} ({relative(m.arrival_time)})
          </dd>
          <dt>Next attempt</dt>
          <dd>
            {m.next_attempt ? `${dateTime(m.next_attempt)} (${relative(m.next_attempt)})` : "—"}
          </dd>
          <dt>Attempts</dt>
          <dd>{m.attempts}</dd>
          {m.reason && (
            <>
              <dt>Reason</dt>
              <dd>{m.reason}</dd>
            </>
          )}
          <dt>Message-ID</dt>
          <dd class="addr">{m.message_id ?? "—"}</dd>
          <dt>Origin</dt>
          <dd>
            {m.origin}
            {m.client ? ` from ${m.client.name}[${m.client.addr}] (${m.client.protocol})` : ""}
          </dd>
        </dl>
      </section>

      <section aria-labelledby="recipients-heading">
        <h2 id="recipients-heading">Recipients</h2>
        <Scroll label="Recipients">
          <table>
            <thead>
              <tr>
                <th scope="col">Address</th>
                <th scope="col">Status</th>
                <th scope="col">DSN</th>
                <th scope="col">Relay</th>
                <th scope="col">Diagnostic</th>
              </tr>
            </thead>
            <tbody>
              {m.recipients.map((r) => (
                <tr>
                  <td class="addr">{r.address}</td>
                  <td>
                    <span class={`badge rcpt-${r.status}`}>{r.status}</span>
                  </td>
                  <td class="mono">{r.dsn ?? ""}</td>
                  <td class="addr">{r.relay ?? ""}</td>
                  <td class="reason">{r.diagnostic ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      </section>

      <section aria-labelledby="timeline-heading">
        <h2 id="timeline-heading">Timeline</h2>
        {m.history.length === 0 ? (
          <p class="muted">No events recorded.</p>
        ) : (
          <ol class="timeline">
            {m.history.map((ev) => (
              <li data-event={ev.event}>
                <time dateTime={ev.time}>{dateTime(ev.time)}</time>
                <span class={`badge event-${ev.event}`}>{ev.event}</span>
                <span class="detail">{detailText(ev.detail)}</span>
              </li>
            ))}
          </ol>
        )}
      </section>

      <section aria-labelledby="headers-heading">
        <h2 id="headers-heading">Header</h2>
        <Scroll label="Header fields">
          <table class="headers">
            <tbody>
              {m.headers.map((h) => (
                <tr>
                  <th scope="row">{h.name}</th>
                  <td>{h.value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      </section>
    </main>
  );
}
