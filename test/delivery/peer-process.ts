/**
 * Runs an smtp-peer in its own process (so that a test can measure its own memory alone):
 * prints {"port": N} on stdout, then one JSON line per message received; exits on stdin EOF.
 */
import { startSmtpPeer } from "../helpers/smtp-peer.ts";

const peer = await startSmtpPeer({ discardBody: true });
process.stdout.write(`${JSON.stringify({ port: peer.port })}\n`);
let seen = 0;
const timer = setInterval(() => {
  while (seen < peer.messages.length) {
    const m = peer.messages[seen++];
    process.stdout.write(`${JSON.stringify({ size: m.size, sha256: m.sha256 })}\n`);
  }
}, 20);
for await (const _ of Bun.stdin.stream()) {
  // wait for EOF
}
clearInterval(timer);
await peer.stop();
process.exit(0);
