/**
 * Message injection: POST /api/v1/messages, in two forms, both through cleanup (so the message
 * is rewritten, signed, logged and queued like one received over SMTP):
 *   - message/rfc822 with the envelope in ?from=&to=: the body is streamed into cleanup chunk by
 *     chunk (bare LF line ends become CRLF), never held whole in memory;
 *   - application/json {from, to, cc, bcc, subject, text, html, headers, attachments}: composed
 *     into MIME by nodemailer's MailComposer (RFC 5322, RFC 2045-2049); the envelope is From and
 *     To + Cc + Bcc, and Bcc is not in the headers.
 * An Idempotency-Key makes a retry return the first message's id instead of queueing twice:
 * keys are kept in the queue database (QueueStore.idempotencyGet/Put), and a retry that arrives
 * while the first request is still running waits for its result.
 */
import type { CleanupInput, CleanupOutcome, CleanupSession } from "../cleanup/types.ts";
import { logger } from "../log/index.ts";
import type { QueueStore } from "../queue/index.ts";
import type { ClientInfo } from "../queue/types.ts";
import { AddressError, parseMailbox } from "../rewrite/address.ts";
import { ApiError, badRequest, tooLarge, unavailable } from "./errors.ts";
import { notifyEvents } from "./events.ts";
import type { ApiContext } from "./types.ts";

const log = logger("api");
const CR = 13;
const LF = 10;
const CRLF = new Uint8Array([CR, LF]);

export interface InjectResult {
  id: string;
  status: "queued" | "held" | "discarded";
}

/**
 * Bare LF -> CRLF, streaming: returns the pieces to write for one input chunk (slices of the
 * input plus CRLF constants; no copying of the bytes between line ends).
 */
export class CrlfNormalizer {
  private lastWasCr = false;
  private lastByte = -1;

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let start = 0;
    let i = chunk.indexOf(LF);
    while (i !== -1) {
      const prevCr = i > 0 ? chunk[i - 1] === CR : this.lastWasCr;
      if (!prevCr) {
        if (i > start) out.push(chunk.subarray(start, i));
        out.push(CRLF);
        start = i + 1;
      }
      i = chunk.indexOf(LF, i + 1);
    }
    if (start < chunk.length) out.push(start === 0 ? chunk : chunk.subarray(start));
    if (chunk.length > 0) {
      this.lastWasCr = chunk[chunk.length - 1] === CR;
      this.lastByte = chunk[chunk.length - 1];
    }
    return out;
  }

  /** What ends the message: CRLF unless it already ends with a line end. */
  end(): Uint8Array[] {
    if (this.lastByte === LF || this.lastByte === -1) return [];
    // A trailing bare CR becomes a line end too.
    if (this.lastWasCr) return [new Uint8Array([LF])];
    return [CRLF];
  }
}

/** An envelope address from a query parameter or a header: internal form, or 400. */
export function envelopeAddress(text: string, field: string, allowNull: boolean): string {
  const s = text.trim().replace(/^<(.*)>$/, "$1");
  if (s === "") {
    if (allowNull) return "";
    throw badRequest(`${field}: empty address`);
  }
  try {
    return parseMailbox(s, true);
  } catch (err) {
    if (err instanceof AddressError) throw badRequest(`${field}: bad address syntax: ${text}`);
    throw err;
  }
}

function clientInfo(addr: string | null): ClientInfo {
  if (!addr) return { name: "localhost", addr: "127.0.0.1", protocol: "HTTP" };
  const loopback = addr === "::1" || addr.startsWith("127.") || addr === "::ffff:127.0.0.1";
  return { name: loopback ? "localhost" : "unknown", addr, protocol: "HTTP" };
}

function openSession(ctx: ApiContext, sender: string, remote: string | null): CleanupSession {
  const input: CleanupInput = {
    sender,
    origin: "api",
    client: clientInfo(remote),
    // A token holder is an authenticated submitter: missing Date and Message-ID are added and
    // the message is signed, as for SASL-authenticated SMTP clients.
    trusted: true,
  };
  return ctx.newCleanup(input);
}

async function finish(
  session: CleanupSession,
  remote: string | null,
  limit: number,
): Promise<InjectResult> {
  let out: CleanupOutcome;
  try {
    out = await session.end();
  } catch (err) {
    session.abort();
    throw err;
  }
  const c = clientInfo(remote);
  switch (out.kind) {
    case "queued":
      log.info(`${out.queueId}: client=${c.name}[${c.addr}], api`);
      notifyEvents();
      return { id: out.queueId, status: out.held ? "held" : "queued" };
    case "discarded":
      return { id: out.queueId, status: "discarded" };
    case "rejected":
      if (out.code === 552) {
        throw new ApiError(413, "too_large", `message exceeds message_size_limit (${limit} bytes)`);
      }
      if (out.code >= 500) {
        throw new ApiError(422, "rejected", `${out.code} ${out.enhanced} ${out.text}`);
      }
      throw unavailable(`${out.code} ${out.enhanced} ${out.text}`, 60);
    case "failed":
      throw unavailable(`${out.code} ${out.enhanced} ${out.text}`, 60);
  }
}

