/**
 * qmgr in a running posteix against real peers: concurrency limits per destination and per
 * transport (maxproc), recipient limits per transaction, dead destinations, delay warnings,
 * postqueue -f / -s / postsuper -r reaching the running daemon at once, and no CPU spent
 * while nothing is due.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { openCleanup } from "../../src/cleanup/index.ts";
import { run as postqueue } from "../../src/cli/postqueue.ts";
import { run as postsuper } from "../../src/cli/postsuper.ts";
import type { CliIO } from "../../src/cli/types.ts";
import { startPosteix, type TestPosteix } from "../helpers/posteix.ts";
import { type SmtpPeer, startSmtpPeer } from "../helpers/smtp-peer.ts";

const stoppers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stoppers.splice(0).reverse()) await s();
});

async function peer(opts: Parameters<typeof startSmtpPeer>[0] = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer(opts);
  stoppers.push(() => p.stop());
  return p;
}

async function posteix(mainCf: string, masterCf?: string): Promise<TestPosteix> {
  const px = await startPosteix({ mainCf, masterCf });
  stoppers.push(() => px.stop());
  return px;
}

/** Queue a message straight through cleanup (as sendmail would). */
async function inject(
  px: TestPosteix,
  to: string[],
  subject = "t",
  sender = "a@example.com",
): Promise<string> {
  const c = openCleanup(
    { cfg: px.master.cfg, queue: px.master.queue, onQueued: () => px.master.qmgr.wake() },
    {
      sender,
      origin: "sendmail",
      client: { name: "localhost", addr: "", protocol: "local" },
      trusted: true,
    },
  );
  for (const t of to) c.addRecipient({ address: t });
  c.write(Buffer.from(`Subject: ${subject}\r\n\r\nbody\r\n`));
  const out = await c.end();
  if (out.kind !== "queued") throw new Error(`not queued: ${JSON.stringify(out)}`);
  return out.queueId;
}

function io(configDir: string): CliIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    stdin: () => new Blob([]).stream(),
    configDir,
    progName: "test",
  };
}

