/**
 * Runs every test/dialogs/*.dialog transcript against a live SMTP server on a random port.
 *
 * Dialog syntax, one directive per line (blank lines and "#" comments ignored):
 *   M: name = value      a main.cf line for this dialog (on top of the harness defaults:
 *                        myhostname = mx.example.test, mynetworks = 192.0.2.0/24, so the
 *                        test client 127.0.0.1 is NOT trusted unless a dialog says so)
 *   F: file text         appends a line to a file next to main.cf (access tables...)
 *   D: name TYPE value   a record on a test DNS server ("D: name SERVFAIL" makes it fail)
 *   O: rejected CODE ENH TEXT | failed CODE ENH TEXT | throw
 *                        what the test cleanup answers at end of data (default: queued)
 *   @ name               switch to session `name`, connecting it the first time
 *   C: text              client line, sent with CRLF; consecutive C:/R: lines go in ONE write
 *   R: text              raw client bytes, nothing appended
 *   S: text              the next reply line starts with text
 *   S~ regex             the next reply line matches regex
 *   X: closed            the server closes the connection (after any replies read before)
 *   Z: close             the client closes the connection
 *   L~ regex             a log line matches (waits for it)
 *   N~ regex             no log line matches (checked when reached)
 *   W: ms                wait
 * In C:/R: text, \r \n \t \0 \\ are escapes and {{c*N}} repeats c N times.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CleanupOutcome } from "../../src/cleanup/types.ts";
import { createResolver } from "../../src/dns/index.ts";
import {
  type NameMode,
  type RecordSet,
  startDnsServer,
  type TestDnsServer,
} from "../helpers/dns-server.ts";
import { SmtpClient } from "../helpers/smtp-client.ts";
import { startTestSmtpd } from "../helpers/smtp-harness.ts";

const DIR = join(import.meta.dir, "..", "dialogs");

interface Step {
  kind: string;
  arg: string;
  line: number;
}

function parse(text: string): Step[] {
  const steps: Step[] = [];
  text.split("\n").forEach((raw, i) => {
    const l = raw.replace(/\r$/, "");
    if (l.trim() === "" || l.startsWith("#")) return;
    const m = /^(@|[A-Z][:~])\s?(.*)$/.exec(l);
    if (!m) throw new Error(`line ${i + 1}: cannot parse: ${l}`);
    steps.push({ kind: m[1], arg: m[2], line: i + 1 });
  });
  return steps;
}

/** Dialog text to bytes: UTF-8, with \r \n \t \0 \\ \xHH escapes and {{c*N}} repeats. */
function decodeText(s: string): Buffer {
  const text = s.replace(/\{\{(.)\*(\d+)\}\}/g, (_m, c: string, n: string) => c.repeat(Number(n)));
  const parts: Buffer[] = [];
  let plain = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "\\" || i + 1 >= text.length) {
      plain += c;
      continue;
    }
    const n = text[i + 1];
    const simple: Record<string, string> = { r: "\r", n: "\n", t: "\t", "0": "\0", "\\": "\\" };
    if (n in simple) {
      plain += simple[n];
      i++;
    } else if (n === "x" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 2, i + 4))) {
      parts.push(
        Buffer.from(plain, "utf8"),
        Buffer.from([Number.parseInt(text.slice(i + 2, i + 4), 16)]),
      );
      plain = "";
      i += 3;
    } else plain += c;
  }
  parts.push(Buffer.from(plain, "utf8"));
  return Buffer.concat(parts);
}

