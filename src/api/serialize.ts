/**
 * Queue records as the API shows them: snake_case fields, ISO 8601 times, and header fields
 * unfolded from the stored header section.
 */
import type { MessageRecord, QueueEvent } from "../queue/types.ts";

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function messageSummary(m: MessageRecord) {
  return {
    id: m.id,
    state: m.state,
    sender: m.sender,
    size: m.size,
    arrival_time: new Date(m.arrivalTime).toISOString(),
    next_attempt: iso(m.nextAttempt),
    attempts: m.attempts,
    reason: m.reason,
    recipients: m.recipients.map((r) => ({
      address: r.address,
      status: r.status,
      dsn: r.dsn,
      diagnostic: r.diagnostic,
    })),
  };
}

export function messageDetail(
  m: MessageRecord,
  headers: { name: string; value: string }[],
  history: QueueEvent[],
) {
  return {
    ...messageSummary(m),
    message_id: m.messageId,
    origin: m.origin,
    client: m.client
      ? {
          name: m.client.name,
          addr: m.client.addr,
          ...(m.client.helo !== undefined ? { helo: m.client.helo } : {}),
          protocol: m.client.protocol,
          ...(m.client.saslUser !== undefined ? { sasl_user: m.client.saslUser } : {}),
        }
      : null,
    envid: m.envid,
    ret: m.ret,
    body_type: m.bodyType,
    smtputf8: m.smtputf8,
    warned_at: iso(m.warnedAt),
    recipients: m.recipients.map((r) => ({
      address: r.address,
      status: r.status,
      dsn: r.dsn,
      diagnostic: r.diagnostic,
      original: r.original,
      orcpt: r.orcpt,
      notify: r.notify,
      relay: r.relay,
      updated_at: iso(r.updatedAt),
    })),
    headers,
    history: history.map(apiEvent),
  };
}

/** camelCase -> snake_case, for the keys of recorded event details. */
function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A queue event as /events, webhooks and the message history show it. */
export function apiEvent(ev: QueueEvent) {
  const detail: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ev.detail)) detail[snake(k)] = v;
  return {
    seq: ev.seq,
    event: ev.kind,
    queue_id: ev.id,
    time: new Date(ev.time).toISOString(),
    detail,
  };
}

/**
 * Header fields of a header section (as QueueStore.headerBytes returns it), unfolded. Decoded
 * as UTF-8 (RFC 6532 headers); bytes that are not UTF-8 show as U+FFFD.
 */
export function parseHeaderSection(bytes: Uint8Array): { name: string; value: string }[] {
  const text = new TextDecoder().decode(bytes);
  const out: { name: string; value: string }[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === "") continue;
    const c = line.charCodeAt(0);
    if ((c === 32 || c === 9) && out.length > 0) {
      out[out.length - 1].value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    out.push({ name: line.slice(0, colon).trimEnd(), value: line.slice(colon + 1).trim() });
  }
  return out;
}
