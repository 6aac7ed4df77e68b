/**
 * A scripted STARTTLS client on node:net + node:tls (an implementation independent of the
 * server's Bun sockets), with a line reader that waits for reply lines.
 */
import { connect as netConnect, type Socket } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";

export class LineConn {
  #buf = "";
  #waiters: (() => void)[] = [];
  closed = false;

  constructor(readonly socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  attach(socket: Socket | TLSSocket): void {
    socket.on("data", (d: Buffer) => {
      this.#buf += d.toString("latin1");
      this.#wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.#wake();
    });
    socket.on("error", () => {});
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The next complete reply (all its lines), or null when the connection closed first. */
  async reply(timeoutMs = 5000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.#buf);
      if (m) {
        this.#buf = this.#buf.slice(m[0].length);
        return m[0].replace(/\r/g, "").trimEnd();
      }
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no reply within ${timeoutMs} ms (have ${JSON.stringify(this.#buf)})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Reset the buffer (bytes before the TLS handshake belong to the plain connection). */
  take(): string {
    const b = this.#buf;
    this.#buf = "";
    return b;
  }
}

export async function plainConnect(port: number): Promise<LineConn> {
  const sock = netConnect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  return new LineConn(sock);
}

/** Wraps the connection's socket in TLS; resolves after the handshake. */
export async function startTls(
  conn: LineConn,
  opts: ConnectionOptions = { rejectUnauthorized: false },
): Promise<{ tls: TLSSocket; line: LineConn }> {
  conn.socket.removeAllListeners("data");
  conn.socket.removeAllListeners("close");
  const tls = tlsConnect({ ...opts, socket: conn.socket as Socket });
  await new Promise<void>((resolve, reject) => {
    tls.once("secureConnect", resolve);
    tls.once("error", reject);
  });
  return { tls, line: new LineConn(tls) };
}

/**
 * One full session: greeting, EHLO, STARTTLS, handshake, EHLO, "NOOP <tag>", QUIT. Returns the
 * replies after TLS and the negotiated protocol; `inspect` sees the TLS socket after the handshake.
 */
export async function starttlsSession(
  port: number,
  tag: string,
  tlsOpts?: ConnectionOptions,
  inspect?: (tls: TLSSocket) => void,
): Promise<{ replies: string[]; protocol: string | null }> {
  const c = await plainConnect(port);
  if (!(await c.reply())?.startsWith("220 ")) throw new Error("no greeting");
  c.socket.write("EHLO client.example\r\n");
  if (!(await c.reply())?.includes("STARTTLS")) throw new Error("no STARTTLS");
  c.socket.write("STARTTLS\r\n");
  const ready = await c.reply();
  if (ready !== "220 2.0.0 Ready to start TLS") throw new Error(`STARTTLS: ${ready}`);
  const { tls, line } = await startTls(c, tlsOpts);
  inspect?.(tls);
  const replies: string[] = [];
  tls.write("EHLO client.example\r\n");
  replies.push((await line.reply()) ?? "(closed)");
  tls.write(`NOOP ${tag}\r\n`);
  replies.push((await line.reply()) ?? "(closed)");
  tls.write("QUIT\r\n");
  replies.push((await line.reply()) ?? "(closed)");
  const protocol = tls.getProtocol();
  tls.destroy();
  return { replies, protocol };
}