/** message/rfc822: stream `body` into cleanup; at most `bodyLimit` bytes. */
export async function injectRaw(
  ctx: ApiContext,
  opts: {
    from: string;
    to: string[];
    body: ReadableStream<Uint8Array> | null;
    remote: string | null;
    bodyLimit: number;
  },
): Promise<InjectResult> {
  const sender = envelopeAddress(opts.from, "query parameter from", true);
  const rcpts = opts.to.map((t) => envelopeAddress(t, "query parameter to", false));
  if (rcpts.length === 0)
    throw badRequest("query parameter to: at least one recipient is required");
  if (!opts.body) throw badRequest("request body: empty message");
  const session = openSession(ctx, sender, opts.remote);
  const norm = new CrlfNormalizer();
  let size = 0;
  const reader = opts.body.getReader();
  try {
    for (const r of rcpts) session.addRecipient({ address: r });
    // Bounded by the body limit: every turn consumes input or ends.
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > opts.bodyLimit) throw tooLarge(opts.bodyLimit);
      for (const piece of norm.push(value)) session.write(piece);
    }
    for (const piece of norm.end()) session.write(piece);
  } catch (err) {
    session.abort();
    await reader.cancel().catch(() => {});
    throw err;
  }
  if (size === 0) {
    session.abort();
    throw badRequest("request body: empty message");
  }
  return finish(session, opts.remote, ctx.config().size("message_size_limit"));
}

export interface ComposeInput {
  from: string;
  to?: string | string[];
  cc?: string | string[];
  bcc?: string | string[];
  reply_to?: string | string[];
  subject?: string;
  text?: string;
  html?: string;
  headers?: Record<string, string>;
  attachments?: { filename: string; content_type?: string; content_base64: string }[];
}

/** application/json: compose MIME with MailComposer and stream it into cleanup. */
export async function injectComposed(
  ctx: ApiContext,
  msg: ComposeInput,
  remote: string | null,
): Promise<InjectResult> {
  const hostname = ctx.config().str("myhostname");
  // Loaded on first use: most daemons never compose, and it is a slow import.
  const { default: MailComposer } = await import("nodemailer/lib/mail-composer");
  const composer = new MailComposer({
    from: msg.from,
    to: msg.to,
    cc: msg.cc,
    bcc: msg.bcc,
    replyTo: msg.reply_to,
    subject: msg.subject,
    text: msg.text,
    html: msg.html,
    headers: msg.headers,
    attachments: msg.attachments?.map((a) => ({
      filename: a.filename,
      contentType: a.content_type,
      content: a.content_base64.replace(/[\r\n]/g, ""),
      encoding: "base64",
    })),
    newline: "\r\n",
    // Content comes from the request only: never let a field name a file or a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const node = composer.compile();
  const envelope = node.getEnvelope() as { from: string | false; to: string[] };
  if (!envelope.from) throw badRequest("body field from: no address");
  const sender = envelopeAddress(envelope.from, "body field from", false);
  const rcpts = envelope.to.map((t) => envelopeAddress(t, "body field to", false));
  if (rcpts.length === 0) throw badRequest("body field to: no recipient address");
  const session = openSession(ctx, sender, remote);
  // Our Message-ID rather than nodemailer's (which would name the From domain), in cleanup's
  // form: <YYYYMMDDhhmmss.QUEUEID@myhostname>.
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  node.setHeader("Message-ID", `<${stamp}.${session.queueId}@${hostname}>`);
  try {
    for (const r of rcpts) session.addRecipient({ address: r });
    for await (const chunk of node.createReadStream()) session.write(chunk as Uint8Array);
  } catch (err) {
    session.abort();
    throw err instanceof ApiError
      ? err
      : badRequest(`request body: cannot compose: ${(err as Error).message}`);
  }
  return finish(session, remote, ctx.config().size("message_size_limit"));
}

/**
 * Run an injection at most once per Idempotency-Key. Returns the result and whether it is a
 * replay of an earlier request.
 */
export class Idempotency {
  private readonly inflight = new Map<string, Promise<InjectResult>>();

  constructor(private readonly queue: () => QueueStore) {}

  async run(
    key: string | undefined,
    inject: () => Promise<InjectResult>,
  ): Promise<InjectResult & { replayed: boolean }> {
    if (key === undefined) return { ...(await inject()), replayed: false };
    const storeKey = `api:${key}`;
    // Bounded: each turn waits for a request that then leaves the map, or returns.
    for (let turn = 0; turn < 8; turn++) {
      const known = this.queue().idempotencyGet(storeKey);
      if (known !== null) return { id: known, status: this.statusOf(known), replayed: true };
      const first = this.inflight.get(storeKey);
      if (!first) break;
      try {
        return { ...(await first), replayed: true };
      } catch {
        // The first attempt failed and stored nothing: this request tries on its own.
      }
    }
    const p = inject().then((r) => {
      try {
        this.queue().idempotencyPut(storeKey, r.id);
      } catch (err) {
        // The message is queued: say so. A later retry may queue a duplicate (never a loss).
        log.warn(`${r.id}: storing Idempotency-Key: ${(err as Error).message}`);
      }
      return r;
    });
    this.inflight.set(storeKey, p);
    try {
      return { ...(await p), replayed: false };
    } finally {
      this.inflight.delete(storeKey);
    }
  }

  private statusOf(id: string): InjectResult["status"] {
    return this.queue().get(id)?.state === "hold" ? "held" : "queued";
  }
}
