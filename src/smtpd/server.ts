/**
 * The listener of one master.cf smtpd service: Bun.listen on the service's address, one
 * SmtpSession per connection, maxproc as the cap on concurrent sessions, the client's name
 * looked up before the greeting, and a socket transport that honours partial writes
 * (BUN-NOTES.md: socket.write may take only part of a large buffer) and flow control.
 *
 * TLS (src/tls/upgrade.ts): STARTTLS upgrades the connection in place when the session asks
 * (transport.startTls); with $smtpd_tls_wrappermode the connection is upgraded as it is
 * accepted and the session starts after the handshake (RFC 8314). Either way the certificate
 * is the one ctx.tls has at that moment, so a renewed one needs no restart.
 */
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import type { Config, MasterService } from "../config/types.ts";
import { logger } from "../log/index.ts";
import {
  gatePlainHandler,
  logHandshakeFailure,
  type TlsSessionInfo,
  upgradeServerSocket,
} from "../tls/upgrade.ts";
import { lookupPeer, normalizeAddr } from "./peer.ts";
import { SmtpSession } from "./session.ts";
import { smtpdSettings } from "./settings.ts";
import type { SessionTransport, SmtpdContext, TlsInfo } from "./types.ts";

const log = logger("smtpd");
const encoder = new TextEncoder();

/** Replies queued for a client that does not read them; past this, its input is paused. */
const OUTPUT_HIGH_WATER = 1 << 20;
/** After our last reply and FIN, how long a client may keep its side open before we close. */
const CLOSE_LINGER_MS = 2000;
/** Input kept from a client before its session exists (it spoke before the greeting). */
const EARLY_INPUT_LIMIT = 1 << 16;

export interface SmtpdServer {
  /** The port listened on (the one the kernel chose for port 0). */
  readonly port: number;
  readonly hostname: string;
  /** Sessions open now. */
  readonly sessions: number;
  /** New sessions use this configuration; sessions in flight keep theirs. */
  reconfigure(cfg: Config, service?: MasterService): void;
  /**
   * Stop accepting. Drain (reload removed the service): sessions go on undisturbed until they
   * end by themselves, as Postfix's smtpd processes finish their session after a reload; a later
   * stop() call without drain ends the wait. Graceful: sessions in the middle of a mail
   * transaction may finish until `timeoutMs` (default 10 s); every other session is told
   * 421 4.3.2 and closed.
   */
  stop(opts?: { graceful?: boolean; drain?: boolean; timeoutMs?: number }): Promise<void>;
}

export interface StartSmtpdOptions {
  service: MasterService;
  /** The configuration with the service's master.cf -o overrides applied. */
  cfg: Config;
  ctx: SmtpdContext;
}

interface Conn {
  /** The connection's socket now: the plain one, or the TLS one after an upgrade. */
  sock: Socket<Conn>;
  session: SmtpSession | null;
  transport: SocketTransport;
  early: Uint8Array[];
  earlyBytes: number;
  closed: boolean;
  counted: boolean;
  /** Implicit TLS: what the handshake negotiated, for the session. */
  tls: TlsInfo | null;
}

class SocketTransport implements SessionTransport {
  #queue: Uint8Array[] = [];
  #queued = 0;
  #closeAfter = false;
  #closed = false;
  #pausedBy = new Set<"session" | "output">();
  #linger: ReturnType<typeof setTimeout> | null = null;
  startTls?: () => Promise<TlsInfo>;

  constructor(private sock: Socket<Conn>) {}

  /** After an upgrade: replies go to the TLS socket. */
  setSocket(sock: Socket<Conn>): void {
    this.sock = sock;
  }

  write(data: string): void {
    if (this.#closed) return;
    if (this.#queue.length > 0) {
      this.#enqueue(encoder.encode(data));
      return;
    }
    // The string as it is: no Uint8Array per reply for the collector (replies are the most
    // frequent writes); bytes are made only for what the socket did not take.
    const n = this.sock.write(data);
    const len = Buffer.byteLength(data);
    if (n < len) this.#enqueue(encoder.encode(data).subarray(Math.max(0, n)));
  }

  #enqueue(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    if (this.#queued > OUTPUT_HIGH_WATER) this.#pause("output");
  }

