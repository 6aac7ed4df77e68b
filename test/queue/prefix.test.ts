/**
 * commit(msg, { prefix }): header fields known only at the end of the message (DKIM-Signature,
 * Authentication-Results) are stored in front of what the draft wrote, for small messages (one
 * chunk, written at commit) and big ones (chunks spilled before the prefix was known).
 */
import { afterAll, expect, test } from "bun:test";
import { openQueue } from "../../src/queue/index.ts";
import { dec, enc, message, readAll, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

test("a small message: the prefix comes first, the size includes it, headerBytes sees it", async () => {
  const dir = tempDir("prefix");
  let q = openQueue({ directory: dir });
  const d = q.createDraft();
  d.write(enc.encode("Subject: hi\r\n\r\nbody\r\n"));
  const prefix = enc.encode("Authentication-Results: mx.example.com;\r\n spf=pass\r\n");
  await d.commit(message(), { prefix });
  const want = `Authentication-Results: mx.example.com;\r\n spf=pass\r\nSubject: hi\r\n\r\nbody\r\n`;
  expect(readAll(q, d.id)).toBe(want);
  expect(q.get(d.id)!.size).toBe(want.length);
  expect(dec.decode(q.headerBytes(d.id))).toBe(
    "Authentication-Results: mx.example.com;\r\n spf=pass\r\nSubject: hi\r\n",
  );
  expect(q.history(d.id)[0].detail.size).toBe(want.length);
  expect(q.integrityCheck()).toEqual(["ok"]);
  q.close();
  q = openQueue({ directory: dir });
  expect(readAll(q, d.id)).toBe(want);
  q.close();
});

test("a message spilled in chunks before the prefix was known reads back in order", async () => {
  const dir = tempDir("prefix");
  const q = openQueue({ directory: dir, chunkSize: 1024 });
  const d = q.createDraft();
  let body = "Subject: big\r\n\r\n";
  for (let i = 0; i < 300; i++) body += `line ${i} ${"x".repeat(40)}\r\n`;
  const bytes = enc.encode(body);
  for (let i = 0; i < bytes.length; i += 333) d.write(bytes.subarray(i, i + 333));
  const prefix = enc.encode("DKIM-Signature: v=1; a=rsa-sha256; d=example.com\r\n");
  await d.commit(message(), { prefix });
  const got = [...q.body(d.id)].map((c) => dec.decode(c));
  expect(got[0]).toBe(dec.decode(prefix));
  expect(got.length).toBe(Math.ceil(bytes.length / 1024) + 1);
  expect(got.join("")).toBe(dec.decode(prefix) + body);
  expect(q.get(d.id)!.size).toBe(prefix.length + bytes.length);
  expect(q.integrityCheck()).toEqual(["ok"]);
  q.close();
});

test("no prefix and an empty prefix store nothing extra", async () => {
  const dir = tempDir("prefix");
  const q = openQueue({ directory: dir });
  const a = q.createDraft();
  a.write(enc.encode("Subject: a\r\n\r\na\r\n"));
  await a.commit(message());
  const b = q.createDraft();
  b.write(enc.encode("Subject: b\r\n\r\nb\r\n"));
  await b.commit(message(), { prefix: new Uint8Array(0) });
  expect(readAll(q, a.id)).toBe("Subject: a\r\n\r\na\r\n");
  expect(readAll(q, b.id)).toBe("Subject: b\r\n\r\nb\r\n");
  expect([...q.body(b.id)].length).toBe(1);
  expect(q.integrityCheck()).toEqual(["ok"]);
  q.close();
});
