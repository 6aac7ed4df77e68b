/**
 * Server-side TLS on a Bun.listen socket: STARTTLS (RFC 3207) after the "220 Ready to start
 * TLS" reply, and implicit TLS (RFC 8314, port 465) by upgrading in `open()` before anything is
 * written, so that each connection gets the certificate current at that moment (a renewed one
 * without a restart).
 *
 * Pitfalls of Bun handled here (BUN-NOTES.md):
 * - after upgradeTLS() the plain socket's handler still gets the raw ciphertext, and both
 *   sockets' `close` fire: gatePlainHandler() drops every event of an upgraded plain socket;
 * - the server-side `handshake` callback reports UNABLE_TO_GET_ISSUER_CERT (and friends) when no
 *   client certificate was asked for: not a failure on a server that does not verify clients;
 * - a handshake that never completes (a client that sends nothing, or garbage) is ended after
 *   `handshakeTimeoutMs` ($smtpd_starttls_timeout).
 *
 * What RFC 3207 section 4.2 asks of the session (dropping the bytes the client pipelined after
 * STARTTLS and forgetting EHLO, AUTH and the transaction) is the caller's: this module only
 * never lets pre-handshake plaintext reach the TLS socket's handler.
 */
import type { Socket, SocketHandler, TLSOptions } from "bun";
import { logger } from "../log/index.ts";
import type { TlsProtocolRange } from "./protocols.ts";
import { certificateChainPem, type ServerTls } from "./server-cert.ts";

/** What was negotiated: for the Received header (smtpd_tls_received_header) and the log. */
export interface TlsSessionInfo {
  /** "TLSv1.3" */
  protocol: string;
  /** OpenSSL name, "TLS_AES_256_GCM_SHA384" or "ECDHE-ECDSA-AES256-GCM-SHA384". */
  cipher: string;
  /** Symmetric key bits when known from the cipher name (Postfix's "(256/256 bits)"). */
  bits?: number;
}

export class TlsHandshakeError extends Error {
  constructor(
    message: string,
    /** The runtime's error code ("EPROTO", "ECONNRESET", "ETIMEDOUT"...), when there was one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = "TlsHandshakeError";
  }
}

/** Verification results a server that did not ask for a client certificate must ignore. */
const IGNORED_SERVER_ERRORS = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
]);

const log = logger("tls");

/** Bun TLSOptions for a server: certificate chain, key and the protocol range. */
export function serverTlsOptions(tls: ServerTls, protocols?: TlsProtocolRange): TLSOptions {
  const opts: TLSOptions = { cert: certificateChainPem(tls), key: tls.key };
  if (protocols !== undefined && protocols.secureOptions !== 0) {
    opts.secureOptions = protocols.secureOptions;
  }
  return opts;
}

/**
 * Connections handed to TLS, by their `data` object: after upgradeTLS() Bun calls the plain
 * handler with a new Socket wrapper for the same connection (so the socket object cannot be the
 * key), but with the same `data`.
 */
const upgraded = new WeakSet<object>();

function dataKey(socket: Socket<unknown>): object | null {
  const d = socket.data;
  return typeof d === "object" && d !== null ? d : null;
}

/** Whether this socket's connection was handed to TLS (true for the TLS socket too). */
export function isUpgraded(socket: Socket<unknown>): boolean {
  const key = dataKey(socket);
  return key !== null && upgraded.has(key);
}

/**
 * Wraps a Bun.listen socket handler so that, once a connection was upgraded, its plain events
 * (the ciphertext, the second `close`, errors) no longer reach the handler. The handler must
 * give each socket an object as `data` before it is upgraded.
 */
export function gatePlainHandler<D>(handler: SocketHandler<D>): SocketHandler<D> {
  const gated: SocketHandler<D> = { ...handler };
  const h = handler as Record<string, unknown>;
  const g = gated as Record<string, unknown>;
  for (const name of ["data", "drain", "close", "error", "end", "timeout"] as const) {
    const fn = h[name];
    if (typeof fn !== "function") continue;
    g[name] = (socket: Socket<D>, ...rest: unknown[]) => {
      if (isUpgraded(socket as Socket<unknown>)) return undefined;
      return (fn as (s: Socket<D>, ...r: unknown[]) => unknown)(socket, ...rest);
    };
  }
  return gated;
}

export interface UpgradeOptions<D> {
  /** Certificate, key and protocol bits (serverTlsOptions()). */
  tls: TLSOptions;
  /** Handlers of the TLS socket; `open` and `handshake` are this module's. */
  handlers: Omit<SocketHandler<D>, "open" | "handshake" | "connectError">;
  /** `data` of the TLS socket; default: the plain socket's. */
  data?: D;
  /** Time limit for the handshake; default 300 s ($smtpd_starttls_timeout). */
  handshakeTimeoutMs?: number;
}

