/**
 * cleanup against a real queue and a real configuration: header fixes, rewriting, alias
 * expansion, header_checks, limits, and the exact bytes that end up in the queue.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCleanup } from "../../src/cleanup/index.ts";
import type { CleanupInput } from "../../src/cleanup/types.ts";
import { loadConfig } from "../../src/config/index.ts";
import { openQueue, type QueueStore } from "../../src/queue/index.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(mainCf: string, files: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "posteix-cleanup-"));
  dirs.push(dir);
  writeFileSync(
    join(dir, "main.cf"),
    `queue_directory = ${dir}/q\nmyhostname = mail.example.com\nmydomain = example.com\n${mainCf}`,
  );
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const cfg = loadConfig({ configDir: dir, env: {}, hostname: "mail.example.com" });
  const queue = openQueue({ directory: join(dir, "q") });
  return { cfg, queue, dir };
}

const remote: CleanupInput = {
  sender: "alice@example.org",
  origin: "smtpd",
  client: {
    name: "client.example.org",
    addr: "192.0.2.7",
    helo: "client.example.org",
    protocol: "ESMTP",
  },
  trusted: false,
};

function bodyOf(queue: QueueStore, id: string): string {
  return Buffer.concat([...queue.body(id)]).toString("latin1");
}

async function submit(
  cfg: ReturnType<typeof loadConfig>,
  queue: QueueStore,
  input: CleanupInput,
  rcpts: string[],
  content: string,
  chunk = 7,
) {
  const c = openCleanup({ cfg, queue }, input);
  for (const r of rcpts) c.addRecipient({ address: r });
  const bytes = Buffer.from(content, "latin1");
  // Feed in small odd-sized chunks so header detection across chunk borders is exercised.
  for (let i = 0; i < bytes.length; i += chunk) c.write(bytes.subarray(i, i + chunk));
  return { id: c.queueId, out: await c.end() };
}

describe("cleanup", () => {
  test("queues the exact content with a Received header on top, nothing added for strangers", async () => {
    const { cfg, queue } = setup("");
    const content = "From: Alice <alice@example.org>\r\nSubject: hi\r\n\r\nline 1\r\n.line 2\r\n";
    const { id, out } = await submit(cfg, queue, remote, ["bob@example.com"], content);
    expect(out).toEqual({ kind: "queued", queueId: id, held: false });
    const stored = bodyOf(queue, id);
    const [received, rest] = [
      stored.slice(0, stored.indexOf("From: Alice")),
      stored.slice(stored.indexOf("From: Alice")),
    ];
    expect(rest).toBe(content);
    expect(received).toMatch(
      new RegExp(
        `^Received: from client\\.example\\.org \\(client\\.example\\.org \\[192\\.0\\.2\\.7\\]\\)\\r\\n\\tby mail\\.example\\.com \\(posteix\\) with ESMTP id ${id}\\r\\n\\tfor <bob@example\\.com>; \\w{3}, \\d{1,2} \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4} \\(\\w+\\)\\r\\n$`,
      ),
    );
    const rec = queue.get(id)!;
    expect(rec.sender).toBe("alice@example.org");
    expect(rec.recipients.map((r) => r.address)).toEqual(["bob@example.com"]);
    expect(rec.state).toBe("incoming");
    queue.close();
  });

  test("trusted clients get Date, Message-ID and From when missing", async () => {
    const { cfg, queue } = setup("");
    const { id } = await submit(
      cfg,
      queue,
      { ...remote, trusted: true, sender: "root" },
      ["bob@example.com"],
      "Subject: x\r\n\r\nbody\r\n",
    );
    const stored = bodyOf(queue, id);
    expect(stored).toMatch(
      /\r\nSubject: x\r\nDate: .+\r\nMessage-ID: <\d{14}\.[0-9A-F]+@mail\.example\.com>\r\nFrom: <root@mail\.example\.com>\r\n\r\nbody\r\n$/,
    );
    expect(queue.get(id)!.messageId).toMatch(/^<\d{14}\./);
    expect(queue.get(id)!.sender).toBe("root@mail.example.com");
    queue.close();
  });

  test("a body line without an empty line before it ends the headers; cleanup inserts the blank line", async () => {
    const { cfg, queue } = setup("");
    const { id } = await submit(
      cfg,
      queue,
      remote,
      ["bob@example.com"],
      "Subject: x\r\nthis is not a header\r\n",
    );
    expect(bodyOf(queue, id)).toEndWith("\r\nSubject: x\r\n\r\nthis is not a header\r\n");
    queue.close();
  });

  test("virtual aliases expand recursively, keep the original and drop duplicates", async () => {
    const { cfg, queue, dir } = setup("virtual_alias_maps = texthash:$config_directory/virtual\n", {
      virtual:
        "sales@example.com  ann@example.net, bob@example.net\nbob@example.net bob@example.net, carol@example.net\nteam@example.com sales@example.com, ann@example.net\n",
    });
    expect(dir).toBeTruthy();
    const { id } = await submit(
      cfg,
      queue,
      remote,
      ["team@example.com"],
      "Subject: x\r\n\r\nb\r\n",
    );
    const rcpts = queue.get(id)!.recipients;
    expect(rcpts.map((r) => r.address)).toEqual([
      "ann@example.net",
      "bob@example.net",
      "carol@example.net",
    ]);
    expect(rcpts.every((r) => r.original === "team@example.com")).toBe(true);
    queue.close();
  });

  test("header_checks: REJECT, HOLD, DISCARD, IGNORE, PREPEND", async () => {
    const { cfg, queue } = setup("header_checks = regexp:$config_directory/hc\n", {
      hc: [
        "/^Subject: .*viagra/ REJECT 5.7.1 no pills",
        "/^Subject: .*hold me/ HOLD needs review",
        "/^Subject: .*drop me/ DISCARD quietly",
        "/^X-Secret:/ IGNORE",
        "/^Subject: .*tag me/ PREPEND X-Tagged: yes",
        "",
      ].join("\n"),
    });
    const rej = await submit(
      cfg,
      queue,
      remote,
      ["b@example.com"],
      "Subject: cheap viagra\r\n\r\nx\r\n",
    );
    expect(rej.out).toEqual({ kind: "rejected", code: 550, enhanced: "5.7.1", text: "no pills" });
    expect(queue.get(rej.id)).toBeNull();

    const held = await submit(
      cfg,
      queue,
      remote,
      ["b@example.com"],
      "Subject: please hold me\r\n\r\nx\r\n",
    );
    expect(held.out).toEqual({ kind: "queued", queueId: held.id, held: true });
    expect(queue.get(held.id)!.state).toBe("hold");

    const dropped = await submit(
      cfg,
      queue,
      remote,
      ["b@example.com"],
      "Subject: drop me now\r\n\r\nx\r\n",
    );
    expect(dropped.out.kind).toBe("discarded");
    expect(queue.get(dropped.id)).toBeNull();

    const edited = await submit(
      cfg,
      queue,
      remote,
      ["b@example.com"],
      "X-Secret: 42\r\nSubject: tag me\r\n\r\nx\r\n",
    );
    const text = bodyOf(queue, edited.id);
    expect(text).not.toContain("X-Secret");
    expect(text).toContain("\r\nX-Tagged: yes\r\nSubject: tag me\r\n\r\nx\r\n");
    queue.close();
  });

  test("message_size_limit: content past the limit is refused with 552 5.3.4 and nothing is queued", async () => {
    const { cfg, queue } = setup("message_size_limit = 1000\n");
    const { id, out } = await submit(
      cfg,
      queue,
      remote,
      ["b@example.com"],
      `Subject: big\r\n\r\n${"x".repeat(2000)}\r\n`,
      100,
    );
    expect(out).toEqual({
      kind: "rejected",
      code: 552,
      enhanced: "5.3.4",
      text: "Error: message file too big",
    });
    expect(queue.get(id)).toBeNull();
    expect(queue.summary().incoming.count).toBe(0);
    queue.close();
  });

  test("hopcount_limit: too many Received headers is a loop", async () => {
    const { cfg, queue } = setup("hopcount_limit = 3\n");
    const hops = "Received: from a by b\r\n".repeat(4);
    const { out } = await submit(
      cfg,
      queue,
      remote,
      ["b@example.com"],
      `${hops}Subject: loop\r\n\r\nx\r\n`,
    );
    expect(out).toEqual({
      kind: "rejected",
      code: 554,
      enhanced: "5.4.6",
      text: "Error: too many hops",
    });
    queue.close();
  });

  test("sendmail -t takes recipients from To/Cc/Bcc and removes Bcc", async () => {
    const { cfg, queue } = setup("");
    const c = openCleanup(
      { cfg, queue },
      {
        sender: "root",
        origin: "sendmail",
        client: { name: "localhost", addr: "", protocol: "local" },
        trusted: true,
      },
      { extractRecipients: true },
    );
    c.write(
      Buffer.from(
        'To: "Ann, A." <ann@example.net>, bob@example.net\r\nCc: Team: carol@example.net;\r\nBcc: dave@example.net\r\nSubject: t\r\n\r\nhello\r\n',
      ),
    );
    const out = await c.end();
    expect(out.kind).toBe("queued");
    const rec = queue.get(c.queueId)!;
    expect(rec.recipients.map((r) => r.address)).toEqual([
      "ann@example.net",
      "bob@example.net",
      "carol@example.net",
      "dave@example.net",
    ]);
    const text = bodyOf(queue, c.queueId);
    expect(text).not.toContain("Bcc:");
    expect(text).toMatch(
      /^Received: by mail\.example\.com \(posteix, from userid \d+\)\r\n\tid [0-9A-F]+; /,
    );
    queue.close();
  });

  test("abort leaves nothing behind", async () => {
    const { cfg, queue } = setup("");
    const c = openCleanup({ cfg, queue }, remote);
    c.addRecipient({ address: "b@example.com" });
    c.write(Buffer.from(`Subject: x\r\n\r\n${"y".repeat(600_000)}\r\n`));
    c.abort();
    expect(queue.get(c.queueId)).toBeNull();
    const { orphansRemoved } = queue.recoverOnStartup();
    expect(orphansRemoved).toBe(0);
    queue.close();
  });
});