  /** Bun's drain: the socket can take more. */
  drain(): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0];
      const n = this.sock.write(head);
      if (n < head.length) {
        this.#queue[0] = head.subarray(Math.max(0, n));
        this.#queued -= Math.max(0, n);
        return;
      }
      this.#queue.shift();
      this.#queued -= head.length;
    }
    this.#resume("output");
    if (this.#closeAfter) this.#finish();
  }

  close(): void {
    if (this.#closed) return;
    if (this.#queue.length > 0) this.#closeAfter = true;
    else this.#finish();
  }

  #finish(): void {
    this.#closed = true;
    this.sock.end();
    // end() only half-closes: a client that never closes its side (and keeps sending) would
    // hold the connection, and its maxproc slot, for ever. Give it a moment to read our last
    // reply, then close for good, as close(2) does in Postfix.
    this.#linger = setTimeout(() => this.sock.terminate(), CLOSE_LINGER_MS);
    this.#linger.unref?.();
  }

  /** The peer is gone: drop what could not be sent. */
  gone(): void {
    this.#closed = true;
    this.#queue = [];
    this.#queued = 0;
    if (this.#linger) clearTimeout(this.#linger);
    this.#linger = null;
  }

  pause(): void {
    this.#pause("session");
  }

  resume(): void {
    this.#resume("session");
  }

  #pause(why: "session" | "output"): void {
    if (this.#pausedBy.size === 0) this.sock.pause();
    this.#pausedBy.add(why);
  }

  #resume(why: "session" | "output"): void {
    if (!this.#pausedBy.delete(why)) return;
    if (this.#pausedBy.size === 0 && !this.#closed) this.sock.resume();
  }
}

/** Addresses to bind: the service's host, else $inet_interfaces. */
function bindAddresses(service: MasterService, cfg: Config): string[] {
  if (service.host) return [service.host.replace(/^\[(.*)\]$/, "$1")];
  const out: string[] = [];
  for (const i of cfg.list("inet_interfaces")) {
    const v = i.toLowerCase();
    if (v === "all") out.push(cfg.str("inet_protocols") === "ipv6" ? "::" : "0.0.0.0");
    else if (v === "loopback-only") out.push("127.0.0.1");
    else out.push(v.replace(/^\[(.*)\]$/, "$1"));
  }
  return out.length > 0 ? [...new Set(out)] : ["0.0.0.0"];
}

export async function startSmtpd(opts: StartSmtpdOptions): Promise<SmtpdServer> {
  let cfg = opts.cfg;
  let service = opts.service;
  const ctx = opts.ctx;
  const conns = new Set<Conn>();
  let lastBusyWarning = 0;
  let stopping = false;
  let stopped: Promise<void> | null = null;
  let endDrain: (() => void) | null = null;

  const maxproc = (): number => service.maxproc;

  /** Bytes from a connection's socket, plain or TLS. */
  const data = (sock: Socket<Conn>, bytes: Uint8Array): void => {
    const conn = sock.data;
    if (!conn || conn.closed) return;
    if (conn.session) conn.session.feed(bytes);
    else if (conn.earlyBytes < EARLY_INPUT_LIMIT) {
      conn.early.push(bytes);
      conn.earlyBytes += bytes.length;
    }
  };
  const tlsHandlers: Omit<SocketHandler<Conn>, "open" | "handshake" | "connectError"> = {
    data,
    drain(sock) {
      sock.data?.transport.drain();
    },
    close(sock) {
      if (sock.data) gone(sock.data);
    },
    error(sock, err) {
      if (!sock.data) return;
      log.warn(`read error from ${sock.data.sock.remoteAddress}: ${err.message}`);
      gone(sock.data);
    },
  };

  /** Hands the connection to TLS; the promise settles with the handshake. */
  function upgrade(conn: Conn, timeoutMs: number): Promise<TlsSessionInfo> {
    const options = ctx.tls?.serverOptions?.();
    if (!options) return Promise.reject(new Error("no server certificate"));
    const up = upgradeServerSocket(conn.sock, {
      tls: options,
      handlers: tlsHandlers,
      data: conn,
      handshakeTimeoutMs: timeoutMs,
    });
    conn.sock = up.socket;
    conn.transport.setSocket(up.socket);
    return up.handshake;
  }

  const handler = gatePlainHandler<Conn>({
    open(sock: Socket<Conn>) {
      const transport = new SocketTransport(sock);
      const conn: Conn = {
        sock,
        session: null,
        transport,
        early: [],
        earlyBytes: 0,
        closed: false,
        counted: false,
        tls: null,
      };
      sock.data = conn;
      const limit = maxproc();
      if (stopping || (limit > 0 && conns.size >= limit)) {
        const now = Date.now();
        if (!stopping && now - lastBusyWarning > 60_000) {
          lastBusyWarning = now;
          log.warn(
            `service "${service.name}" (${service.port ?? ""}) has reached its process limit "${limit}": new clients may experience noticeable delays`,
          );
        }
        // Postfix's postscreen says this when every smtpd is busy.
        transport.write("421 4.3.2 All server ports are busy\r\n");
        transport.close();
        return;
      }
      conns.add(conn);
      conn.counted = true;
      const settings = smtpdSettings(cfg);
      if (!settings.wrapperMode) {
        if (ctx.tls) transport.startTls = () => upgrade(conn, settings.starttlsTimeoutMs);
        void begin(sock, conn);
        return;
      }
      // Implicit TLS (RFC 8314): the handshake first, then the greeting inside TLS.
      const addr = normalizeAddr(sock.remoteAddress);
      upgrade(conn, settings.starttlsTimeoutMs).then(
        (info) => {
          if (conn.closed) return;
          conn.tls = info;
          void begin(sock, conn);
        },
        (err) => {
          logHandshakeFailure(`unknown[${addr}]`, err);
          gone(conn);
          conn.sock.terminate();
        },
      );
    },
    data,
    drain(sock: Socket<Conn>) {
      sock.data?.transport.drain();
    },
    close(sock: Socket<Conn>) {
      if (sock.data) gone(sock.data);
    },
    error(sock: Socket<Conn>, err: Error) {
      log.warn(`read error from ${sock.remoteAddress}: ${err.message}`);
      if (sock.data) gone(sock.data);
    },
  });

  function gone(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.transport.gone();
    if (conn.counted) conns.delete(conn);
    conn.session?.peerClosed();
  }

  async function begin(sock: Socket<Conn>, conn: Conn): Promise<void> {
    const sessionCfg = cfg;
    const settings = smtpdSettings(sessionCfg);
    const addr = normalizeAddr(sock.remoteAddress);
    let client: Awaited<ReturnType<typeof lookupPeer>>;
    try {
      client = await lookupPeer(addr, sock.remotePort, {
        resolver: ctx.resolver,
        lookup: settings.peernameLookup,
      });
    } catch (err) {
      log.warn(
        `${addr}: client name lookup failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      client = {
        addr,
        port: sock.remotePort,
        name: "unknown",
        nameStatus: "temp",
        reverseName: "unknown",
        reverseStatus: "temp",
      };
    }
    const session = new SmtpSession({
      cfg: sessionCfg,
      ctx,
      service: service.name,
      client,
      transport: conn.transport,
      ...(conn.tls ? { tls: conn.tls } : {}),
    });
    conn.session = session;
    for (const b of conn.early) session.feed(b);
    conn.early = [];
    if (conn.closed) session.peerClosed();
    await session.start();
  }

  const addresses = bindAddresses(service, cfg);
  const port = service.port ?? 25;
  const listeners: TCPSocketListener<Conn>[] = [];
  try {
    for (const hostname of addresses) {
      listeners.push(Bun.listen<Conn>({ hostname, port, socket: handler }));
    }
  } catch (err) {
    for (const l of listeners) l.stop(true);
    throw err;
  }

  const server: SmtpdServer = {
    get port() {
      return listeners[0].port;
    },
    get hostname() {
      return listeners[0].hostname;
    },
    get sessions() {
      return conns.size;
    },
    reconfigure(next: Config, nextService?: MasterService) {
      cfg = next;
      if (nextService) service = nextService;
    },
    async stop(o: { graceful?: boolean; drain?: boolean; timeoutMs?: number } = {}) {
      const sessions = (): SmtpSession[] =>
        [...conns].map((c) => c.session).filter((s): s is SmtpSession => s != null);
      if (stopping) {
        // Escalation of a drain: stop waiting for the sessions to end by themselves.
        endDrain?.();
        return stopped ?? undefined;
      }
      stopping = true;
      for (const l of listeners) l.stop(false);
      stopped = (async () => {
        if (o.drain) {
          await Promise.race([
            settle(sessions(), o.timeoutMs ?? 24 * 3600_000),
            new Promise<void>((r) => {
              endDrain = r;
            }),
          ]);
        }
        if (o.graceful || o.drain) {
          for (const s of sessions()) s.shutdown({ afterTransaction: true });
          await settle(sessions(), o.drain ? 10_000 : (o.timeoutMs ?? 10_000));
        }
        for (const s of sessions()) s.shutdown();
        await settle(sessions(), 2_000);
        for (const c of conns) c.sock.terminate();
        conns.clear();
      })();
      return stopped;
    },
  };
  return server;
}

/** Wait until the sessions have ended, at most `ms`. */
async function settle(sessions: SmtpSession[], ms: number): Promise<void> {
  if (sessions.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(sessions.map((s) => s.closed)),
    new Promise<void>((r) => {
      timer = setTimeout(r, ms);
    }),
  ]);
  clearTimeout(timer);
}
