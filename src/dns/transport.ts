/**
 * One query to one server and back: over UDP from a fresh socket (a new random source port per
 * query, RFC 5452 section 9.2), or over TCP with the two-byte length prefix (RFC 1035 section
 * 4.2.2, RFC 7766) when the UDP answer was truncated.
 */

import { createSocket } from "node:dgram";
import { createConnection } from "node:net";
import type { DecodedPacket } from "dns-packet";
import { decodeAnswer } from "./packet.ts";
import { formatServer } from "./servers.ts";
import type { DnsServer, DnsType } from "./types.ts";

export type Exchange =
  | { kind: "answer"; packet: DecodedPacket }
  | { kind: "timeout" }
  | { kind: "error"; error: string };

export interface QueryWire {
  id: number;
  /** Normalized question name, to check the answer against. */
  name: string;
  type: DnsType;
  wire: Buffer;
}

export function udpExchange(server: DnsServer, q: QueryWire, timeoutMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = createSocket(server.family === 6 ? "udp6" : "udp4");
    let done = false;
    const finish = (result: Exchange): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: "timeout" }), timeoutMs);
    socket.on("error", (err) =>
      finish({ kind: "error", error: `${formatServer(server)}: ${err.message}` }),
    );
    socket.on("message", (msg, rinfo) => {
      // Answers from another address or port, or for another query, are ignored: a spoofer has
      // to hit id, port and question within the timeout.
      if (rinfo.port !== server.port || !sameAddress(rinfo.address, server.address)) return;
      const p = decodeAnswer(msg, q.id, q.name, q.type);
      if (p !== null) finish({ kind: "answer", packet: p });
    });
    socket.send(q.wire, server.port, server.address, (err) => {
      if (err) finish({ kind: "error", error: `${formatServer(server)}: ${err.message}` });
    });
  });
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  // Zone ids and letter case differ between how servers are written and how rinfo reports them.
  const pa = a.indexOf("%");
  const pb = b.indexOf("%");
  return (
    (pa < 0 ? a : a.slice(0, pa)).toLowerCase() === (pb < 0 ? b : b.slice(0, pb)).toLowerCase()
  );
}

/** The largest DNS message TCP can carry: its length prefix is 16 bits. */
const MAX_TCP_MESSAGE = 65535;

export function tcpExchange(server: DnsServer, q: QueryWire, timeoutMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: server.address, port: server.port });
    let done = false;
    const finish = (result: Exchange): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: "timeout" }), timeoutMs);
    const prefix = Buffer.allocUnsafe(2);
    prefix.writeUInt16BE(q.wire.length, 0);
    let header: Buffer = Buffer.alloc(0);
    let body: Buffer | undefined;
    let filled = 0;
    socket.setNoDelay(true);
    socket.on("connect", () => {
      socket.write(Buffer.concat([prefix, q.wire]));
    });
    socket.on("data", (chunk: Buffer) => {
      let data = chunk;
      if (body === undefined) {
        header = header.length === 0 ? data : Buffer.concat([header, data]);
        if (header.length < 2) return;
        const length = header.readUInt16BE(0);
        if (length < 12 || length > MAX_TCP_MESSAGE) {
          finish({ kind: "error", error: `${formatServer(server)}: bad TCP answer length` });
          return;
        }
        body = Buffer.allocUnsafe(length);
        data = header.subarray(2);
      }
      const n = Math.min(data.length, body.length - filled);
      data.copy(body, filled, 0, n);
      filled += n;
      if (filled < body.length) return;
      const p = decodeAnswer(body, q.id, q.name, q.type);
      finish(
        p === null
          ? { kind: "error", error: `${formatServer(server)}: TCP answer does not match the query` }
          : { kind: "answer", packet: p },
      );
    });
    socket.on("error", (err) =>
      finish({ kind: "error", error: `${formatServer(server)}: ${err.message}` }),
    );
    socket.on("close", () =>
      finish({ kind: "error", error: `${formatServer(server)}: TCP connection closed early` }),
    );
  });
}
