/**
 * Property tests of header handling: the streaming header/body splitter
 * (src/cleanup/headers.ts) and the whole cleanup (header fixes, Received, limits, one commit
 * into a real queue) on random and mutated messages.
 *   - the splitter gives the same headers and body however the content is cut, keeps every
 *     field within header_size_limit and the section within its bound, and loses no body byte;
 *   - cleanup answers every message with an outcome (never a throw); a queued message reads
 *     back whole, starts with a header section and has a Received header.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import {
  type Header,
  HeaderSplitter,
  headerValue,
  serializeHeaders,
} from "../../src/cleanup/headers.ts";
import { openCleanup } from "../../src/cleanup/index.ts";
import { loadConfig } from "../../src/config/index.ts";
import { setLogQuiet } from "../../src/log/index.ts";
import { openQueue } from "../../src/queue/index.ts";
import { check, checkAsync, hostileText, report, runs } from "./fuzz.ts";

const FILE = "fuzz-headers.test.ts";
setLogQuiet(true);
const dir = mkdtempSync(join(tmpdir(), "posteix-fuzzhdr-"));
writeFileSync(
  join(dir, "main.cf"),
  [
    `queue_directory = ${dir}/queue`,
    "myhostname = mx.example.test",
    "mydomain = example.test",
    "header_size_limit = 300",
    "message_size_limit = 20000",
    "hopcount_limit = 5",
    "smtpd_sender_authentication = no",
    "",
  ].join("\n"),
);
const cfg = loadConfig({ configDir: dir, env: {}, hostname: "mx.example.test" });
const queue = openQueue({ directory: join(dir, "queue"), chunkSize: 1024 });
afterAll(() => {
  queue.close();
  rmSync(dir, { recursive: true, force: true });
  report(FILE);
});

const SAMPLES = [
  "From: a@example.org\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nbody\r\n",
  "Subject: folded\r\n more\r\n\tand more\r\nX: y\r\n\r\n",
  "Received: from a\r\nReceived: from b\r\nReceived: from c\r\nReceived: from d\r\nReceived: from e\r\nReceived: from f\r\n\r\nloop\r\n",
  "no header at all\r\n",
  "Subject:\r\n\r\n",
  "Bad Header: x\r\nX-8bit: \u00e9t\u00e9\r\n\r\n",
  'Message-ID: <a@b>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nFrom: "x" <a@b>\r\n\r\n',
  " continuation first\r\nSubject: x\r\n\r\n",
  "Subject: x\n\nbare LF\n",
];
const message = hostileText(SAMPLES, "ab: \r\n\t\u00e9X-");
const cuts = fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 6 });

function split(
  bytes: Uint8Array,
  sizes: number[],
  maxHeader: number,
  maxField: number,
): { headers: Header[]; body: string; events: number } {
  let headers: Header[] = [];
  let body = "";
  let events = 0;
  const s = new HeaderSplitter(
    (ev) => {
      if (ev.kind === "headers") {
        headers = ev.headers;
        events++;
      } else body += Buffer.from(ev.bytes).toString("latin1");
    },
    maxHeader,
    maxField,
  );
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    s.write(bytes.subarray(pos, pos + n));
    pos += n;
  }
  s.end();
  return { headers, body, events };
}

describe("header handling", () => {
  test("the splitter: chunking does not matter; fields and section stay bounded; exactly one header event", () => {
    check(
      FILE,
      fc.property(
        message,
        cuts,
        fc.integer({ min: 10, max: 200 }),
        fc.integer({ min: 200, max: 2000 }),
        (text, sizes, maxField, maxHeader) => {
          const bytes = new Uint8Array(Buffer.from(text, "latin1"));
          const whole = split(bytes, [bytes.length || 1], maxHeader, maxField);
          const cut = split(bytes, sizes, maxHeader, maxField);
          expect(cut.events).toBe(1);
          expect(cut.headers.map((h) => h.raw)).toEqual(whole.headers.map((h) => h.raw));
          expect(cut.body).toBe(whole.body);
          let section = 0;
          for (const h of cut.headers) {
            // A field is cut at the limit (its continuation lines count with their CRLF).
            expect(h.raw.length).toBeLessThanOrEqual(maxField);
            expect(h.raw.startsWith(h.name) || h.name.startsWith(h.raw)).toBe(true);
            section += h.raw.length;
            expect(typeof headerValue(h)).toBe("string");
          }
          expect(section).toBeLessThanOrEqual(maxHeader + maxField + 2);
          expect(serializeHeaders(cut.headers).length).toBe(section + 2 * cut.headers.length);
        },
      ),
      runs(10_000, 300_000),
    );
  }, 600_000);

  test("cleanup into a real queue: always an outcome; what is queued reads back with its Received", async () => {
    let queued = 0;
    await checkAsync(
      FILE,
      fc.asyncProperty(message, cuts, fc.boolean(), async (text, sizes, trusted) => {
        const c = openCleanup(
          { cfg, queue },
          {
            sender: "a@example.org",
            origin: "smtpd",
            client: { name: "client.example.org", addr: "198.51.100.7", protocol: "ESMTP" },
            trusted,
          },
        );
        c.addRecipient({ address: "b@example.test" });
        const bytes = new Uint8Array(Buffer.from(text, "utf8"));
        let pos = 0;
        for (let i = 0; pos < bytes.length; i++) {
          const n = sizes[i % sizes.length];
          c.write(bytes.subarray(pos, pos + n));
          pos += n;
        }
        const out = await c.end();
        expect(["queued", "rejected", "discarded", "failed"]).toContain(out.kind);
        if (out.kind === "failed") throw new Error(`queue failure: ${out.text}`);
        if (out.kind !== "queued") return;
        queued++;
        let stored = "";
        for (const chunk of queue.body(out.queueId))
          stored += Buffer.from(chunk).toString("latin1");
        expect(stored).toStartWith("Received: ");
        expect(stored).toContain("\r\n\r\n");
        queue.remove(out.queueId, "test");
      }),
      runs(500, 20_000),
    );
    expect(queued).toBeGreaterThan(0);
  }, 900_000);
});
