/**
 * mailq over 20,000 messages: the first message shows at once, output goes out in bounded
 * blocks, the process waits for a slow reader instead of buffering, and a reader that goes
 * away (`mailq | head`) ends it quietly.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { run as mailq } from "../../src/cli/mailq.ts";
import { addMessage, BUN, captureIO, MAIN, makeTestDir, type TestDir } from "./helpers.ts";

const COUNT = 20_000;
const BODY = `Subject: bulk\r\n\r\n${"x".repeat(200)}\r\n`;
let t: TestDir;

beforeAll(async () => {
  t = makeTestDir();
  for (let done = 0; done < COUNT; ) {
    const batch: Promise<string>[] = [];
    for (let i = 0; i < 1000 && done < COUNT; i++, done++) {
      batch.push(
        addMessage(t.queue, {
          sender: `s${done}@example.com`,
          recipients: ["r@example.org"],
          body: BODY,
        }),
      );
    }
    await Promise.all(batch);
  }
  expect(t.queue.summary().incoming.count).toBe(COUNT);
}, 60_000);

afterAll(() => t.cleanup());

const SUMMARY = `\n-- ${Math.floor((COUNT * BODY.length) / 1024)} Kbytes in ${COUNT} Requests.\n`;

test("in process: first message written alone, then blocks of about 64 KiB", async () => {
  const c = captureIO(t.dir, "mailq");
  const stamps: number[] = [];
  const write = c.io.stdout;
  c.io.stdout = (text) => {
    stamps.push(performance.now());
    write(text);
  };
  const t0 = performance.now();
  expect(await mailq([], c.io)).toBe(0);
  const total = performance.now() - t0;
  const first = c.writes[0].split("\n");
  expect(first[0]).toBe("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------");
  expect(first.length).toBe(4); // header, sender line, recipient line, ""
  expect(stamps[0] - t0).toBeLessThan(Math.max(200, total / 4));
  for (const w of c.writes) expect(w.length).toBeLessThan(65536 + 1024);
  expect(c.writes.length).toBeGreaterThan(20);
  const out = c.out();
  expect(out.endsWith(SUMMARY)).toBe(true);
  expect(out.split("\n\n").length).toBe(COUNT + 1);
}, 30_000);

function vmRssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : -1;
}

test("real process: first line at once, a stalled reader stalls the writer, memory bounded", async () => {
  const t0 = performance.now();
  const proc = Bun.spawn([BUN, MAIN, "-c", t.dir, "mailq"], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, TZ: "UTC" },
  });
  const timer = setTimeout(() => proc.kill(), 30_000);
  try {
    const reader = proc.stdout.getReader();
    const firstChunk = await reader.read();
    const firstAt = performance.now() - t0;
    expect(new TextDecoder().decode(firstChunk.value).startsWith("-Queue ID-")).toBe(true);
    // Stop reading: the pipe fills and mailq must wait, not pile the listing up in memory.
    await Bun.sleep(700);
    expect(proc.exitCode).toBeNull();
    expect(vmRssKb(proc.pid)).toBeLessThan(200 * 1024);
    const chunks: Uint8Array[] = [firstChunk.value!];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    expect(await proc.exited).toBe(0);
    expect(await new Response(proc.stderr).text()).toBe("");
    const out = new TextDecoder().decode(Buffer.concat(chunks));
    expect(out.endsWith(SUMMARY)).toBe(true);
    expect(out.split("\n").length).toBe(COUNT * 3 + 3);
    expect(firstAt).toBeLessThan(5000);
  } finally {
    clearTimeout(timer);
  }
}, 40_000);

test("real process: the reader goes away (mailq | head -1) -> quiet exit 0", async () => {
  const proc = Bun.spawn(["sh", "-c", `"${BUN}" "${MAIN}" -c "${t.dir}" mailq | head -1`], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, TZ: "UTC" },
  });
  const timer = setTimeout(() => proc.kill(), 30_000);
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  expect(out).toBe("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
  expect(err).toBe("");
  expect(code).toBe(0);
}, 40_000);

test("real process: exit status of mailq itself under head is 0", async () => {
  const proc = Bun.spawn(
    [
      "bash",
      "-c",
      `"${BUN}" "${MAIN}" -c "${t.dir}" mailq | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}"`,
    ],
    { stdout: "pipe", stderr: "pipe", env: { ...process.env, TZ: "UTC" } },
  );
  const timer = setTimeout(() => proc.kill(), 30_000);
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  clearTimeout(timer);
  expect(out).toBe("0\n");
  expect(await new Response(proc.stderr).text()).toBe("");
}, 40_000);
