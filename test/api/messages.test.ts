/**
 * One message at a time: details, raw bytes, hold / release / requeue / delete with their 404s
 * and 409s, and injection in both forms (message/rfc822 streamed, JSON composed), with the
 * queued bytes checked, the limits, content rules, and idempotent retries.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { simpleParser } from "mailparser";
import { type Fixture, json, putMany, startFixture, stopAll } from "./helpers.ts";

afterAll(stopAll);

function stored(f: Fixture, id: string): string {
  return Buffer.concat([...f.queue.body(id)]).toString("latin1");
}

function rfc822(
  f: Fixture,
  query: string,
  body: RequestInit["body"],
  headers: Record<string, string> = {},
) {
  return f.call(`/api/v1/messages?${query}`, {
    method: "POST",
    body,
    headers: { "content-type": "message/rfc822", ...headers },
  });
}

function composed(f: Fixture, msg: unknown, headers: Record<string, string> = {}) {
  return f.call("/api/v1/messages", {
    method: "POST",
    body: JSON.stringify(msg),
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A body stream of `n` chunks of `size` bytes each, made on demand. */
function chunkedBody(
  n: number,
  size: number,
  head = "Subject: big\n\n",
  delayMs = 0,
): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    async pull(c) {
      if (delayMs > 0) await Bun.sleep(delayMs);
      if (i === 0) c.enqueue(new TextEncoder().encode(head));
      if (i >= n) return c.close();
      const line = Buffer.alloc(size, "x");
      for (let k = 99; k < size; k += 100) line[k] = 10; // LF line ends every 100 bytes
      c.enqueue(line);
      i++;
    },
  });
}

