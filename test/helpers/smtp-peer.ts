/**
 * A real receiving SMTP or LMTP server for tests, on nodemailer's smtp-server: listens on a random
 * loopback port (or a unix-domain socket), records every envelope with its ESMTP parameters,
 * the exact message bytes received (after dot-unstuffing, as the server's onData sees them) and
 * the raw plaintext chunks of each connection (to see pipelined commands arrive in one write),
 * answers with scripted replies per phase and per recipient, and can offer STARTTLS.
 *
 *   const peer = await startSmtpPeer({ rcpt: { "bad@x.test": { code: 550, text: "5.1.1 no" } } });
 *   ... deliver to `[127.0.0.1]:${peer.port}` ...
 *   expect(peer.messages[0].rcptTo.map((r) => r.address)).toEqual(["good@x.test"]);
 *   await peer.stop();
 *
 * A reply text with "\n" is sent as a multi-line reply. Enhanced status codes are not added by
 * the server: put them in the text when a test wants them.
 */

import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerDataStream,
  type SMTPServerOptions,
  type SMTPServerSession,
} from "smtp-server";

export interface PeerReply {
  code: number;
  /** Text after the code; "\n" separates the lines of a multi-line reply. */
  text: string;
}

export interface SmtpPeerOptions {
  lmtp?: boolean;
  /** Listen on this unix-domain socket path instead of a TCP port. */
  unixPath?: string;
  /** Loopback address to listen on (default 127.0.0.1; any 127.x.y.z works on Linux). */
  host?: string;
  /** Port to listen on (default: a random free one). */
  port?: number;
  /** Answer 452 to recipients beyond this many per transaction. */
  maxRecipients?: number;
  /** Server name in the greeting and EHLO reply (default "peer.test"). */
  name?: string;
  /** SIZE limit announced (bytes). */
  size?: number;
  hidePipelining?: boolean;
  hide8BitMime?: boolean;
  hideSmtputf8?: boolean;
  /** Offer DSN (default true). */
  dsn?: boolean;
  /**
   * Offer STARTTLS with this certificate. broken: answer 220 and then send garbage;
   * maxVersion: the newest TLS version the server accepts (e.g. "TLSv1.1").
   */
  tls?: {
    key: string;
    cert: string;
    broken?: boolean;
    maxVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2";
  };
  /** Refuse the connection with this greeting instead of 220. */
  greeting?: PeerReply;
  /** Never send the greeting (to test time limits). */
  silent?: boolean;
  /** Reply to EHLO/LHLO (an error reply, to test HELO fallback). */
  ehlo?: PeerReply;
  mail?: PeerReply;
  /** Reply per recipient address (lowercase), or a function of it; default 250. */
  rcpt?: Record<string, PeerReply> | ((address: string) => PeerReply | undefined);
  /** Reply to the DATA command instead of 354. */
  data?: PeerReply;
  /** Reply at end of data (SMTP), or per recipient address for LMTP. */
  endOfData?: PeerReply | Record<string, PeerReply>;
  /** Do not keep message bytes (for very large messages): only count and hash them. */
  discardBody?: boolean;
}

export interface ReceivedMessage {
  mailFrom: SMTPServerAddress;
  rcptTo: SMTPServerAddress[];
  /** The message as received (dot-unstuffed); empty when discardBody. */
  raw: Uint8Array;
  size: number;
  sha256: string;
  secure: boolean;
  connection: number;
}

