/** @jsxImportSource hono/jsx/dom */
/**
 * Sign-in with an API token (a line of $api_token_file). The token is tried against the API,
 * then kept in session storage: gone when the tab closes, never put in a URL.
 */
import { useState } from "hono/jsx/dom";
import { ApiFailure, request } from "../api.ts";
import { ErrorNote } from "../components.tsx";

export function SignIn({
  onSignedIn,
  reason,
}: {
  onSignedIn: (t: string) => void;
  reason: string | null;
}) {
  const [token, setTokenText] = useState("");
  const [error, setError] = useState<string | null>(reason);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const t = token.trim();
    if (t === "") {
      setError("Enter an API token.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await request("/api/v1/queue/summary", {}, t);
      onSignedIn(t);
    } catch (err) {
      setError(
        err instanceof ApiFailure && err.status === 401
          ? "That token was refused."
          : `Cannot reach the API: ${(err as Error).message}`,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in">
      <h1>posteix</h1>
      <form method="post" onSubmit={submit} aria-describedby="token-help">
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={token}
          onInput={(e: Event) => setTokenText((e.target as HTMLInputElement).value)}
        />
        <p id="token-help" class="muted">
          A line of the API token file (<code>api_token_file</code>, by default{" "}
          <code>data/api-tokens</code>). It is kept for this tab only.
        </p>
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
