/**
 * Child process of test/qmgr/scheduler.test.ts: a posteix with 50 deferred messages, measured
 * for two idle seconds. Prints {deferred, cpuMs, logLines} as one JSON line.
 */
import { openCleanup } from "../../src/cleanup/index.ts";
import { startPosteix } from "../helpers/posteix.ts";
import { startSmtpPeer } from "../helpers/smtp-peer.ts";

const mx = await startSmtpPeer({ rcpt: () => ({ code: 450, text: "4.2.0 later" }) });
const px = await startPosteix({
  mainCf: `relayhost = [127.0.0.1]:${mx.port}\nminimal_backoff_time = 3600s\nmaximal_backoff_time = 3600s\n`,
});
for (let i = 0; i < 50; i++) {
  const c = openCleanup(
    { cfg: px.master.cfg, queue: px.master.queue, onQueued: () => px.master.qmgr.wake() },
    {
      sender: "a@example.com",
      origin: "sendmail",
      client: { name: "localhost", addr: "", protocol: "local" },
      trusted: true,
    },
  );
  c.addRecipient({ address: `r${i}@idle.test` });
  c.write(Buffer.from("Subject: idle\r\n\r\nbody\r\n"));
  await c.end();
}
const deadline = Date.now() + 20_000;
while (px.master.queue.summary().deferred.count < 50 && Date.now() < deadline) await Bun.sleep(20);
// The peer's sessions end, caches expire; then measure.
await Bun.sleep(3000);
const before = process.cpuUsage();
const logsBefore = px.logs.length;
await Bun.sleep(2000);
const used = process.cpuUsage(before);
const result = {
  deferred: px.master.queue.summary().deferred.count,
  cpuMs: (used.user + used.system) / 1000,
  logLines: px.logs.length - logsBefore,
};
await px.stop();
await mx.stop();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
