/**
 * The listener: port 0, maxproc, stop (graceful and not), reconfigure, and a client that
 * pipelines far more than it reads (output backpressure, partial writes).
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import { SmtpClient } from "../helpers/smtp-client.ts";
import { startTestSmtpd } from "../helpers/smtp-harness.ts";

describe("server", () => {
  test("port 0 gives a real port; excess connections over maxproc get 421 4.3.2", async () => {
    const h = await startTestSmtpd({ maxproc: 2 });
    try {
      expect(h.port).toBeGreaterThan(0);
      const a = await SmtpClient.connect(h.port);
      const b = await SmtpClient.connect(h.port);
      expect(await a.line()).toStartWith("220 ");
      expect(await b.line()).toStartWith("220 ");
      expect(h.server.sessions).toBe(2);
      const c = await SmtpClient.connect(h.port);
      expect(await c.line()).toBe("421 4.3.2 All server ports are busy");
      expect(await c.waitClosed()).toBe(true);
      await h.waitLog(
        /^warning: service "smtp" \(0\) has reached its process limit "2": new clients may experience noticeable delays$/,
      );
      expect(await a.cmd("QUIT")).toEqual(["221 2.0.0 Bye"]);
      await a.waitClosed();
      for (let i = 0; i < 100 && h.server.sessions > 1; i++) await Bun.sleep(5);
      const d = await SmtpClient.connect(h.port);
      expect(await d.line()).toStartWith("220 ");
      d.close();
      b.close();
    } finally {
      await h.stop();
    }
  });

  test("graceful stop: idle sessions get 421 4.3.2 at once, a transaction may finish", async () => {
    const h = await startTestSmtpd({ mainCf: "mydestination = example.test" });
    const idle = await SmtpClient.connect(h.port);
    const busy = await SmtpClient.connect(h.port);
    await idle.line();
    await busy.line();
    await busy.cmd("HELO client.example.org");
    await busy.cmd("MAIL FROM:<a@example.org>");
    await busy.cmd("RCPT TO:<b@example.test>");
    const stopped = h.server.stop({ graceful: true, timeoutMs: 5000 });
    expect(await idle.line()).toBe(
      "421 4.3.2 mx.example.test Service shutting down, closing transmission channel",
    );
    expect(await idle.waitClosed()).toBe(true);
    expect(await busy.cmd("DATA")).toEqual(["354 End data with <CR><LF>.<CR><LF>"]);
    const r = await busy.cmd("Subject: last one\r\n\r\nbye\r\n.");
    expect(r[0]).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect(await busy.line()).toBe(
      "421 4.3.2 mx.example.test Service shutting down, closing transmission channel",
    );
    await stopped;
    expect(h.messages[0].ended).toBe(true);
    // No new connections after stop.
    await expect(SmtpClient.connect(h.port)).rejects.toThrow();
    await h.stop();
  });

  test("non-graceful stop cuts a transaction short, the message is dropped", async () => {
    const h = await startTestSmtpd({ mainCf: "mydestination = example.test" });
    const c = await SmtpClient.connect(h.port);
    await c.line();
    await c.cmd("HELO client.example.org");
    await c.cmd("MAIL FROM:<a@example.org>");
    await c.cmd("RCPT TO:<b@example.test>");
    await c.cmd("DATA");
    await c.send("Subject: half\r\n");
    await Bun.sleep(20);
    await h.server.stop({ graceful: false });
    expect(await c.line()).toBe(
      "421 4.3.2 mx.example.test Service shutting down, closing transmission channel",
    );
    expect(await c.waitClosed()).toBe(true);
    expect(h.messages[0].aborted).toBe(true);
    await h.stop();
  });

  test("reconfigure: new sessions use the new configuration, sessions in flight keep theirs", async () => {
    const h = await startTestSmtpd({ mainCf: "smtpd_banner = $myhostname ESMTP old" });
    try {
      const before = await SmtpClient.connect(h.port);
      expect(await before.line()).toBe("220 mx.example.test ESMTP old");
      writeFileSync(
        join(h.dir, "main.cf"),
        `myhostname = mx.example.test\nsmtpd_banner = $myhostname ESMTP new\nmessage_size_limit = 1234\nsmtpd_peername_lookup = no\n`,
      );
      h.server.reconfigure(loadConfig({ configDir: h.dir, env: {}, hostname: "mx.example.test" }));
      const after = await SmtpClient.connect(h.port);
      expect(await after.line()).toBe("220 mx.example.test ESMTP new");
      expect((await after.cmd("EHLO client.example.org")).includes("250-SIZE 1234")).toBe(true);
      expect((await before.cmd("EHLO client.example.org")).includes("250-SIZE 10240000")).toBe(
        true,
      );
      before.close();
      after.close();
    } finally {
      await h.stop();
    }
  });

  test("a client that pipelines without reading replies is throttled, nothing is lost", async () => {
    const h = await startTestSmtpd({
      mainCf: "smtpd_junk_command_limit = 1000000\nline_length_limit = 2048",
    });
    try {
      const c = await SmtpClient.connect(h.port);
      await c.line();
      await c.cmd("EHLO client.example.org");
      // 300,000 HELP commands in one go: ~27 MB of replies, far more than the socket buffers
      // hold, which the client reads only afterwards: the server's output queue fills, it
      // stops reading (socket.pause) until the queue drains, and every reply still arrives.
      const n = 300_000;
      c.pause();
      const sending = c.send("HELP\r\n".repeat(n));
      await Bun.sleep(300);
      c.resume();
      await sending;
      for (let i = 0; i < n; i++) {
        const l = await c.line(20_000);
        if (!l.startsWith("214 2.0.0 Commands:")) throw new Error(`reply ${i}: ${l}`);
      }
      expect(await c.cmd("QUIT")).toEqual(["221 2.0.0 Bye"]);
    } finally {
      await h.stop();
    }
  }, 60_000);
});
