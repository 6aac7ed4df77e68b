/**
 * Shared set-up for the delivery agent tests: a main.cf in a temp directory, delivery requests
 * built like the queue builds them, message bodies served in chunks, and a recording cleanup
 * (a fake at cleanup's contract, where local alias expansion hands a new message over).
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CleanupInput, CleanupOutcome, CleanupSession } from "../../src/cleanup/types.ts";
import { loadConfig } from "../../src/config/index.ts";
import type { Config } from "../../src/config/types.ts";
import type { DeliveryRequest } from "../../src/delivery/types.ts";
import type { MessageRecord, NewRecipient, RecipientRecord } from "../../src/queue/types.ts";

const dirs: string[] = [];

export function tempDir(prefix = "posteix-delivery-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A Config from main.cf text made of these parameters (plus myhostname = client.test). */
export function makeConfig(params: Record<string, string> = {}, dir = tempDir()): Config {
  const all = { myhostname: "client.test", ...params };
  const text = Object.entries(all)
    .map(([k, v]) => `${k} = ${v}`)
    .join("\n");
  writeFileSync(join(dir, "main.cf"), `${text}\n`);
  return loadConfig({ configDir: dir });
}

export function recipient(
  index: number,
  address: string,
  extra: Partial<RecipientRecord> = {},
): RecipientRecord {
  return {
    index,
    address,
    original: null,
    orcpt: null,
    notify: [],
    status: "pending",
    dsn: null,
    diagnostic: null,
    relay: null,
    updatedAt: null,
    ...extra,
  };
}

const encoder = new TextEncoder();

/** The body served in chunks of chunkSize bytes (every call gives a fresh iterable). */
export function chunked(content: string | Uint8Array, chunkSize = 7): () => Iterable<Uint8Array> {
  const bytes = typeof content === "string" ? encoder.encode(content) : content;
  return function* () {
    for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
  };
}

export interface RequestInit {
  sender?: string;
  recipients: Array<string | RecipientRecord>;
  body?: string | Uint8Array;
  chunkSize?: number;
  nexthop: string;
  transport?: string;
  cfg: Config;
  message?: Partial<MessageRecord>;
  signal?: AbortSignal;
}

export function makeRequest(init: RequestInit): DeliveryRequest {
  const body = init.body ?? "Subject: test\r\n\r\nhello\r\n";
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const recipients = init.recipients.map((r, i) => (typeof r === "string" ? recipient(i, r) : r));
  const message: MessageRecord = {
    id: "A1B2C3D4E5",
    state: "active",
    sender: init.sender ?? "sender@client.test",
    size: bytes.length,
    arrivalTime: Date.now(),
    nextAttempt: null,
    attempts: 0,
    reason: null,
    envid: null,
    ret: null,
    bodyType: null,
    smtputf8: false,
    client: null,
    messageId: null,
    origin: "smtpd",
    warnedAt: null,
    recipients,
    ...init.message,
  };
  return {
    queueId: message.id,
    message,
    recipients,
    transport: init.transport ?? "smtp",
    nexthop: init.nexthop,
    cfg: init.cfg,
    service: null,
    body: chunked(bytes, init.chunkSize ?? 7),
    signal: init.signal,
  };
}

export interface RecordedMessage {
  input: CleanupInput;
  recipients: NewRecipient[];
  content: string;
  queueId: string;
}

/** A newCleanup that records what it is given and reports "queued". */
export function recordingCleanup(): {
  newCleanup(input: CleanupInput): CleanupSession;
  messages: RecordedMessage[];
} {
  const messages: RecordedMessage[] = [];
  let n = 0;
  return {
    messages,
    newCleanup(input: CleanupInput): CleanupSession {
      const queueId = `F0RWARD${++n}`;
      const recipients: NewRecipient[] = [];
      const parts: Uint8Array[] = [];
      let size = 0;
      return {
        queueId,
        addRecipient: (r) => recipients.push(r),
        write(bytes) {
          parts.push(bytes.slice());
          size += bytes.length;
        },
        get size() {
          return size;
        },
        async end(): Promise<CleanupOutcome> {
          messages.push({
            input,
            recipients,
            content: Buffer.concat(parts).toString("utf8"),
            queueId,
          });
          return { kind: "queued", queueId, held: false };
        },
        abort() {},
      };
    },
  };
}

/** A self-signed certificate for these DNS names (and 127.0.0.1), made with the openssl CLI. */
export function selfSignedCert(names: string[]): { key: string; cert: string; certFile: string } {
  const dir = tempDir("posteix-cert-");
  const keyFile = join(dir, "key.pem");
  const certFile = join(dir, "cert.pem");
  const san = [...names.map((n) => `DNS:${n}`), "IP:127.0.0.1"].join(",");
  const r = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "2",
      "-subj",
      `/CN=${names[0]}`,
      "-addext",
      `subjectAltName=${san}`,
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { key: readFileSync(keyFile, "utf8"), cert: readFileSync(certFile, "utf8"), certFile };
}
