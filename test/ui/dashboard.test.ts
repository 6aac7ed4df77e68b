/**
 * The dashboard end to end in Debian's Chromium (playwright-core, headless), against a real
 * posteix with its API on a random loopback port and messages in its queue (deferred: the
 * relay host refuses connections). Signs in, checks the overview's counts against the queue
 * and its live update over the event stream, holds, releases and deletes messages, opens a
 * message's timeline and downloads its source, reads the configuration, runs the domains check
 * against a DNS server on loopback, and looks at a phone-width and a dark page. A screenshot of
 * each page goes to test-artifacts/.
 *
 * Skipped, saying so, only when /usr/bin/chromium is absent (`apt-get install -y chromium`;
 * .ci/run installs it).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { parseTokens } from "../../src/api/index.ts";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.ts";
import { startPosteix, type TestPosteix } from "../helpers/posteix.ts";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ARTIFACTS = join(import.meta.dir, "..", "..", "test-artifacts");
const MESSAGES = 6;
const STATES = ["incoming", "active", "deferred", "hold", "bounce", "corrupt"];

if (!HAVE_CHROMIUM) {
  console.warn(
    `test/ui/dashboard.test.ts: SKIPPED: ${CHROMIUM} is absent (apt-get install -y chromium)`,
  );
}

let px: TestPosteix;
let dns: TestDnsServer;
let context: BrowserContext;
let profile: string;
let base: string;
let token: string;

/** A loopback port nobody listens on: the relay host that refuses every connection. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function api<T = any>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function summary(): Promise<Record<string, number>> {
  const s = await api<{ states: Record<string, { count: number }> }>("/api/v1/queue/summary");
  return Object.fromEntries(Object.entries(s.states).map(([k, v]) => [k, v.count]));
}

async function until<T>(what: string, fn: () => Promise<T | null>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `ui-${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  dns = await startDnsServer({
    "mail.example.com": { A: ["127.0.0.1"], TXT: ["v=spf1 a -all"] },
    "1.0.0.127.in-addr.arpa": { PTR: ["mail.example.com"] },
  });
  px = await startPosteix({
    mainCf: [
      "api_listen = 127.0.0.1:0",
      `dns_servers = ${dns.server}`,
      `relayhost = [127.0.0.1]:${await closedPort()}`,
      // Deferred mail stays deferred while the test looks at it.
      "minimal_backoff_time = 1h",
      "maximal_backoff_time = 2h",
    ].join("\n"),
  });
  base = px.master.api!.url!;
  token = parseTokens(readFileSync(px.master.api!.tokenFile, "utf8"))[0];
  for (let i = 0; i < MESSAGES; i++) {
    await api("/api/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        from: "alice@example.com",
        to: `bob${i}@remote.example`,
        subject: `dashboard test ${i}`,
        text: `Hello ${i}`,
      }),
    });
  }
  await until("all messages deferred", async () =>
    (await summary()).deferred === MESSAGES ? true : null,
  );
  profile = mkdtempSync(join(tmpdir(), "posteix-chromium-"));
  // A fresh profile directory of its own, removed afterwards.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
}, 30_000);

afterAll(async () => {
  if (!HAVE_CHROMIUM) return;
  await context?.close();
  await px?.stop();
  await dns?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test.skipIf(!HAVE_CHROMIUM)(
  "sign in, overview, queue actions, message timeline, configuration, domains",
  async () => {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
    const problems: string[] = [];
    const urls: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("request", (r) => urls.push(r.url()));

    // ---- sign-in: a wrong token is refused, the right one is kept for the tab only
    await page.goto(`${base}/ui/`);
    await page.getByLabel("API token").fill("not-the-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("That token was refused.").waitFor();
    await shot(page, "sign-in");
    await page.getByLabel("API token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem("posteix.token"))).toBe(token);

    // ---- overview: the counts are the queue's
    await api(`/api/v1/queue/hold`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ state: "deferred", recipient: "bob0@" }),
    });
    const countOf = (state: string) =>
      page.locator(`.card[data-state="${state}"] .count`).textContent();
    const want = await summary();
    await until("overview counts", async () =>
      (await countOf("hold")) === String(want.hold) ? true : null,
    );
    for (const s of STATES) expect(await countOf(s)).toBe(String(want[s]));
    expect(await countOf("total")).toBe(String(MESSAGES));
    await page.locator(".stream-live").waitFor();

    // Live: a change made elsewhere shows up over the event stream, without a reload.
    await api(`/api/v1/queue/hold`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ state: "deferred", recipient: "bob1@" }),
    });
    await until("live hold count", async () => ((await countOf("hold")) === "2" ? true : null));
    expect(await countOf("deferred")).toBe(String(MESSAGES - 2));
    await page.locator(".events .event-held").first().waitFor();
    await shot(page, "overview");

    // ---- queue: every message listed; hold and release one, delete one
    await page.getByRole("link", { name: "Queue", exact: true }).click();
    await page.getByRole("heading", { name: "Queue" }).waitFor();
    const rows = page.locator("table.messages tbody tr");
    await until("queue rows", async () => ((await rows.count()) === MESSAGES ? true : null));
    const list = await api<{
      messages: { id: string; state: string; recipients: { address: string }[] }[];
    }>("/api/v1/queue");
    const target = list.messages.find((m) => m.recipients[0].address === "bob2@remote.example")!;
    const doomed = list.messages.find((m) => m.recipients[0].address === "bob3@remote.example")!;
    expect(target.state).toBe("deferred");

    const stateOf = async (id: string) => {
      const res = await fetch(`${base}/api/v1/messages/${id}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return res.status === 404 ? "gone" : ((await res.json()) as { state: string }).state;
    };

    await page.getByLabel(`Select ${target.id}`).check();
    await page.getByRole("button", { name: "Hold (1)" }).click();
    await page.getByText("1 of 1 message put on hold.").waitFor();
    expect(await stateOf(target.id)).toBe("hold");
    await page.locator(`tr[data-id="${target.id}"] .badge`).filter({ hasText: "hold" }).waitFor();

    await page.getByLabel(`Select ${target.id}`).check();
    await page.getByRole("button", { name: "Release (1)" }).click();
    await page.getByText("1 of 1 message released.").waitFor();
    expect(await stateOf(target.id)).not.toBe("hold");

    page.once("dialog", (d) => void d.accept());
    await page.getByLabel(`Select ${doomed.id}`).check();
    await page.getByRole("button", { name: "Delete (1)" }).click();
    await page.getByText("1 of 1 message deleted.").waitFor();
    expect(await stateOf(doomed.id)).toBe("gone");
    await until("row removed", async () => ((await rows.count()) === MESSAGES - 1 ? true : null));

    // Filters live in the address: state=hold lists the two held messages.
    await page.getByLabel("State").selectOption("hold");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await until("filtered rows", async () => ((await rows.count()) === 2 ? true : null));
    expect(page.url()).toEndWith("#/queue?state=hold");
    await shot(page, "queue");

    // ---- message: envelope, recipients, timeline, header, source
    await page.getByRole("link", { name: "Queue", exact: true }).click();
    await until("all rows", async () => ((await rows.count()) === MESSAGES - 1 ? true : null));
    await page.getByRole("link", { name: target.id }).click();
    await page.getByRole("heading", { name: "Timeline" }).waitFor();
    const timeline = page.locator("ol.timeline li");
    await until("timeline", async () => ((await timeline.count()) >= 4 ? true : null));
    const events = await timeline.evaluateAll((els) =>
      els.map((e) => (e as HTMLElement).dataset.event),
    );
    expect(events.slice(0, 2)).toEqual(["received", "deferred"]);
    expect(events).toContain("held");
    expect(events).toContain("released");
    await page
      .getByRole("region", { name: "Recipients" })
      .getByRole("cell", { name: "bob2@remote.example" })
      .waitFor();
    await page.locator("table.headers th", { hasText: "Subject" }).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download source" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${target.id}.eml`);
    const source = readFileSync((await download.path())!, "utf8");
    expect(source).toContain("Subject: dashboard test 2");
    await shot(page, "message");

    // ---- configuration (read-only)
    await page.getByRole("link", { name: "Configuration" }).click();
    const relay = page.locator('tr[data-param="relayhost"] td');
    await relay.waitFor();
    expect(await relay.textContent()).toMatch(/^= \[127\.0\.0\.1\]:\d+$/);
    await shot(page, "config");

    // ---- domains: the check of mail.example.com through the loopback DNS server
    await page.getByRole("link", { name: "Domains" }).click();
    const domain = page.locator('section[data-domain="mail.example.com"]');
    await domain.locator('[data-kind="dmarc"]').waitFor();
    expect(await page.locator('[data-kind="address"]').getAttribute("data-status")).toBe("ok");
    expect(await page.locator('[data-kind="ptr"]').getAttribute("data-status")).toBe("ok");
    expect(await domain.locator('[data-kind="spf"]').getAttribute("data-status")).toBe("ok");
    const dmarc = domain.locator('[data-kind="dmarc"]');
    expect(await dmarc.getAttribute("data-status")).toBe("missing");
    expect(await dmarc.locator("pre.publish").textContent()).toBe(
      '_dmarc.mail.example.com. IN TXT "v=DMARC1; p=none; rua=mailto:postmaster@mail.example.com"',
    );
    await shot(page, "domains");

    // ---- keyboard: a skip button, then the navigation, with a visible focus
    await page.getByRole("link", { name: "Overview" }).click();
    await page.reload();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    const focus = () =>
      page.evaluate(() => ({
        text: document.activeElement?.textContent,
        outline: getComputedStyle(document.activeElement!).outlineStyle,
      }));
    await page.keyboard.press("Tab");
    expect(await focus()).toEqual({ text: "Skip to content", outline: "solid" });
    await page.keyboard.press("Tab");
    expect(await focus()).toEqual({ text: "Overview", outline: "solid" });
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Queue" }).waitFor();

    // ---- phone width: nothing wider than the screen; dark theme from the system
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("link", { name: "Queue", exact: true }).click();
    await page.locator("table.messages").waitFor();
    expect(
      await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
    ).toBe(true);
    await shot(page, "queue-phone");
    const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: "dark" });
    const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(dark).not.toBe(light);
    await page.getByRole("link", { name: "Overview" }).click();
    await page.locator(".cards").waitFor();
    await shot(page, "overview-dark-phone");

    // ---- sign out: the token leaves the tab; it never was in any address
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API token").waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem("posteix.token"))).toBeNull();
    expect(urls.filter((u) => u.includes(token))).toEqual([]);
    // Only the wrong token's 401 may have reached the console.
    expect(problems.filter((p) => !p.includes("401"))).toEqual([]);
  },
  60_000,
);
