/**
 * Delivery threads: the smtp and lmtp agents run beside the main thread ($delivery_threads of
 * them), so that the SMTP client's work (DNS, TLS, reading bodies, dot-stuffing, the sockets to
 * next hops) uses the second core while the main thread receives mail and schedules. qmgr
 * is unchanged: it calls an agent that posts the request to a thread and resolves with the
 * thread's result. Everything that writes the queue stays on the main thread (one writer, one
 * group commit); a thread reads bodies through its own read-only connection.
 *
 * A destination always goes to the same thread (a hash of transport and next hop), so that the
 * thread's connection cache serves it. A thread that cannot start or dies is logged; its
 * deliveries in flight are deferred, and the next ones use an agent on the main thread.
 */

import type { MasterService } from "../config/types.ts";
import { type Logger, logger, logLine, type Severity } from "../log/index.ts";
import type { MessageRecord, RecipientRecord } from "../queue/types.ts";
import type { DeliveryAgent, DeliveryRequest, DeliveryResult } from "./types.ts";

/** Commands whose agents run in delivery threads. */
export const THREADED_COMMANDS: readonly string[] = ["smtp", "lmtp"];

export type ToThread =
  | { t: "init"; configDir: string | null; queuePath: string }
  | { t: "reload"; configDir: string | null }
  | {
      t: "deliver";
      id: number;
      command: string;
      queueId: string;
      message: MessageRecord;
      recipients: RecipientRecord[];
      transport: string;
      nexthop: string;
      service: MasterService;
    }
  | { t: "close" };

export type FromThread =
  | { t: "ready" }
  | { t: "fatal"; message: string }
  | { t: "log"; program: string; severity: Severity; text: string }
  | { t: "done"; id: number; result: DeliveryResult; corrupt?: string }
  | { t: "failed"; id: number; message: string; corrupt?: string }
  | { t: "reloaded" }
  | { t: "closed" };

export interface DeliveryThreadOptions {
  count: number;
  configDir: string | null;
  /** The queue database file (<queue_directory>/queue.db). */
  queuePath: string;
  /** The main thread's agent for a command, used while a thread cannot serve. */
  fallback(command: string): DeliveryAgent | undefined;
}

interface Pending {
  command: string;
  req: DeliveryRequest;
  resolve(r: DeliveryResult): void;
  reject(err: Error): void;
}

const CLOSE_TIMEOUT_MS = 10_000;
const RELOAD_TIMEOUT_MS = 5_000;

const log: Logger = logger("master");

class DeliveryThread {
  private worker: Worker | null = null;
  private ready = false;
  private failed = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing: Promise<void> | null = null;
  private onClosed: (() => void) | null = null;
  private onReloaded: (() => void)[] = [];
  /** Deliveries this thread reported on (for tests and `posteix status`-style reports). */
  completed = 0;

  constructor(
    private readonly index: number,
    private readonly opts: DeliveryThreadOptions,
  ) {}

  get state(): "idle" | "running" | "failed" | "stopped" {
    if (this.failed) return "failed";
    if (this.closing) return "stopped";
    return this.worker ? "running" : "idle";
  }

  /** False once the thread failed: callers use the main thread's agent instead. */
  get usable(): boolean {
    return !this.failed && this.closing === null;
  }

