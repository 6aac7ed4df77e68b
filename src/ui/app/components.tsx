/** @jsxImportSource hono/jsx/dom */
/** Small pieces every page uses. */
import type { Child } from "hono/jsx";

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}

const STATUS_TEXT: Record<string, string> = {
  ok: "OK",
  missing: "MISSING",
  wrong: "WRONG",
  error: "ERROR",
};

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{STATUS_TEXT[status] ?? status}</span>;
}

export function ErrorNote({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p class="note error" role="alert">
      {error}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" aria-busy="true">
      Loading {what}…
    </p>
  );
}

/** A table that scrolls sideways on a narrow screen instead of widening the page. */
export function Scroll({ label, children }: { label: string; children: Child }) {
  return (
    <section class="scroll" aria-label={label} tabindex={0}>
      {children}
    </section>
  );
}
