/**
 * ListFilter -> SQL condition on `messages m`, and the keyset cursor of list().
 * Substring and domain matches are ASCII case-insensitive (SQLite's lower() is ASCII-only, so
 * the pattern is folded the same way rather than with toLowerCase()).
 */

import { QueueError } from "./errors.ts";
import { isQueueId } from "./queue-id.ts";
import { type ListFilter, QUEUE_STATES, type QueueState } from "./types.ts";

export interface SqlCondition {
  /** "1" when the filter is empty. */
  sql: string;
  params: (string | number)[];
}

export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

export function filterCondition(filter: ListFilter): SqlCondition {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  if (filter.state !== undefined) {
    const states = Array.isArray(filter.state) ? filter.state : [filter.state];
    for (const s of states) {
      if (!QUEUE_STATES.includes(s as QueueState)) {
        throw new QueueError("INVALID", `unknown queue state ${JSON.stringify(s)}`);
      }
    }
    if (states.length === 0) parts.push("0");
    else if (states.length === 1) {
      parts.push("m.state = ?");
      params.push(states[0]);
    } else {
      // The unary + keeps SQLite off the (state, arrival) index here: over several states
      // that index would need a sort of every match for each page; walking the arrival index
      // and skipping other states stops after one page.
      parts.push(`+m.state IN (${states.map(() => "?").join(",")})`);
      params.push(...states);
    }
  }
  if (filter.sender !== undefined) {
    parts.push("instr(lower(m.sender), ?) > 0");
    params.push(asciiLower(filter.sender));
  }
  if (filter.recipient !== undefined) {
    const needle = asciiLower(filter.recipient);
    parts.push(
      "EXISTS (SELECT 1 FROM recipients r WHERE r.id = m.id AND (instr(lower(r.address), ?) > 0" +
        " OR instr(lower(coalesce(r.original, '')), ?) > 0))",
    );
    params.push(needle, needle);
  }
  if (filter.domain !== undefined) {
    parts.push("EXISTS (SELECT 1 FROM recipients r WHERE r.id = m.id AND r.domain = ?)");
    params.push(asciiLower(filter.domain));
  }
  if (filter.olderThan !== undefined) {
    parts.push("m.arrival < ?");
    params.push(filter.olderThan);
  }
  if (filter.ids !== undefined) {
    // One JSON parameter whatever the number of IDs (no host-parameter limit to hit).
    parts.push("m.id IN (SELECT value FROM json_each(?))");
    params.push(JSON.stringify(filter.ids.map((id) => id.toUpperCase())));
  }
  return { sql: parts.length === 0 ? "1" : parts.join(" AND "), params };
}

export interface Cursor {
  arrival: number;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return `${c.arrival.toString(36)}.${c.id}`;
}

export function decodeCursor(s: string): Cursor {
  const dot = s.indexOf(".");
  const arrival = dot > 0 ? Number.parseInt(s.slice(0, dot), 36) : Number.NaN;
  const id = s.slice(dot + 1);
  if (!Number.isSafeInteger(arrival) || !isQueueId(id)) {
    throw new QueueError("INVALID", "invalid list cursor");
  }
  return { arrival, id };
}

/** Lowercased domain of an address ("" when it has none), as stored for flush/filters. */
export function addressDomain(address: string): string {
  const at = address.lastIndexOf("@");
  return at < 0 ? "" : asciiLower(address.slice(at + 1));
}