  deliver(command: string, req: DeliveryRequest): Promise<DeliveryResult> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<DeliveryResult>((resolve, reject) => {
      this.pending.set(id, { command, req, resolve, reject });
      const msg: ToThread = {
        t: "deliver",
        id,
        command,
        queueId: req.queueId,
        message: req.message,
        recipients: req.recipients,
        transport: req.transport,
        nexthop: req.nexthop,
        service: req.service as MasterService,
      };
      worker.postMessage(msg);
    });
  }

  /** Resolves when the thread has re-read the configuration (or could not: it says why). */
  reload(): Promise<void> {
    const worker = this.worker;
    if (!worker) return Promise.resolve();
    return Promise.race([
      new Promise<void>((resolve) => {
        this.onReloaded.push(resolve);
        worker.postMessage({ t: "reload", configDir: this.opts.configDir } satisfies ToThread);
      }),
      Bun.sleep(RELOAD_TIMEOUT_MS),
    ]);
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await Promise.race([
      new Promise<void>((resolve) => {
        this.onClosed = resolve;
        worker.postMessage({ t: "close" } satisfies ToThread);
      }),
      Bun.sleep(CLOSE_TIMEOUT_MS),
    ]);
    this.stopWorker(worker, "delivery thread stopped");
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(threadModule());
    worker.addEventListener("message", (e: MessageEvent<FromThread>) => this.receive(e.data));
    worker.addEventListener("error", (e: ErrorEvent) => {
      this.fail(`delivery thread ${this.index} crashed: ${e.message}`);
    });
    worker.addEventListener("close", () => {
      if (this.worker === worker && this.closing === null)
        this.fail(`delivery thread ${this.index} exited`);
    });
    worker.postMessage({
      t: "init",
      configDir: this.opts.configDir,
      queuePath: this.opts.queuePath,
    } satisfies ToThread);
    this.worker = worker;
    return worker;
  }

  private receive(m: FromThread): void {
    switch (m.t) {
      case "log":
        logLine(m.program, m.severity, m.text);
        return;
      case "ready":
        this.ready = true;
        return;
      case "fatal":
        this.fail(`delivery thread ${this.index} cannot start: ${m.message}`);
        return;
      case "done":
      case "failed": {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        this.completed++;
        if (m.corrupt) confirmCorrupt(p.req);
        if (m.t === "done") p.resolve(m.result);
        else p.reject(new Error(m.message));
        return;
      }
      case "reloaded":
        this.onReloaded.shift()?.();
        return;
      case "closed":
        this.onClosed?.();
        return;
    }
  }

  /** A thread that failed is not restarted: the main thread's agents take over, logged once. */
  private fail(why: string): void {
    if (this.failed) return;
    this.failed = true;
    log.error(`${why}; deliveries continue on the main thread`);
    if (this.worker) this.stopWorker(this.worker, why);
  }

  private stopWorker(worker: Worker, why: string): void {
    if (this.worker === worker) this.worker = null;
    worker.terminate();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      const fallback = this.opts.fallback(p.command);
      if (!this.ready && fallback) {
        // The thread never started: nothing was sent, the main thread delivers.
        fallback.deliver(p.req).then(p.resolve, p.reject);
      } else {
        // In flight: deferred by qmgr ("delivery agent error") and tried again.
        p.reject(new Error(why));
      }
    }
  }
}

/**
 * Where the thread's module is: next to this file when run from source; in the compiled
 * executable, where build.ts put it (an extra entry point), named from the bundle's root.
 */
function threadModule(): string {
  const compiled = import.meta.url.includes("/$bunfs/") || import.meta.url.includes("~BUN");
  return compiled ? "./delivery/thread.ts" : new URL("./thread.ts", import.meta.url).href;
}

/**
 * The thread found the body damaged: read it once more here, through qmgr's body(), which
 * sees the same damage and sets the message aside in the corrupt state (qmgr.quarantine).
 */
function confirmCorrupt(req: DeliveryRequest): void {
  try {
    for (const _ of req.body() as Iterable<Uint8Array>) {
      // Only the reading matters.
    }
  } catch {
    // Expected: the error is what marks the message.
  }
}

export class DeliveryThreads {
  private readonly threads: DeliveryThread[];
  private readonly proxies = new Map<string, DeliveryAgent>();

  constructor(private readonly opts: DeliveryThreadOptions) {
    this.threads = Array.from({ length: opts.count }, (_, i) => new DeliveryThread(i, opts));
  }

  /** The agent qmgr calls for `command`: a thread's when it can, else the main thread's. */
  agent(command: string): DeliveryAgent | undefined {
    const fallback = this.opts.fallback(command);
    if (!fallback || !THREADED_COMMANDS.includes(command)) return fallback;
    let proxy = this.proxies.get(command);
    if (!proxy) {
      proxy = {
        deliver: (req) => {
          const n = hash(`${req.transport} ${req.nexthop}`) % this.threads.length;
          const thread = this.threads[n];
          return thread.usable ? thread.deliver(command, req) : fallback.deliver(req);
        },
      };
      this.proxies.set(command, proxy);
    }
    return proxy;
  }

  async reload(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.reload()));
  }

  /** Each thread's state and the deliveries it completed. */
  stats(): { state: string; completed: number }[] {
    return this.threads.map((t) => ({ state: t.state, completed: t.completed }));
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}

/** FNV-1a: cheap, and the same destination always lands on the same thread. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
