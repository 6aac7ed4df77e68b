/**
 * smtp-load -- an SMTP load generator for the benchmark, like Postfix's smtp-source but with
 * STARTTLS and with the time from end of data to the 250 measured for every message.
 *
 *   bun bench/smtp-load.ts --target 127.0.0.1:2525 --sessions 20 --messages 5000 \
 *     [--size 1024] [--rcpts 1] [--reuse] [--starttls] [--json]
 *
 * Each session: greeting, EHLO, (STARTTLS, EHLO), then MAIL, RCPT..., DATA, content and
 * "." one command at a time (no pipelining, as smtp-source), then QUIT; with --reuse a session
 * sends messages until all are sent (smtp-source -d). Certificates are not verified (the
 * benchmark's servers use a self-signed ECDSA certificate); the handshake is a full one each
 * session (no resumption), as for a new client. Prints one JSON line:
 *   { sent, failed, seconds, msgsPerSec, latencyMs: { p50, p90, p99, max }, errors }
 */
import type { Socket } from "bun";

export interface LoadOptions {
  host: string;
  port: number;
  sessions: number;
  messages: number;
  size: number;
  rcpts: number;
  reuse: boolean;
  starttls: boolean;
  from?: string;
  to?: string;
  /** Per-reply timeout (ms); the run fails on a timeout. */
  timeoutMs?: number;
}

export interface LoadResult {
  sent: number;
  failed: number;
  seconds: number;
  msgsPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  errors: string[];
}

/** A message of `size` bytes: a few header fields, then 76-character lines. */
export function messageContent(size: number, from: string, to: string): Uint8Array {
  let head = `From: <${from}>\r\nTo: <${to}>\r\nSubject: benchmark\r\n\r\n`;
  const line = `${"0123456789".repeat(8).slice(0, 76)}\r\n`;
  const parts: string[] = [head];
  let n = head.length;
  while (n + line.length <= size) {
    parts.push(line);
    n += line.length;
  }
  if (n < size) {
    const rest = Math.max(0, size - n - 2);
    parts.push(`${"x".repeat(rest)}\r\n`);
  }
  head = parts.join("");
  return new TextEncoder().encode(`${head}.\r\n`);
}

type Step = "greet" | "ehlo" | "starttls" | "ehlo2" | "mail" | "rcpt" | "data" | "dot" | "quit";

interface Conn {
  step: Step;
  buf: string;
  rcptLeft: number;
  tls: boolean;
  sock: Socket<Conn>;
  sentAt: number;
  done: boolean;
  resolve: () => void;
  timer: ReturnType<typeof setTimeout> | null;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const from = o.from ?? "a@example.com";
  const to = o.to ?? "b@example.net";
  const content = messageContent(o.size, from, to);
  const timeoutMs = o.timeoutMs ?? 60_000;
  const latencies: number[] = [];
  const errors: string[] = [];
  let started = 0; // messages begun (MAIL sent)
  let sent = 0;
  let failed = 0;
  const t0 = performance.now();

  const write = (c: Conn, data: string | Uint8Array) => {
    const n = c.sock.write(data);
    const len = typeof data === "string" ? Buffer.byteLength(data) : data.length;
    if (n < len) {
      // Rare with the sizes used here; keep it simple and correct.
      const rest =
        typeof data === "string" ? new TextEncoder().encode(data).subarray(n) : data.subarray(n);
      pendingWrites.set(c, [...(pendingWrites.get(c) ?? []), rest]);
    }
  };
  const pendingWrites = new Map<Conn, Uint8Array[]>();
  const drain = (c: Conn) => {
    const q = pendingWrites.get(c);
    while (q && q.length > 0) {
      const head = q[0];
      const n = c.sock.write(head);
      if (n < head.length) {
        q[0] = head.subarray(Math.max(0, n));
        return;
      }
      q.shift();
    }
    pendingWrites.delete(c);
  };

  const fail = (c: Conn, why: string) => {
    if (c.done) return;
    if (errors.length < 20) errors.push(why);
    if (c.step === "dot" || c.step === "mail" || c.step === "rcpt" || c.step === "data") failed++;
    c.done = true;
    if (c.timer) clearTimeout(c.timer);
    c.sock.terminate();
    c.resolve();
  };

  const nextMessage = (c: Conn): boolean => {
    if (started >= o.messages) return false;
    started++;
    c.step = "mail";
    c.rcptLeft = o.rcpts;
    write(c, `MAIL FROM:<${from}>\r\n`);
    return true;
  };

  const onReply = (c: Conn, code: number, text: string) => {
    switch (c.step) {
      case "greet":
        if (code !== 220) return fail(c, `greeting: ${text}`);
        c.step = "ehlo";
        write(c, "EHLO load.example\r\n");
        return;
      case "ehlo":
      case "ehlo2":
        if (code !== 250) return fail(c, `EHLO: ${text}`);
        if (o.starttls && !c.tls) {
          c.step = "starttls";
          write(c, "STARTTLS\r\n");
          return;
        }
        if (!nextMessage(c)) {
          c.step = "quit";
          write(c, "QUIT\r\n");
        }
        return;
      case "starttls": {
        if (code !== 220) return fail(c, `STARTTLS: ${text}`);
        c.tls = true;
        const [, tlsSock] = c.sock.upgradeTLS<Conn>({
          data: c,
          tls: { rejectUnauthorized: false, serverName: "bench.example.com" },
          socket: tlsHandlers,
        });
        c.sock = tlsSock;
        c.step = "ehlo2";
        write(c, "EHLO load.example\r\n");
        return;
      }
      case "mail":
        if (code !== 250) return fail(c, `MAIL: ${text}`);
        c.step = "rcpt";
        c.rcptLeft--;
        write(c, `RCPT TO:<${to}>\r\n`);
        return;
      case "rcpt":
        if (code !== 250) return fail(c, `RCPT: ${text}`);
        if (c.rcptLeft > 0) {
          c.rcptLeft--;
          write(c, `RCPT TO:<${to}>\r\n`);
          return;
        }
        c.step = "data";
        write(c, "DATA\r\n");
        return;
      case "data":
        if (code !== 354) return fail(c, `DATA: ${text}`);
        c.step = "dot";
        c.sentAt = performance.now();
        write(c, content);
        return;
      case "dot":
        if (code !== 250) return fail(c, `end of data: ${text}`);
        latencies.push(performance.now() - c.sentAt);
        sent++;
        if (o.reuse && nextMessage(c)) return;
        c.step = "quit";
        write(c, "QUIT\r\n");
        return;
      case "quit":
        c.done = true;
        if (c.timer) clearTimeout(c.timer);
        c.sock.end();
        c.resolve();
        return;
    }
  };

