/**
 * The receiving end of the crash test (scripts/crash-test.ts), in its own process so that the
 * SIGKILLs aimed at posteix never touch it: an smtp-server peer that rejects recipients named
 * `reject*` with 550 (so that bounces flow), waits a random $PEER_DELAY_MIN_MS..$PEER_DELAY_MS
 * (default 0..20) before answering the end of data (so that kills land during deliveries), and
 * appends one JSON line per message to $PEER_LOG with appendFileSync *before* it answers 250,
 * so no acknowledged message can be missing from the record.
 *
 * Prints {"port": N} on stdout once listening; exits on stdin EOF.
 */
import { appendFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

const logFile = process.env.PEER_LOG;
if (!logFile) throw new Error("PEER_LOG not set");
const maxDelay = Number(process.env.PEER_DELAY_MS ?? "20");
const minDelay = Math.min(maxDelay, Number(process.env.PEER_DELAY_MIN_MS ?? "0"));

/** The values of the test's headers, from the message's header section. */
function headerValues(raw: Buffer): { id: string | null; messageId: string | null } {
  const end = raw.indexOf("\r\n\r\n");
  const head = raw.subarray(0, end === -1 ? Math.min(raw.length, 65536) : end).toString("latin1");
  const id = /^X-Crash-Id:[ \t]*(\S+)/im.exec(head)?.[1] ?? null;
  const messageId = /^Message-ID:[ \t]*(\S+)/im.exec(head)?.[1] ?? null;
  return { id, messageId };
}

const server = new SMTPServer({
  name: "peer.test",
  disableReverseLookup: true,
  authOptional: true,
  disabledCommands: ["AUTH", "STARTTLS"],
  hideENHANCEDSTATUSCODES: true,
  logger: false,
  size: 0,
  socketTimeout: 60_000,
  closeTimeout: 1_000,
  onRcptTo(address, _session, cb) {
    if (address.address.toLowerCase().startsWith("reject")) {
      return cb(Object.assign(new Error("5.1.1 no such user here"), { responseCode: 550 }));
    }
    cb();
  },
  onData(stream, session, cb) {
    const parts: Buffer[] = [];
    stream.on("data", (b: Buffer) => parts.push(b));
    stream.on("end", () => {
      const raw = Buffer.concat(parts);
      const { id, messageId } = headerValues(raw);
      // The client's trailer line proves the body arrived whole.
      const complete = id !== null && raw.includes(`END-OF-${id}`);
      const record = {
        id,
        messageId,
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
        rcpt: session.envelope.rcptTo.map((r) => r.address),
        size: raw.length,
        complete,
        bareLfDot: /(^|[^\r])\n\.(\r?\n)/.test(raw.toString("latin1")),
        time: Date.now(),
      };
      appendFileSync(logFile, `${JSON.stringify(record)}\n`);
      const delay = minDelay + Math.floor(Math.random() * (maxDelay - minDelay + 1));
      setTimeout(() => cb(null, "2.0.0 Ok: queued as PEER"), delay);
    });
  },
});
server.on("error", () => {
  // Connections cut by a killed posteix are the point of the test.
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const port = (server.server.address() as AddressInfo).port;
process.stdout.write(`${JSON.stringify({ port })}\n`);
for await (const _ of Bun.stdin.stream()) {
  // Runs until the test closes our standard input.
}
await new Promise<void>((resolve) => server.close(() => resolve()));
process.exit(0);
