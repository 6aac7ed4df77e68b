/**
 * The inside of a delivery thread (see ./threads.ts): the smtp and lmtp agents, their
 * connection cache and DNS resolver, and a read-only connection to the queue database from
 * which bodies stream straight to the next hop. Requests and results cross as messages;
 * log lines go to the main thread, which writes them with its own.
 */

import { loadConfig } from "../config/index.ts";
import type { Config } from "../config/types.ts";
import { createResolver, setDefaultResolver } from "../dns/index.ts";
import { configureLog, logger, onLog, setLogQuiet } from "../log/index.ts";
import { BodyReader } from "../queue/body-reader.ts";
import { createLmtpAgent } from "./lmtp.ts";
import { createSmtpAgent } from "./smtp/index.ts";
import type { FromThread, ToThread } from "./threads.ts";
import type { DeliveryAgent, DeliveryContext } from "./types.ts";

declare const self: Worker;

const log = logger("delivery");
const post = (m: FromThread) => self.postMessage(m);

let cfg: Config;
let reader: BodyReader;
let ctx: DeliveryContext;
let agents: Map<string, DeliveryAgent>;
/** main.cf with a service's -o overrides, per service name, for the current configuration. */
let serviceCfg = new Map<string, Config>();

function configure(next: Config): void {
  cfg = next;
  serviceCfg = new Map();
  // Program names follow $syslog_name; the main thread writes the lines.
  configureLog({ syslogName: cfg.str("syslog_name"), hostname: cfg.str("myhostname") });
  const resolver = createResolver({
    servers: cfg.list("dns_servers"),
    timeoutMs: cfg.time("dns_timeout") * 1000,
  });
  setDefaultResolver(resolver);
  if (ctx) ctx.resolver = resolver;
  else
    ctx = {
      resolver,
      hostname: cfg.str("myhostname"),
      newCleanup: () => {
        throw new Error("cleanup is not available in a delivery thread");
      },
    };
}

function init(m: Extract<ToThread, { t: "init" }>): void {
  setLogQuiet(true);
  onLog((program, severity, text) => post({ t: "log", program, severity, text }));
  configure(loadConfig({ configDir: m.configDir }));
  reader = new BodyReader(m.queuePath);
  agents = new Map([
    ["smtp", createSmtpAgent(ctx, "smtp")],
    ["lmtp", createLmtpAgent(ctx)],
  ]);
}

async function deliver(m: Extract<ToThread, { t: "deliver" }>): Promise<void> {
  const agent = agents.get(m.command);
  if (!agent) {
    post({ t: "failed", id: m.id, message: `no ${m.command} agent in a delivery thread` });
    return;
  }
  let svcCfg = serviceCfg.get(m.service.name);
  if (!svcCfg) {
    svcCfg =
      Object.keys(m.service.overrides).length > 0 ? cfg.withOverrides(m.service.overrides) : cfg;
    serviceCfg.set(m.service.name, svcCfg);
  }
  let corrupt: string | undefined;
  const queueId = m.queueId;
  function* body(): Generator<Uint8Array> {
    try {
      yield* reader.body(queueId);
    } catch (err) {
      if ((err as { code?: string }).code === "CORRUPT") corrupt ??= (err as Error).message;
      throw err;
    }
  }
  try {
    const result = await agent.deliver({
      queueId,
      message: m.message,
      recipients: m.recipients,
      transport: m.transport,
      nexthop: m.nexthop,
      cfg: svcCfg,
      service: m.service,
      body,
    });
    post({ t: "done", id: m.id, result, corrupt });
  } catch (err) {
    post({
      t: "failed",
      id: m.id,
      message: err instanceof Error ? err.message : String(err),
      corrupt,
    });
  }
}

self.onmessage = (e: MessageEvent<ToThread>) => {
  const m = e.data;
  switch (m.t) {
    case "init":
      try {
        init(m);
        post({ t: "ready" });
      } catch (err) {
        post({ t: "fatal", message: err instanceof Error ? err.message : String(err) });
      }
      return;
    case "reload":
      try {
        configure(loadConfig({ configDir: m.configDir }));
      } catch (err) {
        log.error(
          `delivery thread keeps its configuration: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      post({ t: "reloaded" });
      return;
    case "deliver":
      void deliver(m);
      return;
    case "close":
      void Promise.all([...(agents?.values() ?? [])].map((a) => a.close?.()))
        .catch(() => {})
        .then(() => {
          reader?.close();
          post({ t: "closed" });
        });
      return;
  }
};
