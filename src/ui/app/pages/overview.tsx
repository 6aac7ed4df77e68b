/** @jsxImportSource hono/jsx/dom */
/**
 * Overview: messages per queue state, the last hour per minute (accepted, delivered, deferred,
 * bounced), counters since start, and the latest delivery events. Follows the event stream and
 * reloads the figures when something happens (at most every REFRESH_MS).
 */
import { useEffect, useRef, useState } from "hono/jsx/dom";
import { followEvents, getJson, type QueueEvent, type Stats, type StreamState } from "../api.ts";
import { LineChart } from "../chart.tsx";
import { ErrorNote, Loading, StateBadge } from "../components.tsx";
import { bytes, duration, timeOnly } from "../format.ts";

const REFRESH_MS = 500;
const PERIODIC_MS = 30_000;
const RECENT = 15;
const CHART = ["accepted", "delivered", "deferred", "bounced"];
const COUNTERS = ["accepted", "delivered", "deferred", "bounced", "rejected", "connections"];

const STREAM_TEXT: Record<StreamState, string> = {
  connecting: "connecting…",
  live: "live",
  retrying: "reconnecting…",
};

function eventText(ev: QueueEvent): string {
  const d = ev.detail as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of ["to", "from", "relay", "status", "reason"]) {
    if (typeof d[k] === "string" && d[k] !== "") parts.push(`${k}=${d[k]}`);
  }
  return parts.join(", ");
}

export function Overview() {
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [recent, setRecent] = useState<QueueEvent[]>([]);
  const [stream, setStream] = useState<StreamState>("connecting");
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    let alive = true;
    const load = async () => {
      try {
        const s = await getJson<Stats>("/api/v1/stats");
        if (alive) {
          setStats(s);
          setError(null);
        }
      } catch (err) {
        if (alive) setError((err as Error).message);
      }
    };
    const soon = () => {
      if (pending.current !== null) return;
      pending.current = setTimeout(() => {
        pending.current = null;
        void load();
      }, REFRESH_MS);
    };
    void load();
    const periodic = setInterval(load, PERIODIC_MS);
    const stop = new AbortController();
    void followEvents(
      stop.signal,
      (ev) => {
        setRecent((list) => [ev, ...list].slice(0, RECENT));
        soon();
      },
      (s) => {
        setStream(s);
        // Whatever happened while disconnected is in the figures, not in the stream.
        if (s === "live") soon();
      },
    );
    return () => {
      alive = false;
      stop.abort();
      clearInterval(periodic);
      if (pending.current !== null) clearTimeout(pending.current);
      pending.current = null;
    };
  }, []);

  return (
    <main>
      <div class="title-row">
        <h1>Overview</h1>
        <span class={`stream stream-${stream}`} role="status">
          {STREAM_TEXT[stream]}
        </span>
      </div>
      <ErrorNote error={error} />
      {stats === null ? (
        <Loading what="statistics" />
      ) : (
        <>
          <section aria-labelledby="queue-heading">
            <h2 id="queue-heading">Queue</h2>
            <ul class="cards">
              {Object.entries(stats.queue.states).map(([state, c]) => (
                <li class="card" data-state={state}>
                  <a class="card-link" href={`#/queue?state=${state}`}>
                    <span class="count">{c.count}</span>
                    <StateBadge state={state} />
                    <span class="muted">{bytes(c.bytes)}</span>
                  </a>
                </li>
              ))}
              <li class="card" data-state="total">
                <a class="card-link" href="#/queue">
                  <span class="count">{stats.queue.total.count}</span>
                  <span class="badge">total</span>
                  <span class="muted">{bytes(stats.queue.total.bytes)}</span>
                </a>
              </li>
            </ul>
          </section>
          <section aria-labelledby="chart-heading">
            <h2 id="chart-heading">Last hour, per minute</h2>
            <LineChart
              title="Messages per minute"
              series={CHART.map((name) => ({ name, values: stats.series.values[name] ?? [] }))}
            />
          </section>
          <section aria-labelledby="counters-heading">
            <h2 id="counters-heading">Since start ({duration(stats.uptime_seconds)} ago)</h2>
            <dl class="counters">
              {COUNTERS.map((name) => (
                <div>
                  <dt>{name}</dt>
                  <dd data-counter={name}>{stats.counters[name] ?? 0}</dd>
                </div>
              ))}
            </dl>
          </section>
        </>
      )}
      <section aria-labelledby="events-heading">
        <h2 id="events-heading">Latest events</h2>
        {recent.length === 0 ? (
          <p class="muted">Nothing has happened since this page opened.</p>
        ) : (
          <ol class="events" aria-live="polite">
            {recent.map((ev) => (
              <li>
                <time dateTime={ev.time}>{timeOnly(ev.time)}</time>{" "}
                <span class={`badge event-${ev.event}`}>{ev.event}</span>{" "}
                <a href={`#/message/${ev.queue_id}`}>{ev.queue_id}</a>{" "}
                <span class="muted">{eventText(ev)}</span>
              </li>
            ))}
          </ol>
        )}
      </section>
    </main>
  );
}
