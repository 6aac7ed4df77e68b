/**
 * `npm run test:crash`: the crash test on the compiled binary (test/reliability/crash.ts).
 *
 *   bun run scripts/crash-test.ts [--binary dist/posteix] [--kills N] [--messages N]
 *                                 [--clients N] [--long] [--keep] [--quiet]
 *
 * Short form by default (what .ci/run runs); --long or POSTEIX_LONG=1 kills many more times
 * and sends many more messages. Exits 1 when a message was lost, delivered without its 250,
 * half-written, or the queue database is damaged.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { crashFailed, formatReport, runCrashTest } from "../test/reliability/crash.ts";

const { values } = parseArgs({
  options: {
    binary: { type: "string", default: "dist/posteix" },
    kills: { type: "string" },
    messages: { type: "string" },
    clients: { type: "string" },
    long: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
  },
});
const long = values.long || process.env.POSTEIX_LONG === "1";
const binary = resolve(values.binary);
if (!existsSync(binary)) {
  console.error(`crash-test: ${binary} not found; build it first: npm run build`);
  process.exit(1);
}
const report = await runCrashTest({
  command: [binary],
  kills: Number(values.kills ?? (long ? 120 : 18)),
  messages: Number(values.messages ?? (long ? 5000 : 400)),
  clients: Number(values.clients ?? (long ? 8 : 4)),
  verbose: !values.quiet,
  keep: values.keep,
});
console.log(formatReport(report));
process.exit(crashFailed(report) ? 1 : 0);