describe("one message", () => {
  test("details with headers and history; raw bytes", async () => {
    const f = await startFixture();
    const res = await rfc822(
      f,
      "from=alice@example.org&to=bob@example.net",
      "From: Alice <alice@example.org>\nSubject: hello\n  folded\nMessage-ID: <m1@example.org>\n\nbody\n",
    );
    expect(res.status).toBe(202);
    const { id } = await json(res);
    const d = await json(await f.call(`/api/v1/messages/${id.toLowerCase()}`));
    expect(d.id).toBe(id);
    expect(d.state).toBe("incoming");
    expect(d.sender).toBe("alice@example.org");
    expect(d.origin).toBe("api");
    expect(d.message_id).toBe("<m1@example.org>");
    expect(d.client).toEqual({ name: "localhost", addr: "127.0.0.1", protocol: "HTTP" });
    expect(d.recipients).toEqual([
      {
        address: "bob@example.net",
        status: "pending",
        dsn: null,
        diagnostic: null,
        original: "bob@example.net",
        orcpt: null,
        notify: [],
        relay: null,
        updated_at: null,
      },
    ]);
    expect(d.headers.map((h: { name: string }) => h.name)).toEqual([
      "Received",
      "From",
      "Subject",
      "Message-ID",
      "Date",
    ]);
    expect(d.headers[2]).toEqual({ name: "Subject", value: "hello folded" });
    expect(d.headers[0].value).toContain(`by mail.example.com (posteix) with HTTP id ${id}`);
    expect(d.history).toHaveLength(1);
    expect(d.history[0]).toMatchObject({ event: "received", queue_id: id });
    expect(d.history[0].detail).toMatchObject({
      from: "alice@example.org",
      nrcpt: 1,
      origin: "api",
    });

    const raw = await f.call(`/api/v1/messages/${id}/raw`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-type")).toBe("message/rfc822");
    const bytes = Buffer.from(await raw.arrayBuffer()).toString("latin1");
    expect(bytes).toBe(stored(f, id));
    expect(raw.headers.get("content-length")).toBe(String(bytes.length));
    await f.stop();
  });

  test("hold, release, requeue and delete: 200, then 409 or 404 where the state forbids", async () => {
    const f = await startFixture();
    const [id, other] = await putMany(f.queue, 2);
    const post = (path: string) => f.call(path, { method: "POST" });

    let res = await post(`/api/v1/messages/${id}/release`);
    expect(res.status).toBe(409);
    expect(await json(res)).toEqual({
      error: { code: "conflict", message: `${id}: cannot release a message in state incoming` },
    });

    res = await post(`/api/v1/messages/${id}/hold`);
    expect(res.status).toBe(200);
    expect((await json(res)).state).toBe("hold");
    res = await post(`/api/v1/messages/${id}/hold`);
    expect(res.status).toBe(409);

    res = await post(`/api/v1/messages/${id}/release`);
    expect(res.status).toBe(200);
    expect((await json(res)).state).toBe("deferred");

    res = await post(`/api/v1/messages/${id}/requeue`);
    expect(res.status).toBe(200);
    const requeued = await json(res);
    expect(requeued.state).toBe("incoming");
    expect(requeued.id).toBe(id);

    // Being delivered: requeue must wait, hold is allowed (it applies after the attempt).
    f.queue.claimDue(Date.now() + 1000, 10);
    expect(f.queue.get(other)!.state).toBe("active");
    res = await post(`/api/v1/messages/${other}/requeue`);
    expect(res.status).toBe(409);
    expect((await json(res)).error.message).toBe(
      `${other}: cannot requeue a message in state active`,
    );

    res = await f.call(`/api/v1/messages/${id}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ deleted: id });
    expect(f.queue.get(id)).toBeNull();

    for (const [method, path] of [
      ["DELETE", `/api/v1/messages/${id}`],
      ["GET", `/api/v1/messages/${id}`],
      ["GET", `/api/v1/messages/${id}/raw`],
      ["POST", `/api/v1/messages/${id}/hold`],
      ["POST", `/api/v1/messages/${id}/release`],
      ["POST", `/api/v1/messages/${id}/requeue`],
    ]) {
      res = await f.call(path, { method });
      expect(res.status).toBe(404);
      expect(await json(res)).toEqual({
        error: { code: "not_found", message: `${id}: no such message` },
      });
    }
    res = await f.call("/api/v1/messages/not-a-queue-id");
    expect(res.status).toBe(400);
    expect((await json(res)).error.message).toBe("path parameter id: not a queue ID");
    expect(f.queue.history(id).map((e) => e.kind)).toEqual([
      "received",
      "held",
      "released",
      "requeued",
      "deleted",
    ]);
    await f.stop();
  });
});

describe("injection", () => {
  test("message/rfc822: LF becomes CRLF, envelope from the query, Date and Message-ID added", async () => {
    const f = await startFixture();
    const res = await rfc822(
      f,
      "from=%3Capp@example.com%3E&to=one@example.net,two@example.net&to=three@example.net",
      "From: App <app@example.com>\nSubject: report\n\nline 1\r\n.line 2\nlast line without end",
    );
    expect(res.status).toBe(202);
    const { id, status } = await json(res);
    expect(status).toBe("queued");
    expect(f.calls.wake).toBe(1);
    const m = f.queue.get(id)!;
    expect(m.sender).toBe("app@example.com");
    expect(m.recipients.map((r) => r.address)).toEqual([
      "one@example.net",
      "two@example.net",
      "three@example.net",
    ]);
    const text = stored(f, id);
    const after = text.slice(text.indexOf("From: App"));
    expect(after).toMatch(
      /^From: App <app@example\.com>\r\nSubject: report\r\nDate: .+\r\nMessage-ID: <.+@mail\.example\.com>\r\n\r\nline 1\r\n\.line 2\r\nlast line without end\r\n$/,
    );
    expect(text).toStartWith(
      "Received: from localhost (localhost [127.0.0.1])\r\n\tby mail.example.com (posteix) with HTTP id",
    );
    await f.stop();
  });

  test("message/rfc822: a 20 MB body streamed in chunks is queued whole, and read back", async () => {
    const f = await startFixture({ mainCf: "message_size_limit = 52428800" });
    const res = await rfc822(f, "from=app@example.com&to=big@example.net", chunkedBody(320, 65536));
    expect(res.status).toBe(202);
    const { id } = await json(res);
    let size = 0;
    let lf = 0;
    let bare = 0;
    for (const chunk of f.queue.body(id)) {
      size += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
        lf++;
        if (i > 0 && chunk[i - 1] !== 13) bare++;
      }
    }
    expect(bare).toBe(0);
    expect(lf).toBeGreaterThan(320 * 655);
    expect(size).toBe(f.queue.get(id)!.size);
    expect(size).toBeGreaterThan(320 * 65536);
    // Read back as a stream: the same bytes.
    const raw = await f.call(`/api/v1/messages/${id}/raw`);
    expect(raw.status).toBe(200);
    const back = new Uint8Array(await raw.arrayBuffer());
    expect(back.length).toBe(size);
    expect(Buffer.compare(back, Buffer.concat([...f.queue.body(id)]))).toBe(0);
    await f.stop();
  });

  test("null sender, bad and missing envelope addresses", async () => {
    const f = await startFixture();
    for (const from of ["", "%3C%3E"]) {
      const res = await rfc822(f, `from=${from}&to=x@example.net`, "Subject: bounce\n\nx\n");
      expect(res.status).toBe(202);
      expect(f.queue.get((await json(res)).id)!.sender).toBe("");
    }
    const cases: [string, string][] = [
      ["to=x@example.net", "query parameter from: required"],
      ["from=a@example.com", "query parameter to: required"],
      ["from=a@example.com&to=", "query parameter to: at least one recipient is required"],
      ["from=a@@b&to=x@example.net", "query parameter from: bad address syntax: a@@b"],
      [
        "from=a@example.com&to=x@example.net,y@ex%20ample",
        "query parameter to: bad address syntax: y@ex ample",
      ],
    ];
    for (const [q, message] of cases) {
      const res = await rfc822(f, q, "Subject: x\n\nx\n");
      expect(res.status).toBe(400);
      expect(await json(res)).toEqual({ error: { code: "invalid_request", message } });
    }
    const empty = await rfc822(f, "from=a@example.com&to=x@example.net", "");
    expect(empty.status).toBe(400);
    expect(f.queue.summary().incoming.count).toBe(2);
    await f.stop();
  });

  test("limits: api_body_limit (413 before and while reading), message_size_limit (413)", async () => {
    const f = await startFixture({ mainCf: "api_body_limit = 100000\nmessage_size_limit = 50000" });
    let res = await rfc822(f, "from=a@example.com&to=x@example.net", "x".repeat(100_001));
    expect(res.status).toBe(413);
    expect(await json(res)).toEqual({
      error: { code: "too_large", message: "request body exceeds the limit of 100000 bytes" },
    });
    res = await rfc822(f, "from=a@example.com&to=x@example.net", chunkedBody(10, 20_000));
    expect(res.status).toBe(413);
    res = await rfc822(f, "from=a@example.com&to=x@example.net", chunkedBody(3, 20_000));
    expect(res.status).toBe(413);
    expect(await json(res)).toEqual({
      error: { code: "too_large", message: "message exceeds message_size_limit (50000 bytes)" },
    });
    res = await rfc822(f, "from=a@example.com&to=x@example.net", chunkedBody(2, 20_000));
    expect(res.status).toBe(202);
    expect(f.queue.summary().incoming.count).toBe(1);
    // Nothing of the refused ones is left behind.
    expect(f.queue.integrityCheck()).toEqual(["ok"]);
    await f.stop();
  });

  test("content rules: header_checks REJECT is 422, HOLD is 202 held", async () => {
    const f = await startFixture({
      mainCf: `header_checks = regexp:\${config_directory}/header_checks`,
      files: {
        header_checks: "/^Subject: spam/ REJECT no spam here\n/^Subject: check/ HOLD look at it\n",
      },
    });
    let res = await rfc822(f, "from=a@example.com&to=x@example.net", "Subject: spam offer\n\nx\n");
    expect(res.status).toBe(422);
    expect(await json(res)).toEqual({
      error: { code: "rejected", message: "550 5.7.1 no spam here" },
    });
    res = await composed(f, {
      from: "a@example.com",
      to: "x@example.net",
      subject: "check this",
      text: "x",
    });
    expect(res.status).toBe(202);
    const { id, status } = await json(res);
    expect(status).toBe("held");
    expect(f.queue.get(id)!.state).toBe("hold");
    expect(f.queue.get(id)!.reason).toBe("look at it");
    await f.stop();
  });

  test("JSON: composed into MIME with attachments; Bcc in the envelope only", async () => {
    const f = await startFixture();
    const pdf = Buffer.from("%PDF-1.4 not really\n\x00\x01\x02binary", "latin1");
    const res = await composed(f, {
      from: "Reports <reports@example.com>",
      to: ["Ann <ann@example.net>", "bob@example.net"],
      cc: "carol@example.org",
      bcc: "audit@example.com",
      reply_to: "help@example.com",
      subject: "Monthly report – März",
      text: "See attached.\n",
      html: "<p>See <b>attached</b>.</p>",
      headers: { "X-Report-Id": "42" },
      attachments: [
        {
          filename: "report.pdf",
          content_type: "application/pdf",
          content_base64: pdf.toString("base64"),
        },
      ],
    });
    expect(res.status).toBe(202);
    const { id } = await json(res);
    const m = f.queue.get(id)!;
    expect(m.sender).toBe("reports@example.com");
    expect(m.recipients.map((r) => r.address)).toEqual([
      "ann@example.net",
      "bob@example.net",
      "carol@example.org",
      "audit@example.com",
    ]);
    const text = stored(f, id);
    expect(text).not.toMatch(/\nBcc:/i);
    expect(text.includes("\n") && !/[^\r]\n/.test(text)).toBe(true);
    const parsed = await simpleParser(Buffer.from(text, "latin1"));
    expect(parsed.subject).toBe("Monthly report – März");
    expect(parsed.from?.value).toEqual([{ name: "Reports", address: "reports@example.com" }]);
    expect(parsed.text).toBe("See attached.\n");
    expect(parsed.html).toBe("<p>See <b>attached</b>.</p>");
    expect(parsed.headers.get("x-report-id")).toBe("42");
    expect(parsed.messageId).toMatch(new RegExp(`^<\\d{14}\\.${id}@mail\\.example\\.com>$`));
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0].filename).toBe("report.pdf");
    expect(parsed.attachments[0].contentType).toBe("application/pdf");
    expect(Buffer.compare(parsed.attachments[0].content, pdf)).toBe(0);
    await f.stop();
  });

  test("JSON and media-type errors", async () => {
    const f = await startFixture();
    const cases: [unknown, string][] = [
      [{ to: "x@example.net" }, "body field from: "],
      [
        { from: "a@example.com", subject: "x" },
        "body field to: at least one of to, cc, bcc is required",
      ],
      [{ from: "a@example.com", to: 5 }, "body field to: "],
      [
        {
          from: "a@example.com",
          to: "x@example.net",
          attachments: [{ filename: "a", content_base64: "%%" }],
        },
        "body field attachments.0.content_base64: not base64",
      ],
      [{ from: "not an address", to: "x@example.net" }, "body field from: "],
    ];
    for (const [body, message] of cases) {
      const res = await composed(f, body);
      expect(res.status).toBe(400);
      const e = await json(res);
      expect(e.error.code).toBe("invalid_request");
      expect(e.error.message).toStartWith(message);
    }
    const res = await f.call("/api/v1/messages", {
      method: "POST",
      body: "hi",
      headers: { "content-type": "text/plain" },
    });
    expect(res.status).toBe(415);
    expect(f.queue.summary().incoming.count).toBe(0);
    await f.stop();
  });

  test("Idempotency-Key: a sequential retry returns the first id and queues nothing", async () => {
    const f = await startFixture();
    const send = (key: string) =>
      rfc822(f, "from=a@example.com&to=x@example.net", "Subject: once\n\nx\n", {
        "Idempotency-Key": key,
      });
    const first = await send("order-1001");
    expect(first.status).toBe(202);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const { id } = await json(first);
    const again = await send("order-1001");
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await json(again)).toEqual({ id, status: "queued" });
    // The JSON form shares the key space.
    const third = await composed(
      f,
      { from: "a@example.com", to: "x@example.net", text: "x" },
      { "Idempotency-Key": "order-1001" },
    );
    expect(third.status).toBe(200);
    expect((await json(third)).id).toBe(id);
    const other = await send("order-1002");
    expect(other.status).toBe(202);
    expect((await json(other)).id).not.toBe(id);
    expect(f.queue.summary().incoming.count).toBe(2);
    const bad = await send("has space");
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.message).toBe(
      "header idempotency-key: printable ASCII without spaces",
    );
    await f.stop();
  });

  test("Idempotency-Key: concurrent requests with one key queue one message", async () => {
    const f = await startFixture();
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        // Slow bodies: every request is in flight before the first one commits.
        rfc822(
          f,
          "from=a@example.com&to=x@example.net",
          chunkedBody(10, 10_000, "Subject: x\n\n", 20),
          {
            "Idempotency-Key": "k-77",
          },
        ),
      ),
    );
    const bodies = await Promise.all(results.map((r) => json(r)));
    const ids = new Set(bodies.map((b) => b.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.status === 202)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(11);
    expect(f.queue.summary().incoming.count).toBe(1);
    // A failed first attempt stores nothing: the retry queues.
    const tooBig = await rfc822(f, "from=a@@x&to=x@example.net", "x\n", {
      "Idempotency-Key": "k-78",
    });
    expect(tooBig.status).toBe(400);
    const retry = await rfc822(f, "from=a@example.com&to=x@example.net", "x\n", {
      "Idempotency-Key": "k-78",
    });
    expect(retry.status).toBe(202);
    await f.stop();
  });
});
