/**
 * A whole posteix (master, smtpd listeners, qmgr, delivery agents) in this test process, on a
 * temp configuration directory with random loopback ports, for end-to-end tests with real
 * clients and real peers.
 *
 *   const px = await startPosteix({ mainCf: "relayhost = [127.0.0.1]:2526\n" });
 *   await sendWithNodemailer(px.port(), ...);
 *   await px.stop();
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onLog, setLogQuiet } from "../../src/log/index.ts";
import { Master } from "../../src/master/index.ts";

export const TEST_MASTER_CF = `
127.0.0.1:0 inet n - n - - smtpd
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
discard   unix  -       -       n       -       -       discard
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
`;

export interface PosteixOptions {
  /** main.cf lines added after the test defaults. */
  mainCf?: string;
  masterCf?: string;
  /** Extra files in the configuration directory (tables). */
  files?: Record<string, string>;
  /**
   * Use this configuration directory (main.cf and master.cf are rewritten; the data directory
   * is kept, to test what survives a restart); stop() then leaves it in place.
   */
  dir?: string;
}

export interface TestPosteix {
  dir: string;
  master: Master;
  /** Port of the first (or the named) smtpd listener. */
  port(name?: string): number;
  /** Every log line so far, as "program: text". */
  logs: string[];
  /** Resolves when a log line matching re appears (rejects after timeoutMs). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startPosteix(opts: PosteixOptions = {}): Promise<TestPosteix> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "posteix-e2e-"));
  writeFileSync(
    join(dir, "main.cf"),
    [
      `queue_directory = ${dir}/data`,
      "myhostname = mail.example.com",
      "mydomain = example.com",
      "api_listen =",
      "smtpd_peername_lookup = no",
      "minimal_backoff_time = 1s",
      "maximal_backoff_time = 4s",
      "queue_run_delay = 1s",
      opts.mainCf ?? "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "master.cf"), opts.masterCf ?? TEST_MASTER_CF);
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text);
  const logs: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const unsubscribe = onLog((program, severity, text) => {
    const line = `${program}: ${severity === "info" ? "" : `${severity}: `}${text}`;
    logs.push(line);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].re.test(line)) {
        waiters[i].resolve(line);
        waiters.splice(i, 1);
      }
    }
  });
  // The log is captured above; print it too only when asked (POSTEIX_TEST_LOG=1).
  setLogQuiet(!process.env.POSTEIX_TEST_LOG);
  const master = new Master({ configDir: dir });
  await master.start();
  return {
    dir,
    master,
    logs,
    port: (name?: string) => master.port(name),
    waitForLog(re: RegExp, timeoutMs = 10_000): Promise<string> {
      const found = logs.find((l) => re.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { re, resolve };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i !== -1) {
            waiters.splice(i, 1);
            reject(
              new Error(
                `no log line matching ${re} within ${timeoutMs} ms; last lines:\n${logs.slice(-15).join("\n")}`,
              ),
            );
          }
        }, timeoutMs);
      });
    },
    async stop() {
      await master.stop();
      unsubscribe();
      if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
