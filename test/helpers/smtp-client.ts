/**
 * A raw-socket SMTP client for tests: sends exactly the bytes it is given (pipelined or not,
 * broken line endings included) and reads replies line by line, so tests can assert the
 * server's exact behaviour.
 *
 *   const c = await SmtpClient.connect(port);
 *   expect(await c.line()).toStartWith("220 ");
 *   expect(await c.cmd("EHLO x")).toEqual(["250-mx.example.test", ..., "250 CHUNKING"]);
 *   c.close();
 */
import type { Socket } from "bun";

export class SmtpClient {
  #sock!: Socket<undefined>;
  #buf = "";
  #waiters: (() => void)[] = [];
  #closed = false;
  /** Everything received, for debugging failed tests. */
  transcript = "";
  /** Writes the socket took only in part (the peer was not reading). */
  partialWrites = 0;

  static async connect(port: number, host = "127.0.0.1"): Promise<SmtpClient> {
    const c = new SmtpClient();
    const wake = () => {
      const w = c.#waiters;
      c.#waiters = [];
      for (const f of w) f();
    };
    c.#sock = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data(_s, d) {
          const text = Buffer.from(d).toString("latin1");
          c.#buf += text;
          c.transcript += text;
          wake();
        },
        close() {
          c.#closed = true;
          wake();
        },
        error() {
          c.#closed = true;
          wake();
        },
      },
    });
    return c;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Send raw text (latin1 bytes, nothing added), writing all of it. */
  async send(text: string | Uint8Array): Promise<void> {
    let bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
    for (let guard = 0; bytes.length > 0 && guard < 1_000_000; guard++) {
      if (this.#closed) return;
      const n = this.#sock.write(bytes);
      if (n >= bytes.length) return;
      this.partialWrites++;
      bytes = bytes.subarray(Math.max(0, n));
      await Bun.sleep(1);
    }
  }

  async #wait(ms: number): Promise<boolean> {
    if (this.#closed) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ok = await Promise.race([
      new Promise<boolean>((r) => this.#waiters.push(() => r(true))),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), ms);
      }),
    ]);
    clearTimeout(timer);
    return ok;
  }

  /** The next reply line (without CRLF); throws on timeout or when the server closed first. */
  async line(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.#buf.indexOf("\r\n");
      if (i !== -1) {
        const l = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 2);
        return l;
      }
      if (this.#closed)
        throw new Error(`connection closed; got so far: ${JSON.stringify(this.transcript)}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timeout waiting for a reply; got so far: ${JSON.stringify(this.transcript)}`,
        );
      await this.#wait(left);
    }
  }

  /** The lines of the next (possibly multi-line) reply. */
  async reply(timeoutMs = 5000): Promise<string[]> {
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const l = await this.line(timeoutMs);
      lines.push(l);
      if (l[3] !== "-") return lines;
    }
    throw new Error("reply of more than 1000 lines");
  }

  /** Send a command line (CRLF added) and return its reply lines. */
  async cmd(line: string, timeoutMs = 5000): Promise<string[]> {
    await this.send(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  /** Resolves true when the server closed the connection within the time. */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline) await this.#wait(deadline - Date.now());
    return this.#closed;
  }

  /** Unread text received so far. */
  get pending(): string {
    return this.#buf;
  }

  /** Stop reading (the server's replies back up). */
  pause(): void {
    this.#sock.pause();
  }

  resume(): void {
    this.#sock.resume();
  }

  close(): void {
    if (!this.#closed) this.#sock.end();
  }

  destroy(): void {
    this.#sock.terminate();
  }
}
