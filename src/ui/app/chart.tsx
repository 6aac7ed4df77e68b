/** @jsxImportSource hono/jsx/dom */
/**
 * Per-minute series of the last hour as lines in one SVG (no chart library: a few dozen lines
 * of SVG weigh less than any of them). Colours come from the stylesheet (.line-NAME), so the
 * chart follows the light or dark theme.
 */

export interface Series {
  name: string;
  values: number[];
}

const W = 800;
const H = 240;
const PAD = { left: 40, right: 10, top: 10, bottom: 24 };

/** 1, 2, 5, 10, 20, 50, ... at or above n. */
function niceMax(n: number): number {
  if (n <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

export function LineChart({ series, title }: { series: Series[]; title: string }) {
  const count = Math.max(1, ...series.map((s) => s.values.length));
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const x = (i: number) => PAD.left + (i * (W - PAD.left - PAD.right)) / Math.max(1, count - 1);
  const y = (v: number) => PAD.top + (1 - v / max) * (H - PAD.top - PAD.bottom);
  const totals = series.map((s) => `${s.name} ${s.values.reduce((a, b) => a + b, 0)}`);
  const ticks = [0, max / 2, max];
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${title}: ${totals.join(", ")} in the last hour`}
      >
        {ticks.map((t) => (
          <g>
            <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} />
            <text class="axis" x={PAD.left - 6} y={y(t) + 4} text-anchor="end">
              {Number.isInteger(t) ? t : t.toFixed(1)}
            </text>
          </g>
        ))}
        <text class="axis" x={PAD.left} y={H - 6}>
          −60 min
        </text>
        <text class="axis" x={(PAD.left + W - PAD.right) / 2} y={H - 6} text-anchor="middle">
          −30 min
        </text>
        <text class="axis" x={W - PAD.right} y={H - 6} text-anchor="end">
          now
        </text>
        {series.map((s) => (
          <polyline
            class={`line line-${s.name}`}
            fill="none"
            points={s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}
          />
        ))}
      </svg>
      <figcaption>
        <ul class="legend">
          {series.map((s) => (
            <li>
              <span class={`swatch line-${s.name}`} aria-hidden="true" />
              {s.name} <strong>{s.values.reduce((a, b) => a + b, 0)}</strong>
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
