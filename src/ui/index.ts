/**
 * ui -- the web dashboard, served at /ui/ by the API listener from assets compiled into the
 * binary (assets.gen.ts, built from app/ by build.ts): no CDN, works offline.
 *
 * The page is a client of the public REST API and nothing else: it signs in with an API token
 * kept in session storage and sends it as `Authorization: Bearer` (RFC 6750), so the assets
 * themselves need no token and hold nothing secret. Pages: overview (queue counts, last hour
 * per minute, live events), queue (filters, paging, hold/release/requeue/delete, flush),
 * message (envelope, recipients, timeline, header, source), configuration (postconf -n/-M) and
 * domains (the deliverability check, src/dnscheck).
 *
 * A strict Content-Security-Policy allows only these same-origin assets and API calls, so an
 * injected string in a message header can neither run script nor leak the token elsewhere.
 *
 * Parameters: api_listen, api_tls (through the API).
 */
import { createHash } from "node:crypto";
import { APP_CSS, APP_JS, INDEX_HTML } from "./assets.gen.ts";

interface Asset {
  type: string;
  body: string;
  etag: string;
}

const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

let assets: Map<string, Asset> | null = null;

function asset(type: string, body: string): Asset {
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
  return { type, body, etag };
}

function table(): Map<string, Asset> {
  if (assets) return assets;
  const html = asset("text/html; charset=utf-8", INDEX_HTML);
  assets = new Map([
    ["/ui/", html],
    ["/ui/index.html", html],
    ["/ui/app.js", asset("text/javascript; charset=utf-8", APP_JS)],
    ["/ui/app.css", asset("text/css; charset=utf-8", APP_CSS)],
  ]);
  return assets;
}

/** Whether a request path belongs to the dashboard (served without a token). */
export function isUiPath(path: string): boolean {
  return path === "/ui" || path.startsWith("/ui/");
}

/**
 * The response for a GET or HEAD of a dashboard path, or null when there is no such asset.
 * Assets are revalidated on every load (ETag), so an upgraded binary is picked up at once.
 */
export function uiResponse(req: Request): Response | null {
  const path = new URL(req.url).pathname;
  if (path === "/ui") {
    return new Response(null, { status: 308, headers: { Location: "/ui/", ...SECURITY_HEADERS } });
  }
  const a = table().get(path);
  if (!a) return null;
  const headers = {
    "Content-Type": a.type,
    "Cache-Control": "no-cache",
    ETag: a.etag,
    ...SECURITY_HEADERS,
  };
  if (req.headers.get("if-none-match") === a.etag) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(req.method === "HEAD" ? null : a.body, { status: 200, headers });
}
