/**
 * One client connection to an SMTP or LMTP server on a Bun socket (TCP or a unix-domain
 * socket): replies are read with a time limit, writes honour partial writes and backpressure
 * (Bun's socket.write may take only part of a buffer: the rest is sent from `drain`), and the
 * connection can be upgraded to TLS in place (RFC 3207 STARTTLS).
 *
 * Bun specifics (BUN-NOTES.md): after upgradeTLS the plain socket keeps receiving the raw
 * ciphertext, so data from any socket other than the current one is ignored; both sockets
 * report `close`. With rejectUnauthorized false, `handshake` reports ok=false for a certificate
 * that does not verify while the session stays usable; policy is decided by the caller.
 */

import type { PeerCertificate } from "node:tls";
import type { Socket, SocketHandler, TLSOptions } from "bun";
import { ReplyError, ReplyParser, type SmtpReply } from "./reply.ts";

export type ConnErrorKind = "connect" | "lost" | "timeout" | "protocol" | "aborted";

/** A low-level connection failure; the session turns it into Postfix's wording. */
export class ConnError extends Error {
  constructor(
    readonly kind: ConnErrorKind,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export type ConnectTarget = { hostname: string; port: number } | { unix: string };

export interface HandshakeResult {
  /** The TLS session is up (the certificate may still be unverified). */
  ok: boolean;
  /** Why the handshake failed, or why the certificate did not verify. */
  error: string | null;
  /** The certificate chain and name verified. */
  authorized: boolean;
  protocol: string;
  cipher: string;
  /** Subject CN of the server certificate, when there is one. */
  peerCn?: string;
  peerCert?: PeerCertificate;
}

interface ReadWaiter {
  resolve(reply: SmtpReply): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout> | null;
}

interface DrainWaiter {
  resolve(): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout> | null;
}

const encoder = new TextEncoder();

/** X.509 verification failures: the TLS session is up, only the certificate is not trusted. */
const VERIFY_ERRORS = new Set([
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "HOSTNAME_MISMATCH",
]);

const handlers: SocketHandler<Connection> = {
  open(s) {
    s.data.attach(s);
  },
  data(s, chunk) {
    s.data.onData(s, chunk);
  },
  drain(s) {
    s.data.onDrain(s);
  },
  end(s) {
    s.data.onGone(s, null);
  },
  close(s, err) {
    s.data.onGone(s, err ?? null);
  },
  error(s, err) {
    s.data.onGone(s, err);
  },
  handshake(s, ok, err) {
    s.data.onHandshake(s, ok, err);
  },
  connectError() {
    // Bun.connect rejects; nothing to do here (the handler keeps it off the rejection queue).
  },
};

export class Connection {
  private sock: Socket<Connection> | null = null;
  private readonly parser = new ReplyParser();
  private readonly replies: SmtpReply[] = [];
  private readWaiter: ReadWaiter | null = null;
  private readonly outQueue: Uint8Array[] = [];
  private drainWaiter: DrainWaiter | null = null;
  private handshakeDone: ((r: HandshakeResult) => void) | null = null;
  private upgrading = false;
  private gone: ConnError | null = null;
  /** Called once when the connection is gone (used by the connection cache). */
  onGoneHook: (() => void) | null = null;
  secure = false;

  private constructor() {}

  /** Connects, or throws a ConnError of kind "connect" (with the socket error code). */
  static async open(
    target: ConnectTarget,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Connection> {
    const conn = new Connection();
    const opts =
      "unix" in target
        ? { unix: target.unix, data: conn, socket: handlers }
        : { hostname: target.hostname, port: target.port, data: conn, socket: handlers };
    const connecting = Bun.connect<Connection>(
      opts as Parameters<typeof Bun.connect<Connection>>[0],
    );
    let timer: ReturnType<typeof setTimeout> | null = null;
    let onAbort: (() => void) | null = null;
    const limits = new Promise<never>((_, reject) => {
      if (timeoutMs > 0)
        timer = setTimeout(
          () => reject(new ConnError("connect", "Connection timed out", "ETIMEDOUT")),
          timeoutMs,
        );
      if (signal !== undefined) {
        onAbort = () => reject(new ConnError("aborted", "delivery aborted"));
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }
    });
    try {
      const sock = await Promise.race([connecting, limits]);
      conn.attach(sock);
      return conn;
    } catch (err) {
      // A connect that completes after the time limit is closed at once.
      connecting.then((s) => s.terminate()).catch(() => {});
      if (err instanceof ConnError) throw err;
      const e = err as { code?: string; message?: string };
      throw new ConnError("connect", e.message ?? String(err), e.code);
    } finally {
      if (timer !== null) clearTimeout(timer);
      if (onAbort !== null) signal?.removeEventListener("abort", onAbort);
    }
  }

  /** @internal socket handler */
  attach(s: Socket<Connection>): void {
    if (this.sock !== null) return;
    this.sock = s;
    // Commands are small writes answered by the server: Nagle's algorithm would only delay them.
    s.setNoDelay(true);
  }

  get isOpen(): boolean {
    return this.gone === null;
  }

  /** Replies that arrived without being asked for (a cached connection that got a 421). */
  get hasUnreadReplies(): boolean {
    return this.replies.length > 0;
  }

  /** @internal socket handler */
  onData(s: Socket<Connection>, chunk: Uint8Array): void {
    // Ciphertext still reaches the plain socket after an upgrade: only the current one counts.
    if (s !== this.sock || this.upgrading || this.gone !== null) return;
    let got: SmtpReply[];
    try {
      got = this.parser.feed(chunk);
    } catch (err) {
      this.fail(new ConnError("protocol", err instanceof ReplyError ? err.message : String(err)));
      return;
    }
    for (const r of got) this.replies.push(r);
    const w = this.readWaiter;
    if (w !== null && this.replies.length > 0) {
      this.readWaiter = null;
      if (w.timer !== null) clearTimeout(w.timer);
      w.resolve(this.replies.shift() as SmtpReply);
    }
  }

  /** @internal socket handler */
  onDrain(s: Socket<Connection>): void {
    if (s !== this.sock || this.gone !== null) return;
    this.flush();
  }

  /** @internal socket handler: end, close or error of either socket. */
  onGone(_s: Socket<Connection>, err: Error | null): void {
    if (this.gone !== null) return;
    const code = (err as { code?: string } | null)?.code;
    this.fail(new ConnError("lost", err?.message ?? "connection closed", code));
  }

  /** @internal socket handler */
  onHandshake(s: Socket<Connection>, ok: boolean, err: Error | null): void {
    const done = this.handshakeDone;
    if (done === null) return;
    this.handshakeDone = null;
    const code = (err as { code?: string } | null)?.code ?? "";
    // ok=false with a certificate error still leaves a working session (rejectUnauthorized off).
    const up = ok || VERIFY_ERRORS.has(code);
    const cipher = up ? s.getCipher() : null;
    let peerCn: string | undefined;
    let peerCert: PeerCertificate | undefined;
    if (up) {
      try {
        peerCert = s.getPeerCertificate();
        const cn = peerCert?.subject?.CN;
        peerCn = Array.isArray(cn) ? cn[0] : cn;
      } catch {
        peerCert = undefined;
      }
    }
    done({
      ok: up,
      error: err === null ? null : code !== "" ? code : err.message,
      authorized: up && s.authorized === true,
      protocol: up ? (s.getTLSVersion() ?? "") : "",
      cipher: cipher?.name ?? "",
      peerCn,
      peerCert,
    });
  }

  private fail(err: ConnError): void {
    if (this.gone !== null) return;
    this.gone = err;
    const r = this.readWaiter;
    if (r !== null && this.replies.length === 0) {
      this.readWaiter = null;
      if (r.timer !== null) clearTimeout(r.timer);
      r.reject(err);
    }
    const d = this.drainWaiter;
    if (d !== null) {
      this.drainWaiter = null;
      if (d.timer !== null) clearTimeout(d.timer);
      d.reject(err);
    }
    this.outQueue.length = 0;
    const h = this.handshakeDone;
    if (h !== null) {
      this.handshakeDone = null;
      h({ ok: false, error: err.message, authorized: false, protocol: "", cipher: "" });
    }
    try {
      this.sock?.end();
    } catch {
      // already closed
    }
    this.onGoneHook?.();
  }

  /** The next reply; rejects with a ConnError on timeout (the connection is then closed). */
  read(timeoutMs: number): Promise<SmtpReply> {
    const r = this.replies.shift();
    if (r !== undefined) return Promise.resolve(r);
    if (this.gone !== null) return Promise.reject(this.gone);
    return new Promise<SmtpReply>((resolve, reject) => {
      const w: ReadWaiter = { resolve, reject, timer: null };
      if (timeoutMs > 0)
        w.timer = setTimeout(() => {
          if (this.readWaiter === w) this.readWaiter = null;
          reject(new ConnError("timeout", "timed out"));
          this.fail(new ConnError("timeout", "timed out"));
        }, timeoutMs);
      this.readWaiter = w;
    });
  }

  /**
   * Sends bytes. Returns undefined when the socket took everything at once, else a promise
   * that settles when the rest has been written (rejects on timeout or a lost connection).
   */
  write(data: Uint8Array | string, timeoutMs = 0): Promise<void> | undefined {
    if (this.gone !== null) throw this.gone;
    if (typeof data === "string" && this.outQueue.length === 0 && data.length > 0) {
      // Commands as they are: bytes are made only for what the socket did not take.
      const n = (this.sock as Socket<Connection>).write(data);
      const len = Buffer.byteLength(data);
      if (n === len) return undefined;
      if (n >= 0) data = encoder.encode(data).subarray(n);
    }
    const buf = typeof data === "string" ? encoder.encode(data) : data;
    if (buf.length === 0) return undefined;
    if (this.outQueue.length === 0) {
      const n = (this.sock as Socket<Connection>).write(buf);
      if (n === buf.length) return undefined;
      if (n < 0) {
        const err = new ConnError("lost", "write failed");
        this.fail(err);
        throw err;
      }
      this.outQueue.push(n === 0 ? buf : buf.subarray(n));
    } else this.outQueue.push(buf);
    return this.drained(timeoutMs);
  }

  private drained(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: DrainWaiter = { resolve, reject, timer: null };
      if (timeoutMs > 0)
        w.timer = setTimeout(() => {
          if (this.drainWaiter === w) this.drainWaiter = null;
          reject(new ConnError("timeout", "timed out"));
          this.fail(new ConnError("timeout", "timed out"));
        }, timeoutMs);
      this.drainWaiter = w;
    });
  }

  private flush(): void {
    const sock = this.sock as Socket<Connection>;
    while (this.outQueue.length > 0) {
      const buf = this.outQueue[0];
      const n = sock.write(buf);
      if (n < 0) {
        this.fail(new ConnError("lost", "write failed"));
        return;
      }
      if (n < buf.length) {
        this.outQueue[0] = buf.subarray(n);
        return;
      }
      this.outQueue.shift();
    }
    const w = this.drainWaiter;
    if (w !== null) {
      this.drainWaiter = null;
      if (w.timer !== null) clearTimeout(w.timer);
      w.resolve();
    }
  }

  /** Upgrades to TLS in place (after the server's 220 to STARTTLS). */
  startTls(tls: TLSOptions, timeoutMs: number): Promise<HandshakeResult> {
    if (this.gone !== null)
      return Promise.resolve({
        ok: false,
        error: this.gone.message,
        authorized: false,
        protocol: "",
        cipher: "",
      });
    return new Promise<HandshakeResult>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      this.handshakeDone = (r) => {
        if (timer !== null) clearTimeout(timer);
        if (r.ok) this.secure = true;
        resolve(r);
      };
      this.upgrading = true;
      try {
        const [, tlsSock] = (this.sock as Socket<Connection>).upgradeTLS<Connection>({
          data: this,
          tls,
          socket: handlers,
        });
        this.sock = tlsSock;
      } catch (err) {
        this.upgrading = false;
        this.fail(new ConnError("protocol", `TLS upgrade failed: ${String(err)}`));
        return;
      }
      this.upgrading = false;
      if (timeoutMs > 0)
        timer = setTimeout(() => this.fail(new ConnError("timeout", "timed out")), timeoutMs);
    });
  }

  /** Closes the connection (no QUIT: the caller sends it first when it wants to). */
  close(): void {
    this.fail(new ConnError("lost", "closed by client"));
  }

  /** Closes at once (AbortSignal, timeouts). */
  abort(reason: ConnErrorKind = "aborted"): void {
    const sock = this.sock;
    this.fail(new ConnError(reason, reason === "aborted" ? "delivery aborted" : "timed out"));
    try {
      sock?.terminate();
    } catch {
      // already closed
    }
  }
}
