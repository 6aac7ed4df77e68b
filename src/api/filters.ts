/**
 * Turn the API's filter fields (query parameters or a JSON body, already validated by the
 * zod schemas) into the queue's ListFilter.
 *
 * older_than is either a duration, meaning "arrived more than this long ago" (a bare number is
 * seconds; s, m, h, d and w units as in main.cf time values), or an ISO 8601 date, meaning
 * "arrived before then".
 */
import type { ListFilter, QueueState } from "../queue/types.ts";
import { badRequest } from "./errors.ts";

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** The arrival time (ms since epoch) older_than stands for. */
export function olderThanTime(value: string | number, now = Date.now()): number {
  if (typeof value === "number") return now - value * 1000;
  const m = /^(\d+)([smhdw]?)$/.exec(value);
  if (m) return now - Number(m[1]) * (UNIT_SECONDS[m[2] || "s"] ?? 1) * 1000;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw badRequest(`older_than: not a duration or a date: ${value}`);
  return t;
}

export interface FilterFields {
  state?: string | string[];
  sender?: string;
  recipient?: string;
  domain?: string;
  older_than?: string | number;
  ids?: string | string[];
}

export function toListFilter(f: FilterFields): ListFilter {
  const out: ListFilter = {};
  if (f.state !== undefined) {
    const states = Array.isArray(f.state) ? f.state : f.state.split(",");
    out.state = states.length === 1 ? (states[0] as QueueState) : (states as QueueState[]);
  }
  if (f.sender !== undefined && f.sender !== "") out.sender = f.sender;
  if (f.recipient !== undefined && f.recipient !== "") out.recipient = f.recipient;
  if (f.domain !== undefined && f.domain !== "") out.domain = f.domain;
  if (f.older_than !== undefined && f.older_than !== "")
    out.olderThan = olderThanTime(f.older_than);
  if (f.ids !== undefined) {
    const ids = (Array.isArray(f.ids) ? f.ids : f.ids.split(","))
      .map((s) => s.trim())
      .filter(Boolean);
    for (const id of ids) {
      if (!/^[0-9A-Fa-f]{6,20}$/.test(id)) throw badRequest(`ids: not a queue ID: ${id}`);
    }
    out.ids = ids;
  }
  return out;
}

export function isEmptyFilter(f: ListFilter): boolean {
  return Object.keys(f).length === 0;
}