export interface SmtpPeer {
  port: number;
  host: string;
  /** "[127.0.0.1]:PORT" for smtp, "inet:127.0.0.1:PORT" or "unix:PATH" for lmtp. */
  nexthop: string;
  messages: ReceivedMessage[];
  /** Connections accepted so far. */
  connections: number;
  /** Plaintext chunks as received, per connection number (1-based), in order. */
  chunks: Map<number, string[]>;
  /** Command lines received (plaintext and inside TLS), per connection. */
  commands: Map<number, string[]>;
  /** Resolves when n messages have been received (rejects after timeoutMs). */
  waitForMessages(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves when the given connection has closed. */
  waitForClose(connection: number, timeoutMs?: number): Promise<void>;
  closed: Set<number>;
  stop(): Promise<void>;
}

function lookupRcpt(opts: SmtpPeerOptions, address: string): PeerReply | undefined {
  const r = opts.rcpt;
  if (r === undefined) return undefined;
  if (typeof r === "function") return r(address);
  return r[address.toLowerCase()];
}

function errorOf(reply: PeerReply): Error & { responseCode: number } {
  return Object.assign(new Error(reply.text), { responseCode: reply.code });
}

/** smtp-server internals this helper hooks into (per connection, never globally). */
interface PeerConnection {
  id: string;
  session: SMTPServerSession;
  _socket: { write(s: string): void; destroy(): void };
  _parser: { write: (chunk: Buffer, ...rest: unknown[]) => boolean };
  _createParser(): PeerConnection["_parser"];
  send(code: number, data?: string | string[], context?: unknown): void;
  handler_DATA(command: Buffer, callback: () => void): void;
  handler_STARTTLS(command: Buffer, callback: () => void): void;
  _onCommand(command: Buffer, callback: () => void): void;
  on(event: string, fn: () => void): void;
}

export async function startSmtpPeer(opts: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const messages: ReceivedMessage[] = [];
  const chunks = new Map<number, string[]>();
  const commands = new Map<number, string[]>();
  const closed = new Set<number>();
  const bySession = new Map<string, number>();
  let connections = 0;
  const waiters: Array<() => void> = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };

  const options: SMTPServerOptions = {
    name: opts.name ?? "peer.test",
    lmtp: opts.lmtp === true,
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: opts.tls === undefined ? ["AUTH", "STARTTLS"] : ["AUTH"],
    hidePIPELINING: opts.hidePipelining === true,
    hide8BITMIME: opts.hide8BitMime === true,
    hideSMTPUTF8: opts.hideSmtputf8 === true,
    hideDSN: opts.dsn === false,
    hideENHANCEDSTATUSCODES: true,
    logger: false,
    socketTimeout: 30_000,
    closeTimeout: 1_000,
    onConnect(_session, cb) {
      if (opts.silent) return;
      if (opts.greeting !== undefined) return cb(errorOf(opts.greeting));
      cb();
    },
    onMailFrom(_address, _session, cb) {
      if (opts.mail !== undefined && opts.mail.code >= 400) return cb(errorOf(opts.mail));
      cb();
    },
    onRcptTo(address, _session, cb) {
      const r = lookupRcpt(opts, address.address);
      if (r !== undefined && r.code >= 400) return cb(errorOf(r));
      cb();
    },
    onData(stream: SMTPServerDataStream, session, cb) {
      const parts: Buffer[] = [];
      const hash = createHash("sha256");
      let size = 0;
      stream.on("data", (b: Buffer) => {
        size += b.length;
        hash.update(b);
        if (!opts.discardBody) parts.push(b);
      });
      stream.on("end", () => {
        const env = session.envelope;
        messages.push({
          mailFrom: env.mailFrom as SMTPServerAddress,
          rcptTo: env.rcptTo.slice(),
          raw: new Uint8Array(Buffer.concat(parts)),
          size,
          sha256: hash.digest("hex"),
          secure: session.secure,
          connection: bySession.get(session.id) ?? 0,
        });
        notify();
        const eod = opts.endOfData;
        if (opts.lmtp && eod !== undefined && !("code" in eod)) {
          const per = env.rcptTo.map((r) => {
            const reply = (eod as Record<string, PeerReply>)[r.address.toLowerCase()];
            return reply === undefined || reply.code < 400
              ? (reply?.text ?? `2.0.0 <${r.address}> delivered`)
              : errorOf(reply);
          });
          return cb(null, per);
        }
        if (eod !== undefined && "code" in eod) {
          const reply = eod as PeerReply;
          return reply.code >= 400 ? cb(errorOf(reply)) : cb(null, reply.text);
        }
        cb(null, opts.lmtp ? undefined : "2.0.0 Ok: queued as PEER1");
      });
    },
    onClose(session) {
      const n = bySession.get(session.id);
      if (n !== undefined) closed.add(n);
      notify();
    },
  };
  if (opts.size !== undefined) options.size = opts.size;
  if (opts.maxRecipients !== undefined) options.maxRecipients = opts.maxRecipients;
  if (opts.tls !== undefined) {
    options.key = opts.tls.key;
    options.cert = opts.tls.cert;
    if (opts.tls.maxVersion !== undefined) {
      options.minVersion = "TLSv1";
      options.maxVersion = opts.tls.maxVersion;
    }
  }
  const server = new SMTPServer(options);
  server.on("error", () => {
    // TLS handshake failures and resets are part of the tests.
  });