describe("qmgr", () => {
  test("destination concurrency limit and recipient limit per transaction", async () => {
    let maxOpen = 0;
    const mx = await peer();
    const px = await posteix(
      [
        `relayhost = [127.0.0.1]:${mx.port}`,
        "smtp_destination_concurrency_limit = 2",
        "smtp_destination_recipient_limit = 3",
        "smtp_connection_cache_on_demand = no",
      ].join("\n"),
    );
    const timer = setInterval(() => {
      maxOpen = Math.max(maxOpen, px.master.qmgr.stats.deliveriesInFlight);
    }, 1);
    const ids = [];
    for (let i = 0; i < 6; i++)
      ids.push(await inject(px, ["r1@c.test", "r2@c.test", "r3@c.test", "r4@c.test", "r5@c.test"]));
    await mx.waitForMessages(12, 15_000);
    clearInterval(timer);
    // 5 recipients with a limit of 3 per transaction: 2 transactions per message.
    expect(mx.messages.length).toBe(12);
    expect(mx.messages.every((m) => m.rcptTo.length <= 3)).toBe(true);
    expect(maxOpen).toBe(2);
    for (const id of ids) await px.waitForLog(new RegExp(`${id}: removed`));
  });

  test("master.cf maxproc caps deliveries of a transport", async () => {
    const a = await peer();
    const b = await peer();
    const master = `127.0.0.1:0 inet n - n - - smtpd
smtp unix - - n - 1 smtp -o smtp_connection_cache_on_demand=no
local unix - n n - - local
error unix - - n - - error
`;
    const px = await posteix(
      `transport_maps = inline:{ a.test=smtp:[127.0.0.1]:${a.port}, b.test=smtp:[127.0.0.1]:${b.port} }\n`,
      master,
    );
    let peak = 0;
    const timer = setInterval(() => {
      peak = Math.max(peak, px.master.qmgr.stats.deliveriesInFlight);
    }, 1);
    for (let i = 0; i < 4; i++) await inject(px, [i % 2 ? "x@a.test" : "y@b.test"]);
    await a.waitForMessages(2);
    await b.waitForMessages(2);
    clearInterval(timer);
    expect(peak).toBe(1);
  });

  test("a dead destination's backlog is deferred without connecting; postqueue -f revives it", async () => {
    const port = (() => {
      const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      const p = s.port;
      s.stop(true);
      return p;
    })();
    const px = await posteix(
      `relayhost = [127.0.0.1]:${port}\ndestination_dead_time = 60s\nminimal_backoff_time = 300s\nmaximal_backoff_time = 300s\n`,
    );
    const first = await inject(px, ["x@dead.test"]);
    await px.waitForLog(
      new RegExp(
        `${first}: to=<x@dead\\.test>.*status=deferred \\(connect to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${port}: Connection refused\\)`,
      ),
    );
    const second = await inject(px, ["y@dead.test"]);
    const line = await px.waitForLog(new RegExp(`${second}: to=<y@dead\\.test>.*status=deferred`));
    expect(line).toContain("relay=none");
    expect(line).toContain("delivery temporarily suspended: connect to 127.0.0.1[127.0.0.1]");

    // The server comes up; postqueue -f (through the control socket) delivers now.
    const mx = await peer({ port });
    const cli = io(px.dir);
    expect(await postqueue(["-f"], cli)).toBe(0);
    await mx.waitForMessages(2, 5000);
    expect(mx.messages.map((m) => m.rcptTo[0].address).sort()).toEqual([
      "x@dead.test",
      "y@dead.test",
    ]);
  });

  test("postqueue -s SITE and postsuper -r take effect at once in the running daemon", async () => {
    let accept = false;
    const mx = await peer({
      rcpt: () => (accept ? undefined : { code: 450, text: "4.2.0 not yet" }),
    });
    const px = await posteix(
      `relayhost = [127.0.0.1]:${mx.port}\nminimal_backoff_time = 3600s\nmaximal_backoff_time = 3600s\n`,
    );
    const id1 = await inject(px, ["u@site-one.test"]);
    const id2 = await inject(px, ["v@site-two.test"]);
    await px.waitForLog(new RegExp(`${id1}: to=.*status=deferred`));
    await px.waitForLog(new RegExp(`${id2}: to=.*status=deferred`));
    accept = true;
    const cli = io(px.dir);
    expect(await postqueue(["-s", "site-one.test"], cli)).toBe(0);
    await mx.waitForMessages(1, 5000);
    expect(mx.messages[0].rcptTo[0].address).toBe("u@site-one.test");
    await Bun.sleep(200);
    expect(mx.messages.length).toBe(1); // site-two waits for its retry time
    expect(await postsuper(["-r", id2], cli)).toBe(0);
    await mx.waitForMessages(2, 5000);
    expect(mx.messages[1].rcptTo[0].address).toBe("v@site-two.test");
  });

  test("delay_warning_time sends one delay notice that parses as RFC 3464", async () => {
    const mx = await peer({
      rcpt: (a) => (a === "slow@delay.test" ? { code: 450, text: "4.4.1 busy" } : undefined),
    });
    const px = await posteix(
      `relayhost = [127.0.0.1]:${mx.port}\ndelay_warning_time = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n`,
    );
    const id = await inject(px, ["slow@delay.test"], "slow", "sender@example.com");
    await px.waitForLog(new RegExp(`${id}: sender delay notification: [0-9A-F]+`), 10_000);
    await mx.waitForMessages(1, 5000);
    const notice = mx.messages.find((m) => m.mailFrom.address === "")!;
    expect(notice.rcptTo[0].address).toBe("sender@example.com");
    const parsed = await simpleParser(Buffer.from(notice.raw), {
      keepDeliveryStatus: true,
    } as Parameters<typeof simpleParser>[1]);
    expect(parsed.subject).toBe("Delayed Mail (still being retried)");
    const ds = parsed.attachments
      .find((a) => a.contentType === "message/delivery-status")!
      .content.toString();
    expect(ds).toContain("Action: delayed");
    expect(ds).toContain("Final-Recipient: rfc822; slow@delay.test");
    // Only one warning, however many retries follow.
    await Bun.sleep(2500);
    expect(px.logs.filter((l) => l.includes(`${id}: sender delay notification`)).length).toBe(1);
    expect(px.master.queue.get(id)!.warnedAt).not.toBeNull();
  });

  test("no CPU is spent while nothing is due, even with deferred mail in the queue", async () => {
    // Measured in a process of its own (idle-cpu.ts): in this one, servers and timers left by
    // other test files would be counted too.
    const proc = Bun.spawn([process.execPath, join(import.meta.dir, "idle-cpu.ts")], {
      stdout: "pipe",
      stderr: "inherit",
    });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    const r = JSON.parse(out.trim().split("\n").pop()!) as {
      deferred: number;
      cpuMs: number;
      logLines: number;
    };
    expect(r.deferred).toBe(50);
    // Two idle seconds: the scheduler sleeps on one timer. 40 ms is 2% of one core.
    expect(r.cpuMs).toBeLessThan(40);
    expect(r.logLines).toBe(0);
  }, 30_000);
});
