/**
 * postcat -q: Postfix's sections (postcat.c and its default/e/h/b/... test references), LF line
 * ends, 8-bit bytes passed through untouched, bodies larger than a chunk.
 */
import { afterAll, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { LineEndConverter, run as postcat } from "../../src/cli/postcat.ts";
import { AT, addMessage, captureIO, makeTestDir, runMain, type TestDir } from "./helpers.ts";

let t: TestDir;
let id: string;
let big: string;
let savedTZ: string | undefined;

const HEADERS =
  "Received: from mx.example.net\r\n\tby us; Sat, 28 Nov 2026 10:00:00 +0000\r\nSubject: hey!\r\nFrom: alice@example.com\r\n";
const BODY_START = "\r\ntext\r\ncaf";
// "café\r\n" in Latin-1: a byte that is not UTF-8 must come out as it went in.
const RAW = new Uint8Array([
  ...new TextEncoder().encode(HEADERS + BODY_START),
  0xe9,
  13,
  10,
  ...new TextEncoder().encode("bare\rCR\r\n"),
]);

beforeAll(async () => {
  savedTZ = process.env.TZ;
  process.env.TZ = "UTC";
  t = makeTestDir();
  setSystemTime(new Date(AT("2026-11-28T10:00:00Z")));
  try {
    const d = t.queue.createDraft();
    d.write(RAW);
    await d.commit({
      sender: "alice@example.com",
      recipients: [
        {
          address: "bob@example.org",
          original: "Bob@Example.org",
          orcpt: "rfc822;Bob@Example.org",
          notify: ["FAILURE", "DELAY"],
        },
        { address: "carol@example.org" },
      ],
      envid: "ENV123",
      ret: "HDRS",
      bodyType: "8BITMIME",
      client: {
        name: "mx.example.net",
        addr: "192.0.2.1",
        helo: "mx.example.net",
        protocol: "ESMTPSA",
        saslUser: "alice",
      },
      origin: "smtpd",
    });
    id = d.id;
  } finally {
    setSystemTime();
  }
  t.queue.recordResults(id, [{ index: 1, status: "sent", dsn: "2.0.0", diagnostic: "250 ok" }]);
  big = await addMessage(t.queue, {
    sender: "",
    recipients: ["x@example.org"],
    body: `Subject: big\r\n\r\n${"0123456789abcdef\r\n".repeat(40_000)}`,
  });
});

afterAll(() => {
  t.cleanup();
  process.env.TZ = savedTZ;
});

const n15 = (v: number) => String(v).padStart(15);

function envelope(): string {
  return (
    `*** ENVELOPE RECORDS incoming/${id} ***\n` +
    `message_size: ${n15(RAW.length)} ${n15(0)} ${n15(2)} ${n15(0)} ${n15(RAW.length)} ${n15(0)}\n` +
    "message_arrival_time: Sat Nov 28 10:00:00 2026\n" +
    "create_time: Sat Nov 28 10:00:00 2026\n" +
    "named_attribute: log_client_name=mx.example.net\n" +
    "named_attribute: log_client_address=192.0.2.1\n" +
    "named_attribute: log_message_origin=mx.example.net[192.0.2.1]\n" +
    "named_attribute: log_helo_name=mx.example.net\n" +
    "named_attribute: log_protocol_name=ESMTPSA\n" +
    "named_attribute: sasl_username=alice\n" +
    "named_attribute: rewrite_context=remote\n" +
    "named_attribute: encoding=8bit\n" +
    "named_attribute: envelope_id=ENV123\n" +
    "named_attribute: ret_flags=2\n" +
    "sender: alice@example.com\n" +
    "named_attribute: notify_flags=12\n" +
    "named_attribute: dsn_orig_rcpt=rfc822;Bob@Example.org\n" +
    "original_recipient: Bob@Example.org\n" +
    "recipient: bob@example.org\n" +
    "original_recipient: carol@example.org\n" +
    "done_recipient: carol@example.org\n"
  );
}

const HEADER_TEXT =
  "Received: from mx.example.net\n\tby us; Sat, 28 Nov 2026 10:00:00 +0000\nSubject: hey!\nFrom: alice@example.com\n";
const BODY_TEXT = ["\ntext\ncaf", "\xe9", "\nbare\rCR\n"];

/** Expected output as bytes: strings are UTF-8 except the single raw Latin-1 byte. */
function bytes(...parts: string[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (p === "\xe9") out.push(0xe9);
    else out.push(...new TextEncoder().encode(p));
  }
  return new Uint8Array(out);
}

async function cat(argv: string[]) {
  const c = captureIO(t.dir, "postcat");
  const code = await postcat(argv, c.io);
  return { code, out: c.bytes(), err: c.err() };
}

const mark = (what: string) => `*** ${what} incoming/${id} ***\n`;

describe("postcat -q", () => {
  test("default: envelope, contents and the section markers", async () => {
    const r = await cat(["-q", id]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toEqual(
      bytes(
        envelope(),
        mark("MESSAGE CONTENTS"),
        HEADER_TEXT,
        ...BODY_TEXT,
        mark("HEADER EXTRACTED"),
        mark("MESSAGE FILE END"),
      ),
    );
    expect((await cat(["-ebhq", id])).out).toEqual(r.out);
  });

  test("-h: headers up to the blank line", async () => {
    expect((await cat(["-hq", id])).out).toEqual(bytes(HEADER_TEXT));
  });

  test("-b: from the blank line on", async () => {
    expect((await cat(["-b", "-q", id])).out).toEqual(bytes(...BODY_TEXT));
  });

  test("-bh: the whole message", async () => {
    expect((await cat(["-bhq", id])).out).toEqual(bytes(HEADER_TEXT, ...BODY_TEXT));
  });

  test("-e: envelope records and markers only", async () => {
    expect((await cat(["-eq", id])).out).toEqual(
      bytes(
        envelope(),
        mark("MESSAGE CONTENTS"),
        mark("HEADER EXTRACTED"),
        mark("MESSAGE FILE END"),
      ),
    );
  });

  test("-eh", async () => {
    expect((await cat(["-ehq", id])).out).toEqual(
      bytes(
        envelope(),
        mark("MESSAGE CONTENTS"),
        HEADER_TEXT,
        mark("HEADER EXTRACTED"),
        mark("MESSAGE FILE END"),
      ),
    );
  });

  test("a body larger than a chunk streams in pieces, CRLF -> LF", async () => {
    const c = captureIO(t.dir, "postcat");
    expect(await postcat(["-bq", big], c.io)).toBe(0);
    const out = c.bytes();
    expect(out.length).toBe(1 + 40_000 * 17);
    expect(new TextDecoder().decode(out)).toBe(`\n${"0123456789abcdef\n".repeat(40_000)}`);
    expect(c.writes.length).toBeGreaterThan(1);
  });

  test("several IDs in order; a path's last component is its ID without -q", async () => {
    const r = await cat(["-h", `deferred/A/${id}`, big]);
    expect(new TextDecoder().decode(r.out)).toBe(`${HEADER_TEXT}Subject: big\n`);
  });

  test("missing message, bad ID, usage", async () => {
    expect(await cat(["-q", "0123456789AB"])).toEqual({
      code: 1,
      out: new Uint8Array(0),
      err: "postcat: fatal: open queue file 0123456789AB: No such file or directory\n",
    });
    expect((await cat(["-q", "../x"])).err).toBe("postcat: fatal: bad mail queue ID: ../x\n");
    expect((await cat(["/etc/passwd"])).err).toBe(
      "postcat: fatal: open /etc/passwd: No such file or directory\n",
    );
    const usage =
      "postcat: fatal: usage: postcat [-b (body text)] [-c config_dir] [-e (envelope records)] " +
      "[-h (header text)] [-q (access queue)] [-v] [file(s)...]\n";
    expect((await cat(["-q"])).err).toBe(usage);
    expect((await cat(["-x", id])).err).toBe(`postcat: invalid option -- 'x'\n${usage}`);
    expect((await cat(["-o", "-q", id])).err).toBe(
      "postcat: fatal: -o is not supported: queue files have no records here\n",
    );
  });

  test("the real process writes the raw bytes", async () => {
    const proc = Bun.spawn(
      [
        `${import.meta.dir}/../../node_modules/.bin/bun`,
        `${import.meta.dir}/../../src/main.ts`,
        "-c",
        t.dir,
        "postcat",
        "-bq",
        id,
      ],
      { stdout: "pipe", stderr: "pipe", env: { ...process.env, TZ: "UTC" } },
    );
    const out = new Uint8Array(await new Response(proc.stdout).arrayBuffer());
    expect(await proc.exited).toBe(0);
    expect([...out]).toEqual([...bytes(...BODY_TEXT)]);
    const r = await runMain(["-c", t.dir, "postcat", "-q", "0123456789AB"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "postcat: fatal: open queue file 0123456789AB: No such file or directory\n",
    );
  });
});

describe("LineEndConverter", () => {
  test("every split of the input gives the same output", () => {
    const input = new TextEncoder().encode("a\r\nb\rc\r\r\n\r\n\rd\r");
    const want = "a\nb\rc\r\n\n\rd\r";
    for (let i = 0; i <= input.length; i++) {
      for (let j = i; j <= input.length; j++) {
        const parts: Uint8Array[] = [];
        const conv = new LineEndConverter((b) => parts.push(b.slice()));
        conv.push(input.subarray(0, i));
        conv.push(input.subarray(i, j));
        conv.push(input.subarray(j));
        conv.end();
        expect(new TextDecoder().decode(Buffer.concat(parts))).toBe(want);
      }
    }
  });
});