  // Hook each connection as it is made, before it starts reading (smtp-server keeps them in a Set).
  const conns = (server as unknown as { connections: Set<PeerConnection> }).connections;
  const add = conns.add.bind(conns);
  conns.add = (c: PeerConnection) => {
    const n = ++connections;
    bySession.set(c.id, n);
    chunks.set(n, []);
    commands.set(n, []);
    const wrapParser = (p: PeerConnection["_parser"]) => {
      const write = p.write.bind(p);
      p.write = (chunk: Buffer, ...rest: unknown[]) => {
        chunks.get(n)?.push(Buffer.from(chunk).toString("latin1"));
        return write(chunk, ...rest);
      };
      return p;
    };
    wrapParser(c._parser);
    const createParser = c._createParser.bind(c);
    c._createParser = () => wrapParser(createParser());
    const onCommand = c._onCommand.bind(c);
    c._onCommand = (command, callback) => {
      commands.get(n)?.push(Buffer.from(command).toString("utf8"));
      onCommand(command, callback);
    };
    const send = c.send.bind(c);
    c.send = (code, data, context) => {
      if (typeof data === "string" && data.includes("\n"))
        return send(code, data.split("\n"), context);
      return send(code, data, context);
    };
    if (opts.ehlo !== undefined) {
      const ehlo = opts.ehlo;
      // HELO has its own handler; EHLO and LMTP's LHLO come here.
      (c as unknown as Record<string, unknown>).handler_EHLO = (_cmd: Buffer, cb: () => void) => {
        c.send(ehlo.code, ehlo.text);
        cb();
      };
    }
    if (opts.data !== undefined) {
      const data = opts.data;
      c.handler_DATA = (_cmd, cb) => {
        c.send(data.code, data.text);
        cb();
      };
    }
    if (opts.tls?.broken) {
      c.handler_STARTTLS = (_cmd, _cb) => {
        c.send(220, "Ready to start TLS");
        setTimeout(() => {
          c._socket.write("this is not a TLS server hello\r\n\r\n");
          setTimeout(() => c._socket.destroy(), 50);
        }, 10);
      };
    }
    return add(c);
  };

  let port = 0;
  const host = opts.host ?? "127.0.0.1";
  if (opts.unixPath !== undefined) {
    rmSync(opts.unixPath, { force: true });
    await new Promise<void>((resolve) => server.listen(opts.unixPath, () => resolve()));
  } else {
    await new Promise<void>((resolve, reject) => {
      server.server.once("error", reject);
      server.listen(opts.port ?? 0, host, () => resolve());
    });
    port = (server.server.address() as AddressInfo).port;
  }

  const waitUntil = (cond: () => boolean, timeoutMs: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      if (cond()) return resolve();
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = () => {
        if (cond()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      waiters.push(check);
    });

  return {
    port,
    host,
    nexthop:
      opts.unixPath !== undefined
        ? `unix:${opts.unixPath}`
        : opts.lmtp
          ? `inet:127.0.0.1:${port}`
          : `[${host}]:${port}`,
    messages,
    get connections() {
      return connections;
    },
    chunks,
    commands,
    closed,
    waitForMessages: (n, timeoutMs = 10_000) =>
      waitUntil(() => messages.length >= n, timeoutMs, `${n} messages`),
    waitForClose: (c, timeoutMs = 10_000) =>
      waitUntil(() => closed.has(c), timeoutMs, `connection ${c} to close`),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}
