/**
 * Starts the real SMTP server for a test: a main.cf (and table files) in a temp directory,
 * loaded with loadConfig, a listener on 127.0.0.1 port 0, the operator log captured, and by
 * default the recording CleanupSession of smtp-cleanup.ts behind it.
 *
 *   const h = await startTestSmtpd({ mainCf: "mynetworks = 192.0.2.0/24" });
 *   const c = await SmtpClient.connect(h.port);
 *   ...
 *   await h.stop();
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import type { Config, MasterService } from "../../src/config/types.ts";
import type { Resolver } from "../../src/dns/index.ts";
import { onLog, setLogQuiet } from "../../src/log/index.ts";
import { Anvil } from "../../src/smtpd/anvil.ts";
import { type SmtpdServer, startSmtpd } from "../../src/smtpd/server.ts";
import type { SmtpdContext } from "../../src/smtpd/types.ts";
import { type RecordingCleanupOptions, recordingCleanup } from "./smtp-cleanup.ts";

export const TEST_HOSTNAME = "mx.example.test";

export interface TestSmtpdOptions {
  /** Extra main.cf lines. */
  mainCf?: string;
  /** Files written next to main.cf (access tables...). */
  files?: Record<string, string>;
  cleanup?: RecordingCleanupOptions;
  /** Replace the recording cleanup (integration tests: the real one). */
  newCleanup?: (cfg: Config) => SmtpdContext["newCleanup"];
  resolver?: Resolver;
  maxproc?: number;
  ctx?: Partial<SmtpdContext>;
}

export function testService(maxproc = 100): MasterService {
  return {
    name: "smtp",
    type: "inet",
    private: false,
    unpriv: true,
    chroot: false,
    wakeup: "-",
    maxproc,
    command: "smtpd",
    args: [],
    overrides: {},
    file: "(test)",
    line: 0,
    host: "127.0.0.1",
    port: 0,
  };
}

export function testConfig(
  mainCf = "",
  files: Record<string, string> = {},
): { cfg: Config; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "posteix-smtpd-"));
  const base = [
    `queue_directory = ${dir}/queue`,
    `myhostname = ${TEST_HOSTNAME}`,
    "mydomain = example.test",
    // The test client is 127.0.0.1: keep it outside mynetworks unless a test says otherwise.
    "mynetworks = 192.0.2.0/24",
    "local_recipient_maps =",
    "smtpd_error_sleep_time = 0",
    "smtpd_peername_lookup = no",
  ].join("\n");
  writeFileSync(join(dir, "main.cf"), `${base}\n${mainCf}\n`);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { cfg: loadConfig({ configDir: dir, env: {}, hostname: TEST_HOSTNAME }), dir };
}

export interface TestSmtpd {
  server: SmtpdServer;
  port: number;
  cfg: Config;
  dir: string;
  anvil: Anvil;
  logs: string[];
  messages: ReturnType<typeof recordingCleanup>["messages"];
  content: ReturnType<typeof recordingCleanup>["content"];
  /** Wait until a log line matches (the log is written when events happen). */
  waitLog(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestSmtpd(opts: TestSmtpdOptions = {}): Promise<TestSmtpd> {
  const { cfg, dir } = testConfig(opts.mainCf, opts.files);
  const rec = recordingCleanup(opts.cleanup);
  const logs: string[] = [];
  setLogQuiet(true);
  const off = onLog((program, severity, text) => {
    if (program.endsWith("/smtpd") || program.endsWith("/cleanup"))
      logs.push(severity === "info" ? text : `${severity}: ${text}`);
  });
  const anvil = new Anvil();
  const server = await startSmtpd({
    service: testService(opts.maxproc ?? 100),
    cfg,
    ctx: {
      newCleanup: opts.newCleanup ? opts.newCleanup(cfg) : rec.newCleanup,
      anvil,
      resolver: opts.resolver,
      ...opts.ctx,
    },
  });
  const waitLog = async (re: RegExp, timeoutMs = 3000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = logs.find((l) => re.test(l));
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`no log line matches ${re}; log:\n${logs.join("\n")}`);
      await Bun.sleep(5);
    }
  };
  return {
    server,
    port: server.port,
    cfg,
    dir,
    anvil,
    logs,
    messages: rec.messages,
    content: rec.content,
    waitLog,
    async stop() {
      await server.stop({ graceful: false });
      off();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
