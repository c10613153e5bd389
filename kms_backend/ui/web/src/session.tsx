// Who is signed in, and how: the browser's client certificate, an API token, an OIDC ID token, or nobody needed
// (a server without authentication). Bearer tokens live in sessionStorage: one tab, gone when it closes.

import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { bearerToken, call, setBearerToken, UNAUTHORIZED_EVENT } from "./api";

export interface ClientConfig {
  auth: {
    none: boolean;
    default_user: string | null;
    certificate: boolean;
    token: boolean;
    oidc: { issuer: string } | null;
  };
  max_message_size: number;
}

export type Method = "certificate" | "token" | "oidc" | "none";

export interface Session {
  user: string;
  method: Method;
}

interface Whoami {
  authenticated: boolean;
  user?: string;
  method?: string;
  reason?: string;
}

const METHOD_KEY = "keystead.method";

async function whoami(token: string | null): Promise<Whoami> {
  return (await call("/ui/whoami", {}, token)).json() as Promise<Whoami>;
}

interface SessionState {
  config: ClientConfig | null;
  session: Session | null;
  /** Why the user is on the sign-in page (expired token, refused certificate...). */
  notice: string | null;
  loading: boolean;
  signInWithToken(token: string, method: "token" | "oidc"): Promise<void>;
  signOut(): void;
  retry(): Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error("useSession outside SessionProvider");
  return state;
}

/** An OIDC sign-in comes back as /ui/#oidc_token=... or /ui/#oidc_error=...: take it out of the URL at once. */
export function takeOidcResult(): { token?: string; error?: string } {
  const hash = window.location.hash;
  const match = /^#oidc_(token|error)=(.*)$/.exec(hash);
  if (!match) return {};
  window.history.replaceState(null, "", window.location.pathname + "#/");
  return match[1] === "token" ? { token: match[2] } : { error: decodeURIComponent(match[2]) };
}

export function SessionProvider({ children, oidc }: { children: ReactNode; oidc: { token?: string; error?: string } }) {
  const [config, setConfig] = useState<ClientConfig | null>(null);
  const [session, setSession] = useState<Session | null>(null);
  const [notice, setNotice] = useState<string | null>(oidc.error ? `OpenID Connect sign-in failed: ${oidc.error}` : null);
  const [loading, setLoading] = useState(true);

  const resolve = useCallback(async (token: string | null, method: Method | null): Promise<string | null> => {
    const answer = await whoami(token);
    if (!answer.authenticated || !answer.user) return answer.reason ?? "not signed in";
    const resolved: Method = token ? (method ?? "token") : answer.method === "certificate" ? "certificate" : "none";
    setSession({ user: answer.user, method: resolved });
    return null;
  }, []);

  const retry = useCallback(async () => {
    setLoading(true);
    try {
      const cfg = (await (await call("/ui/config.json", {}, null)).json()) as ClientConfig;
      setConfig(cfg);
      if (oidc.token) {
        setBearerToken(oidc.token);
        sessionStorage.setItem(METHOD_KEY, "oidc");
        oidc.token = undefined;
      }
      const token = bearerToken();
      const reason = await resolve(token, (sessionStorage.getItem(METHOD_KEY) as Method | null) ?? null);
      if (reason !== null && token) {
        // A stored token that no longer works (expired, revoked): forget it, try the certificate alone.
        setBearerToken(null);
        setNotice(`Your session ended: ${reason}`);
        await resolve(null, null);
      }
    } catch (error) {
      setNotice(`The server cannot be reached: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      setLoading(false);
    }
  }, [oidc, resolve]);

  useEffect(() => {
    void retry();
  }, [retry]);

  useEffect(() => {
    const onUnauthorized = (event: Event) => {
      setBearerToken(null);
      setSession(null);
      setNotice(`Signed out by the server: ${(event as CustomEvent<string>).detail}`);
    };
    window.addEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
  }, []);

  const signInWithToken = useCallback(
    async (token: string, method: "token" | "oidc") => {
      const reason = await resolve(token, method);
      if (reason !== null) throw new Error(reason);
      setBearerToken(token);
      sessionStorage.setItem(METHOD_KEY, method);
      setNotice(null);
    },
    [resolve],
  );

  const signOut = useCallback(() => {
    setBearerToken(null);
    sessionStorage.removeItem(METHOD_KEY);
    setSession(null);
    setNotice("Signed out.");
  }, []);

  return (
    <SessionContext.Provider value={{ config, session, notice, loading, signInWithToken, signOut, retry }}>
      {children}
    </SessionContext.Provider>
  );
}