  const onData = (c: Conn, bytes: Uint8Array) => {
    if (c.done) return;
    c.timer?.refresh();
    c.buf += Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
    for (;;) {
      const nl = c.buf.indexOf("\r\n");
      if (nl < 0) return;
      const line = c.buf.slice(0, nl);
      c.buf = c.buf.slice(nl + 2);
      // The last line of a reply has a space (or nothing) after the code.
      if (line.length > 3 && line[3] === "-") continue;
      onReply(c, Number.parseInt(line.slice(0, 3), 10), line);
      if (c.done) return;
    }
  };

  const tlsHandlers = {
    data(s: Socket<Conn>, b: Uint8Array) {
      if (s === s.data.sock) onData(s.data, b);
    },
    drain(s: Socket<Conn>) {
      drain(s.data);
    },
    close(s: Socket<Conn>) {
      if (!s.data.done && s === s.data.sock) fail(s.data, `connection closed in ${s.data.step}`);
    },
    error(s: Socket<Conn>, e: Error) {
      fail(s.data, `error in ${s.data.step}: ${e.message}`);
    },
    handshake(s: Socket<Conn>, ok: boolean, err: Error | null) {
      // Self-signed: not verified, but a failed handshake is a failure.
      if (
        !ok &&
        err &&
        !/self.signed|UNABLE_TO_VERIFY|unable to verify|SELF_SIGNED/i.test(
          String(err.message ?? err),
        )
      )
        fail(s.data, `TLS handshake: ${err.message}`);
    },
  };

  const session = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const c = {
        step: "greet",
        buf: "",
        rcptLeft: 0,
        tls: false,
        sentAt: 0,
        done: false,
        resolve,
        timer: null,
      } as unknown as Conn;
      Bun.connect<Conn>({
        hostname: o.host,
        port: o.port,
        data: c,
        socket: {
          open(s) {
            c.sock = s;
            c.timer = setTimeout(() => fail(c, `timeout in ${c.step}`), timeoutMs);
          },
          data(s, b) {
            if (s === s.data.sock) onData(s.data, b);
          },
          drain(s) {
            drain(s.data);
          },
          close(s) {
            if (!s.data.done && s === s.data.sock)
              fail(s.data, `connection closed in ${s.data.step}`);
          },
          error(s, e) {
            fail(s.data, `error in ${s.data.step}: ${e.message}`);
          },
          connectError(_s, e) {
            if (errors.length < 20) errors.push(`connect: ${e.message}`);
            c.done = true;
            resolve();
          },
        },
      }).catch((e) => {
        if (errors.length < 20) errors.push(`connect: ${String(e)}`);
        c.done = true;
        resolve();
      });
    });

  // Each worker runs sessions back to back until every message has been started.
  const worker = async () => {
    while (started < o.messages) {
      const before = started;
      await session();
      // A session that could not even start a message (refused) must not spin for ever.
      if (started === before && errors.length >= 20) return;
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.sessions, o.messages) }, worker));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies.length === 0
      ? 0
      : Math.round(
          latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 100,
        ) / 100;
  return {
    sent,
    failed: failed + Math.max(0, o.messages - sent - failed),
    seconds: Math.round(seconds * 1000) / 1000,
    msgsPerSec: Math.round((sent / seconds) * 10) / 10,
    latencyMs: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: pct(1) },
    errors,
  };
}

function parseArgs(argv: string[]): LoadOptions {
  const o: LoadOptions = {
    host: "127.0.0.1",
    port: 2525,
    sessions: 20,
    messages: 1000,
    size: 1024,
    rcpts: 1,
    reuse: false,
    starttls: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i] ?? "";
    if (a === "--target") {
      const t = v();
      const c = t.lastIndexOf(":");
      o.host = t.slice(0, c);
      o.port = Number(t.slice(c + 1));
    } else if (a === "--sessions") o.sessions = Number(v());
    else if (a === "--messages") o.messages = Number(v());
    else if (a === "--size") o.size = Number(v());
    else if (a === "--rcpts") o.rcpts = Number(v());
    else if (a === "--reuse") o.reuse = true;
    else if (a === "--starttls") o.starttls = true;
    else if (a === "--timeout") o.timeoutMs = Number(v()) * 1000;
    else throw new Error(`smtp-load: unknown option ${a}`);
  }
  if (!/^(127\.|::1$|localhost$)/.test(o.host)) throw new Error("smtp-load: loopback targets only");
  return o;
}

if (import.meta.main) {
  const r = await runLoad(parseArgs(process.argv.slice(2)));
  console.log(JSON.stringify(r));
  process.exit(r.sent > 0 && r.failed === 0 ? 0 : 1);
}
