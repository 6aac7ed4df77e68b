/**
 * A real API server for the API tests: a temp configuration directory, a real queue, real
 * cleanup, startApi() on a random loopback port, and fetch() against it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ApiContext, type ApiServer, parseTokens, startApi } from "../../src/api/index.ts";
import { openCleanup } from "../../src/cleanup/index.ts";
import { loadConfig } from "../../src/config/index.ts";
import type { Config } from "../../src/config/types.ts";
import { setLogQuiet } from "../../src/log/index.ts";
import { type NewMessage, openQueue, type QueueStore } from "../../src/queue/index.ts";

setLogQuiet(true);

export interface Fixture {
  dir: string;
  queue: QueueStore;
  api: ApiServer;
  base: string;
  token: string;
  ctx: ApiContext;
  cfg(): Config;
  /** Counters of what the API asked the daemon to do. */
  calls: { wake: number; flush: (string | undefined)[]; reload: number };
  /** Make ctx.stopping() answer true. */
  setStopping(v: boolean): void;
  /** Rewrite main.cf (the fixture's lines plus `extra`); takes effect on reload. */
  writeMainCf(extra: string): void;
  /** fetch with the bearer token. */
  call(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

const fixtures = new Set<Fixture>();

export interface FixtureOptions {
  mainCf?: string;
  files?: Record<string, string>;
  webhookRetryBaseMs?: number;
  flush?: (site?: string) => number;
  stats?: () => Record<string, number>;
  /** Called on ctx.wake() (and when cleanup queued a message), e.g. a real scheduler's. */
  wake?: () => void;
}

export async function startFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), "posteix-api-"));
  const base = [
    `queue_directory = ${dir}/q`,
    `data_directory = ${dir}/data`,
    "myhostname = mail.example.com",
    "mydomain = example.com",
    "api_listen = 127.0.0.1:0",
  ].join("\n");
  const writeMainCf = (extra: string) => writeFileSync(join(dir, "main.cf"), `${base}\n${extra}\n`);
  writeMainCf(opts.mainCf ?? "");
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text);
  const load = () => loadConfig({ configDir: dir, env: {}, hostname: "mail.example.com" });
  let cfg = load();
  const queue = openQueue({ directory: join(dir, "q") });
  let stopping = false;
  const calls: Fixture["calls"] = { wake: 0, flush: [], reload: 0 };
  const ctx: ApiContext = {
    queue,
    config: () => cfg,
    newCleanup: (input, options) =>
      openCleanup({ cfg, queue, onQueued: () => ctx.wake() }, input, options),
    wake: () => {
      calls.wake++;
      opts.wake?.();
    },
    flush: (site) => {
      calls.flush.push(site);
      return opts.flush ? opts.flush(site) : queue.flush(site);
    },
    reload: async () => {
      calls.reload++;
      try {
        cfg = load();
      } catch {
        return false;
      }
      await api.reconfigure();
      return true;
    },
    stopping: () => stopping,
    stats: opts.stats,
  };
  const api = await startApi(ctx, { retryBaseMs: opts.webhookRetryBaseMs ?? 50 });
  const token = parseTokens(readFileSync(api.tokenFile, "utf8"))[0];
  const url = api.url!;
  const f: Fixture = {
    dir,
    queue,
    api,
    base: url,
    token,
    ctx,
    cfg: () => cfg,
    calls,
    setStopping: (v) => {
      stopping = v;
    },
    writeMainCf,
    call: (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (!headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
      return fetch(`${f.base}${path}`, { ...init, headers });
    },
    stop: async () => {
      fixtures.delete(f);
      await api.stop();
      queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  fixtures.add(f);
  return f;
}

export async function stopAll(): Promise<void> {
  for (const f of [...fixtures]) await f.stop();
}

export const enc = new TextEncoder();

/** Commit n messages straight into the queue (group commit, `batch` per turn). */
export async function putMany(
  q: QueueStore,
  n: number,
  over: (i: number) => Partial<NewMessage> = () => ({}),
  batch = 500,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += batch) {
    const commits: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      const d = q.createDraft();
      d.write(enc.encode(`From: alice@example.com\r\nSubject: test ${j}\r\n\r\nHello ${j}\r\n`));
      ids.push(d.id);
      commits.push(
        d.commit({
          sender: "alice@example.com",
          recipients: [{ address: "bob@example.net" }],
          origin: "test",
          ...over(j),
        }),
      );
    }
    await Promise.all(commits);
  }
  return ids;
}

export async function json<T = any>(res: Response): Promise<T> {
  return (await res.json()) as T;
}
