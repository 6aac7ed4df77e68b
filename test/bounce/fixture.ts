/**
 * Test fixtures for the bounce composer: a message record, recipients, an original message
 * and a Config loaded by the real loader from a main.cf in a temporary directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NoticeRecipient } from "../../src/bounce/index.ts";
import { type Config, loadConfig } from "../../src/config/index.ts";
import type { MessageRecord, RecipientRecord } from "../../src/queue/types.ts";

/** A Config with `settings` as main.cf lines and defaults for everything else. */
export function testConfig(settings: Record<string, string> = {}): Config {
  const dir = mkdtempSync(join(tmpdir(), "posteix-bounce-"));
  try {
    const mainCf = Object.entries(settings)
      .map(([name, value]) => `${name} = ${value}\n`)
      .join("");
    writeFileSync(join(dir, "main.cf"), mainCf);
    return loadConfig({ configDir: dir, env: {}, hostname: "host.invalid" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const BASE_CFG = {
  myhostname: "mx.example.net",
  mydomain: "example.net",
  myorigin: "example.net",
};

export const ARRIVAL = Date.UTC(2024, 10, 28, 9, 0, 0);
export const NOW = new Date(Date.UTC(2024, 10, 28, 13, 0, 0));
export const ATTEMPT = Date.UTC(2024, 10, 28, 12, 59, 30);

export function recipient(over: Partial<NoticeRecipient> = {}): NoticeRecipient {
  const base: RecipientRecord = {
    index: 0,
    address: "bob@example.org",
    original: "bob@example.org",
    orcpt: null,
    notify: [],
    status: "bounced",
    dsn: "5.1.1",
    diagnostic:
      "host mx.example.org[192.0.2.10] said: 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown (in reply to RCPT TO command)",
    relay: "mx.example.org[192.0.2.10]:25",
    updatedAt: ATTEMPT,
  };
  return { ...base, ...over };
}

export function message(over: Partial<MessageRecord> = {}): MessageRecord {
  const recipients = over.recipients ?? [recipient()];
  return {
    id: "3F2A9C1B7E",
    state: "active",
    sender: "alice@example.net",
    size: ORIGINAL.length,
    arrivalTime: ARRIVAL,
    nextAttempt: null,
    attempts: 1,
    reason: null,
    envid: null,
    ret: null,
    bodyType: null,
    smtputf8: false,
    client: null,
    messageId: "<orig-1@example.net>",
    origin: "smtpd",
    warnedAt: null,
    ...over,
    recipients,
  };
}

export const ORIGINAL_TEXT = [
  "Received: from client.example.net (client.example.net [192.0.2.1])",
  "\tby mx.example.net (posteix) with ESMTP id 3F2A9C1B7E;",
  "\tThu, 28 Nov 2024 09:00:00 +0000 (UTC)",
  "From: Alice <alice@example.net>",
  "To: Bob <bob@example.org>",
  "Subject: Lunch",
  "Message-ID: <orig-1@example.net>",
  "Date: Thu, 28 Nov 2024 09:00:00 +0000",
  "",
  "Shall we have lunch on Friday?",
  "-- ",
  "Alice",
  "",
].join("\r\n");

export const ORIGINAL = new TextEncoder().encode(ORIGINAL_TEXT);
export const ORIGINAL_HEADERS = ORIGINAL_TEXT.slice(0, ORIGINAL_TEXT.indexOf("\r\n\r\n") + 2);

/** Chunked reader over bytes, `size` bytes per chunk. */
export function chunked(bytes: Uint8Array, size = 7): () => Iterable<Uint8Array> {
  return function* () {
    for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
  };
}

/** The whole notice as a string (tests only: notices are small). */
export function text(content: Iterable<Uint8Array>): string {
  const parts: Uint8Array[] = [];
  for (const c of content) parts.push(c.slice());
  return Buffer.concat(parts).toString("utf8");
}
