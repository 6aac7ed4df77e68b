/**
 * The control socket: how the queue tools (postqueue -f, postsuper -r/-H/-d, user add) tell a
 * running daemon that the queue changed, without the daemon polling. Like Postfix's public/qmgr
 * FIFO: a unix stream socket in the queue directory that takes one line per request.
 *
 *   wakeup            something in the queue changed: rescan what is due
 *   flush [SITE]      deliver deferred mail now (postqueue -f / -s SITE)
 *   reload            re-read the configuration (same as SIGHUP)
 *
 * A missing socket means no daemon runs: the change is seen at its next start.
 */
import { existsSync, unlinkSync } from "node:fs";
import { join } from "node:path";

export const CONTROL_SOCKET = "control.sock";

export type ControlRequest =
  | { kind: "wakeup" }
  | { kind: "flush"; site?: string }
  | { kind: "reload" };

export function controlSocketPath(queueDirectory: string): string {
  return join(queueDirectory, CONTROL_SOCKET);
}

function encode(req: ControlRequest): string {
  if (req.kind === "flush") return req.site ? `flush ${req.site}\n` : "flush\n";
  return `${req.kind}\n`;
}

export function parseControlLine(line: string): ControlRequest | null {
  const [verb, arg] = line.trim().split(/\s+/, 2);
  if (verb === "wakeup" || verb === "reload") return { kind: verb };
  if (verb === "flush") return arg ? { kind: "flush", site: arg } : { kind: "flush" };
  return null;
}

/**
 * Send one request to the daemon. Resolves true when a daemon took it, false when none runs.
 * Never throws and never waits longer than `timeoutMs`.
 */
export async function notifyDaemon(
  queueDirectory: string,
  req: ControlRequest,
  timeoutMs = 1000,
): Promise<boolean> {
  const path = controlSocketPath(queueDirectory);
  if (!existsSync(path)) return false;
  return new Promise<boolean>((resolve) => {
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    Bun.connect({
      unix: path,
      socket: {
        open(sock) {
          sock.write(encode(req));
          sock.end();
          finish(true);
        },
        data() {},
        error() {
          finish(false);
        },
        connectError() {
          finish(false);
        },
        close() {},
      },
    }).catch(() => finish(false));
  });
}

export interface ControlServer {
  stop(): void;
}

/** Listen on the control socket; `onRequest` runs for every well-formed line. */
export function listenControl(
  queueDirectory: string,
  onRequest: (req: ControlRequest) => void,
): ControlServer {
  const path = controlSocketPath(queueDirectory);
  // A socket file left by a killed daemon would make listen fail with EADDRINUSE.
  if (existsSync(path)) unlinkSync(path);
  const server = Bun.listen<{ buf: string }>({
    unix: path,
    socket: {
      open(sock) {
        sock.data = { buf: "" };
      },
      data(sock, data) {
        let buf = sock.data.buf + data.toString();
        if (buf.length > 4096) buf = "";
        for (let nl = buf.indexOf("\n"); nl !== -1; nl = buf.indexOf("\n")) {
          const req = parseControlLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (req) onRequest(req);
        }
        sock.data.buf = buf;
      },
    },
  });
  return {
    stop() {
      server.stop(true);
      if (existsSync(path)) unlinkSync(path);
    },
  };
}
