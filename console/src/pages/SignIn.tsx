import { useState } from "react";
import { api, errorText, session } from "../api/client";

/** Sign in with an API key: checked against GET /organizations, then kept in sessionStorage only. */
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError("");
    session.signIn(key.trim());
    const { error: err, response } = await api.GET("/organizations", {});
    setBusy(false);
    if (response.ok) {
      onSignedIn();
    } else {
      session.signOut();
      setError(response.status === 401 ? "That API key is not valid." : errorText(err));
    }
  }

  return (
    <main className="signin">
      <article>
        <header>
          <div className="brand big">
            <span className="logo">◉</span> Voice console
          </div>
          <p className="muted">Sign in with your organization's API key.</p>
        </header>
        <form onSubmit={submit}>
          <label>
            API key
            <input
              name="api_key"
              type="password"
              autoComplete="off"
              placeholder="fl_live_..."
              value={key}
              onChange={(e) => setKey(e.target.value)}
              aria-invalid={error ? true : undefined}
              required
            />
            {error && <small className="error">{error}</small>}
          </label>
          <button type="submit" aria-busy={busy} disabled={busy || !key.trim()}>
            Sign in
          </button>
        </form>
        <footer className="muted small">
          The key stays in this tab (session storage) and is sent only to this API. <code>make dev</code> prints
          the demo organization's key.
        </footer>
      </article>
    </main>
  );
}