export interface UpgradedSocket<D> {
  /** The TLS socket: write replies here from now on. */
  socket: Socket<D>;
  /**
   * Resolves when the handshake succeeded; rejects with TlsHandshakeError when it failed, timed
   * out or the client went away (the socket is then closed). Never an unhandled rejection.
   */
  handshake: Promise<TlsSessionInfo>;
}

function cipherBits(name: string): number | undefined {
  const n = name.toUpperCase();
  if (/AES_?256|CHACHA20|CAMELLIA_?256/.test(n)) return 256;
  if (/AES_?128|CAMELLIA_?128/.test(n)) return 128;
  if (/3DES|DES_?CBC3|DES-CBC3/.test(n)) return 168;
  return undefined;
}

/** Negotiated protocol and cipher of a TLS socket. */
export function sessionInfo(socket: Socket<unknown>): TlsSessionInfo {
  const c = socket.getCipher();
  const cipher = c?.name ?? c?.standardName ?? "unknown";
  const info: TlsSessionInfo = {
    protocol: socket.getTLSVersion() ?? c?.version ?? "unknown",
    cipher,
  };
  const bits = cipherBits(cipher);
  if (bits !== undefined) info.bits = bits;
  return info;
}

/** Postfix's log line: "Anonymous TLS connection established from NAME[ADDR]: ...". */
export function tlsLogText(namaddr: string, info: TlsSessionInfo): string {
  const bits = info.bits !== undefined ? ` (${info.bits}/${info.bits} bits)` : "";
  return `Anonymous TLS connection established from ${namaddr}: ${info.protocol} with cipher ${info.cipher}${bits}`;
}

/**
 * Starts TLS on an accepted plain socket. For STARTTLS call it right after writing the 220
 * reply; for implicit TLS call it from `open()`. The listener's handler must be wrapped in
 * gatePlainHandler().
 */
export function upgradeServerSocket<D>(raw: Socket<D>, opts: UpgradeOptions<D>): UpgradedSocket<D> {
  const handlers = opts.handlers;
  let settled = false;
  let resolveHs!: (info: TlsSessionInfo) => void;
  let rejectHs!: (err: TlsHandshakeError) => void;
  const handshake = new Promise<TlsSessionInfo>((res, rej) => {
    resolveHs = res;
    rejectHs = rej;
  });
  // The caller may drop the promise (a client that vanished): never an unhandled rejection.
  handshake.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fail = (socket: Socket<D> | null, err: TlsHandshakeError): void => {
    if (settled) return;
    settled = true;
    if (timer !== undefined) clearTimeout(timer);
    rejectHs(err);
    socket?.terminate();
  };

  const key = dataKey(raw as Socket<unknown>);
  if (key === null) {
    throw new TypeError("upgradeServerSocket: the plain socket needs an object as its data");
  }
  upgraded.add(key);
  const [, tlsSocket] = raw.upgradeTLS<D>({
    data: opts.data ?? raw.data,
    tls: { ...opts.tls, requestCert: false, rejectUnauthorized: false },
    socket: {
      ...handlers,
      handshake(socket, ok, err) {
        if (settled) return;
        const code = (err as { code?: string } | null)?.code;
        if (!ok && (err === null || code === undefined || !IGNORED_SERVER_ERRORS.has(code))) {
          fail(socket, new TlsHandshakeError(err?.message ?? "handshake failed", code));
          return;
        }
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        resolveHs(sessionInfo(socket as Socket<unknown>));
      },
      data(socket, bytes) {
        // Nothing reaches the session before the handshake is done (RFC 3207 section 4.2).
        if (!settled) return;
        return handlers.data?.(socket, bytes);
      },
      error(socket, err) {
        if (!settled) {
          const code = (err as { code?: string }).code;
          fail(socket, new TlsHandshakeError(err.message, code));
          return;
        }
        return handlers.error?.(socket, err);
      },
      close(socket, err) {
        if (!settled) {
          fail(null, new TlsHandshakeError("connection closed during the TLS handshake"));
        }
        return handlers.close?.(socket, err);
      },
    },
  });
  const ms = opts.handshakeTimeoutMs ?? 300_000;
  if (!settled && ms > 0) {
    timer = setTimeout(() => {
      fail(tlsSocket, new TlsHandshakeError(`TLS handshake timed out after ${ms} ms`, "ETIMEDOUT"));
    }, ms);
  }
  return { socket: tlsSocket, handshake };
}

/** A failed handshake logged as Postfix words it ("SSL_accept error from NAME[ADDR]: ..."). */
export function logHandshakeFailure(namaddr: string, err: unknown): void {
  const why = err instanceof Error ? err.message : String(err);
  log.info(`SSL_accept error from ${namaddr}: ${why}`);
}
