/** @jsxImportSource hono/jsx/dom */
/// <reference lib="dom" />
/**
 * The dashboard's entry: sign-in gate, hash routes (#/, #/queue?..., #/message/ID, #/config,
 * #/domains; hash routes keep the server to one page and never carry the token), and the page
 * frame (skip link, navigation, sign-out).
 */
import { render, useEffect, useState } from "hono/jsx/dom";
import { getToken, setToken, setUnauthorizedHandler } from "./api.ts";
import { ConfigPage } from "./pages/config.tsx";
import { Domains } from "./pages/domains.tsx";
import { MessagePage } from "./pages/message.tsx";
import { Overview } from "./pages/overview.tsx";
import { Queue } from "./pages/queue.tsx";
import { SignIn } from "./pages/sign-in.tsx";

interface Route {
  page: "overview" | "queue" | "message" | "config" | "domains";
  query: URLSearchParams;
  id?: string;
}

function parseRoute(hash: string): Route {
  const h = hash.replace(/^#\/?/, "");
  const q = h.indexOf("?");
  const path = q < 0 ? h : h.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : h.slice(q + 1));
  const [first, second] = path.split("/");
  if (first === "queue") return { page: "queue", query };
  if (first === "message" && second) return { page: "message", query, id: second };
  if (first === "config") return { page: "config", query };
  if (first === "domains") return { page: "domains", query };
  return { page: "overview", query };
}

const NAV: { page: Route["page"]; href: string; text: string }[] = [
  { page: "overview", href: "#/", text: "Overview" },
  { page: "queue", href: "#/queue", text: "Queue" },
  { page: "config", href: "#/config", text: "Configuration" },
  { page: "domains", href: "#/domains", text: "Domains" },
];

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "queue":
      return <Queue key={route.query.toString()} query={route.query} />;
    case "message":
      return <MessagePage key={route.id} id={route.id ?? ""} />;
    case "config":
      return <ConfigPage />;
    case "domains":
      return <Domains />;
    default:
      return <Overview />;
  }
}

function App() {
  const [token, setTokenState] = useState<string | null>(getToken());
  const [reason, setReason] = useState<string | null>(null);
  const [route, setRoute] = useState<Route>(parseRoute(location.hash));

  useEffect(() => {
    const onHash = () => {
      setRoute(parseRoute(location.hash));
      window.scrollTo(0, 0);
    };
    window.addEventListener("hashchange", onHash);
    setUnauthorizedHandler(() => {
      setToken(null);
      setReason("The server refused the token (revoked?). Sign in again.");
      setTokenState(null);
    });
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    const name = NAV.find((n) => n.page === route.page)?.text ?? "Message";
    document.title = `${name} · posteix`;
  }, [route.page]);

  if (token === null) {
    return (
      <SignIn
        reason={reason}
        onSignedIn={(t) => {
          setToken(t);
          setReason(null);
          setTokenState(t);
        }}
      />
    );
  }
  const current = route.page === "message" ? "queue" : route.page;
  return (
    <>
      {/* A button, not a link to #main: the address's fragment is the route here. */}
      <button type="button" class="skip" onClick={() => document.getElementById("main")?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">posteix</span>
        <nav aria-label="Pages">
          <ul>
            {NAV.map((n) => (
              <li>
                <a href={n.href} aria-current={n.page === current ? "page" : undefined}>
                  {n.text}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          class="sign-out"
          onClick={() => {
            setToken(null);
            setTokenState(null);
          }}
        >
          Sign out
        </button>
      </header>
      <div id="main" tabindex={-1}>
        <Page route={route} />
      </div>
    </>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