async function runDialog(file: string): Promise<void> {
  const steps = parse(readFileSync(join(DIR, file), "utf8"));
  const mainCf = steps.filter((s) => s.kind === "M:").map((s) => s.arg);
  const files: Record<string, string> = {};
  for (const s of steps.filter((x) => x.kind === "F:")) {
    const sp = s.arg.indexOf(" ");
    const name = s.arg.slice(0, sp);
    files[name] = `${files[name] ?? ""}${s.arg.slice(sp + 1)}\n`;
  }
  let dns: TestDnsServer | undefined;
  const dnsSteps = steps.filter((s) => s.kind === "D:");
  if (dnsSteps.length > 0) {
    const zone: Record<string, RecordSet> = {};
    const modes: [string, NameMode][] = [];
    for (const s of dnsSteps) {
      const [name, type, ...rest] = s.arg.split(/\s+/);
      const value = rest.join(" ");
      if (type === "SERVFAIL") {
        modes.push([name, "servfail"]);
        continue;
      }
      zone[name] ??= {};
      const rs = zone[name];
      if (type === "MX") {
        const [pref, exchange] = value.split(/\s+/);
        rs.MX = [...(rs.MX ?? []), { preference: Number(pref), exchange }];
      } else if (type === "A" || type === "AAAA" || type === "PTR") {
        rs[type] = [...(rs[type] ?? []), value];
      } else if (type === "TXT") {
        rs.TXT = [...(rs.TXT ?? []), value];
      } else throw new Error(`${file}:${s.line}: record type ${type}`);
    }
    dns = await startDnsServer(zone);
    for (const [n, m] of modes) dns.setMode(n, m);
  }
  let outcome: ((m: { queueId: string }) => CleanupOutcome) | undefined;
  let throwOnEnd = false;
  for (const s of steps.filter((x) => x.kind === "O:")) {
    const m = /^(rejected|failed) (\d{3}) (\S+) (.*)$/.exec(s.arg);
    if (m)
      outcome = () => ({
        kind: m[1] as "rejected",
        code: Number(m[2]),
        enhanced: m[3],
        text: m[4],
      });
    else if (s.arg === "throw") throwOnEnd = true;
    else throw new Error(`${file}:${s.line}: bad O: line`);
  }
  const h = await startTestSmtpd({
    mainCf: mainCf.join("\n"),
    files,
    cleanup: { outcome, throwOnEnd },
    resolver: dns ? createResolver({ servers: [dns.server], timeoutMs: 500, tries: 1 }) : undefined,
  });
  const sessions = new Map<string, SmtpClient>();
  let current = "1";
  const client = async (): Promise<SmtpClient> => {
    let c = sessions.get(current);
    if (!c) {
      c = await SmtpClient.connect(h.port);
      sessions.set(current, c);
    }
    return c;
  };
  let batch: Buffer[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const c = await client();
    const b = Buffer.concat(batch);
    batch = [];
    await c.send(b);
  };
  try {
    for (const s of steps) {
      const where = `${file}:${s.line}`;
      switch (s.kind) {
        case "M:":
        case "F:":
        case "D:":
        case "O:":
          break;
        case "@":
          await flush();
          current = s.arg.trim();
          await client();
          break;
        case "C:":
          batch.push(decodeText(s.arg), Buffer.from("\r\n"));
          break;
        case "R:":
          batch.push(decodeText(s.arg));
          break;
        case "S:":
        case "S~": {
          await flush();
          const c = await client();
          let got: string;
          try {
            got = await c.line(8000);
          } catch (err) {
            throw new Error(`${where}: expected a reply "${s.arg}": ${(err as Error).message}`);
          }
          // Replies are read as bytes (latin1); the dialog file is UTF-8.
          const want = Buffer.from(s.arg, "utf8").toString("latin1");
          if (s.kind === "S:") {
            if (!got.startsWith(want))
              throw new Error(`${where}: expected reply starting "${s.arg}", got "${got}"`);
          } else if (!new RegExp(want).test(got))
            throw new Error(`${where}: expected reply ~ /${s.arg}/, got "${got}"`);
          break;
        }
        case "X:": {
          await flush();
          const c = await client();
          if (!(await c.waitClosed(8000)))
            throw new Error(`${where}: the server did not close the connection`);
          if (c.pending !== "")
            throw new Error(`${where}: unread replies before close: ${JSON.stringify(c.pending)}`);
          break;
        }
        case "Z:":
          await flush();
          (await client()).close();
          break;
        case "L~":
          await flush();
          try {
            await h.waitLog(new RegExp(s.arg), 3000);
          } catch (err) {
            throw new Error(`${where}: ${(err as Error).message}`);
          }
          break;
        case "N~":
          await flush();
          await Bun.sleep(30);
          if (h.logs.some((l) => new RegExp(s.arg).test(l)))
            throw new Error(`${where}: a log line matches /${s.arg}/:\n${h.logs.join("\n")}`);
          break;
        case "W:":
          await flush();
          await Bun.sleep(Number(s.arg));
          break;
        default:
          throw new Error(`${where}: unknown directive ${s.kind}`);
      }
    }
    await flush();
  } finally {
    for (const c of sessions.values()) c.close();
    await h.stop();
    await dns?.stop();
  }
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".dialog"))
  .sort();

describe("dialogs", () => {
  afterAll(() => {});
  test("there are dialogs", () => {
    expect(files.length).toBeGreaterThan(10);
  });
  for (const f of files) {
    test(f.replace(/\.dialog$/, ""), async () => {
      await runDialog(f);
    }, 20_000);
  }
});
