/**
 * `sendmail -bs`: an SMTP session on standard input and output (Postfix runs smtpd in
 * stand-alone mode for this). Mail goes through the same cleanup and queue as network mail; a
 * running daemon is woken after each message.
 */
import { openCleanup } from "../cleanup/index.ts";
import { loadConfig } from "../config/index.ts";
import { configureLog, logOptionsFromConfig, setLogQuiet } from "../log/index.ts";
import { notifyDaemon } from "../master/control.ts";
import { registerQueueTables } from "../master/tables.ts";
import { openQueue } from "../queue/index.ts";
import { createAnvil, serveStdio } from "../smtpd/index.ts";
import type { CliIO } from "./types.ts";

export async function runSmtpOnStdio(io: CliIO): Promise<number> {
  const cfg = loadConfig({ configDir: io.configDir });
  setLogQuiet(true);
  configureLog(logOptionsFromConfig(cfg));
  const queueDir = cfg.path("queue_directory");
  const queue = openQueue({ directory: queueDir, chunkSize: cfg.size("queue_body_chunk_size") });
  registerQueueTables(queue, queueDir);
  const wakeups: Promise<boolean>[] = [];
  try {
    await serveStdio({
      cfg,
      ctx: {
        newCleanup: (input) =>
          openCleanup(
            {
              cfg,
              queue,
              onQueued: () => wakeups.push(notifyDaemon(queueDir, { kind: "wakeup" })),
            },
            { ...input, trusted: true },
          ),
        anvil: createAnvil(),
      },
      input: io.stdin(),
      write: (text) => io.stdout(text),
    });
    await Promise.all(wakeups);
    return 0;
  } finally {
    queue.close();
  }
}
