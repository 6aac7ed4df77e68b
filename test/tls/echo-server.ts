/**
 * A minimal SMTP-like server on Bun.listen for proving the TLS recipe: "220" greeting, EHLO
 * (offers STARTTLS before TLS), STARTTLS ("220 2.0.0 Ready to start TLS", then the upgrade),
 * QUIT, and "250 echo <line>" for anything else. With `implicit`, TLS starts in open() and the
 * greeting follows the handshake (port 465 style).
 */
import type { Socket, TCPSocketListener, TLSOptions } from "bun";
import {
  gatePlainHandler,
  isUpgraded,
  TlsHandshakeError,
  type TlsSessionInfo,
  upgradeServerSocket,
} from "../../src/tls/index.ts";

interface Conn {
  buf: string;
  tls: boolean;
  /** Bytes the client pipelined after STARTTLS, dropped before the handshake (RFC 3207). */
  discarded: string;
}

export interface EchoServer {
  port: number;
  /** Completed handshakes, in order. */
  sessions: TlsSessionInfo[];
  /** Handshake failures (message and code). */
  failures: { message: string; code?: string }[];
  /** Plaintext dropped after STARTTLS, per session. */
  discarded: string[];
  /** Lines the TLS side received (to show no plaintext leaked into it). */
  tlsLines: string[];
  /** Events the plain handler saw after an upgrade (must stay 0 with the gate). */
  leaks: number;
  closes: number;
  stop(): void;
}

export function startEchoServer(opts: {
  tls: () => TLSOptions;
  implicit?: boolean;
  handshakeTimeoutMs?: number;
}): EchoServer {
  const state: Omit<EchoServer, "port" | "stop"> = {
    sessions: [],
    failures: [],
    discarded: [],
    tlsLines: [],
    leaks: 0,
    closes: 0,
  };

  const onLine = (sock: Socket<Conn>, line: string): boolean => {
    const conn = sock.data;
    const verb = line.split(" ")[0].toUpperCase();
    if (conn.tls) state.tlsLines.push(line);
    if (verb === "EHLO") {
      sock.write(conn.tls ? "250-test\r\n250 PIPELINING\r\n" : "250-test\r\n250 STARTTLS\r\n");
    } else if (verb === "STARTTLS" && !conn.tls) {
      sock.write("220 2.0.0 Ready to start TLS\r\n");
      // RFC 3207 4.2: whatever the client pipelined after STARTTLS is dropped.
      conn.discarded = conn.buf;
      conn.buf = "";
      startTls(sock, () => {});
      return false;
    } else if (verb === "QUIT") {
      sock.write("221 2.0.0 Bye\r\n");
      sock.end();
      return false;
    } else sock.write(`250 echo ${line}\r\n`);
    return true;
  };

  const feed = (sock: Socket<Conn>, bytes: Uint8Array): void => {
    const conn = sock.data;
    conn.buf += Buffer.from(bytes).toString("latin1");
    for (let nl = conn.buf.indexOf("\n"); nl >= 0; nl = conn.buf.indexOf("\n")) {
      const line = conn.buf.slice(0, nl).replace(/\r$/, "");
      conn.buf = conn.buf.slice(nl + 1);
      if (!onLine(sock, line)) return;
    }
  };

  const tlsHandlers = {
    data: feed,
    close() {
      state.closes++;
    },
  };

  const startTls = (sock: Socket<Conn>, then: (tls: Socket<Conn>) => void): void => {
    const conn = sock.data;
    const up = upgradeServerSocket(sock, {
      tls: opts.tls(),
      handlers: tlsHandlers,
      data: conn,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 5000,
    });
    up.handshake.then(
      (info) => {
        conn.tls = true;
        state.sessions.push(info);
        state.discarded.push(conn.discarded);
        then(up.socket);
      },
      (err: TlsHandshakeError) => {
        state.failures.push({ message: err.message, code: err.code });
      },
    );
  };

  const plain = gatePlainHandler<Conn>({
    open(sock) {
      sock.data = { buf: "", tls: false, discarded: "" };
      if (opts.implicit) startTls(sock, (tls) => tls.write("220 test ESMTP\r\n"));
      else sock.write("220 test ESMTP\r\n");
    },
    data(sock, bytes) {
      // Ciphertext reaching the plain handler of an upgraded socket would be a leak.
      if (isUpgraded(sock)) state.leaks++;
      feed(sock, bytes);
    },
    close() {
      state.closes++;
    },
    error() {},
  });

  const listener: TCPSocketListener<Conn> = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: 0,
    socket: plain,
  });
  return {
    port: listener.port,
    get sessions() {
      return state.sessions;
    },
    get failures() {
      return state.failures;
    },
    get discarded() {
      return state.discarded;
    },
    get tlsLines() {
      return state.tlsLines;
    },
    get leaks() {
      return state.leaks;
    },
    get closes() {
      return state.closes;
    },
    stop() {
      listener.stop(true);
    },
  };
}

export { TlsHandshakeError };
