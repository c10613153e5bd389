import { useState, type FormEvent } from "react";
import { serverRoot } from "../api";
import { Alert, useAction } from "../common";
import { useSession } from "../session";

export function SignInPage() {
  const { config, notice, signInWithToken, retry } = useSession();
  const [token, setToken] = useState("");
  const action = useAction();
  const auth = config?.auth;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void action.run(() => signInWithToken(token.trim(), "token"));
  };

  return (
    <div className="signin">
      <h1>Keystead</h1>
      <p className="muted">Sign in to manage keys.</p>
      {notice ? <Alert kind="info" testId="signin-notice">{notice}</Alert> : null}
      {action.error ? <Alert kind="error">Sign-in failed: {action.error}</Alert> : null}
      {auth?.oidc ? (
        <section className="card">
          <h2>OpenID Connect</h2>
          <p className="muted">With your account at {auth.oidc.issuer}.</p>
          <a className="button primary" href={`${serverRoot()}/ui/oidc/login`} data-testid="oidc-sign-in">
            Sign in with OpenID Connect
          </a>
        </section>
      ) : null}
      {auth?.token ? (
        <section className="card">
          <h2>API token</h2>
          <form onSubmit={submit}>
            <label>
              Token
              <input
                type="password"
                name="token"
                autoComplete="off"
                value={token}
                onChange={(e) => setToken(e.target.value)}
                required
              />
            </label>
            <button type="submit" className="primary" disabled={action.busy || !token.trim()}>
              Sign in with the token
            </button>
          </form>
        </section>
      ) : null}
      {auth?.certificate ? (
        <section className="card">
          <h2>Client certificate</h2>
          <p className="muted">
            This server accepts TLS client certificates. Your browser did not present one it trusts: install your
            certificate in the browser, then try again.
          </p>
          <button type="button" onClick={() => void retry()}>
            Try my certificate again
          </button>
        </section>
      ) : null}
      {auth && !auth.oidc && !auth.token && !auth.certificate && !auth.none ? (
        <Alert kind="error">This server offers no sign-in method the web UI can use.</Alert>
      ) : null}
    </div>
  );
}
