import { HashRouter, Navigate, NavLink, Route, Routes } from "react-router";
import { Alert } from "./common";
import { CreatePage } from "./pages/Create";
import { CryptoPage } from "./pages/Crypto";
import { ImportPage } from "./pages/Import";
import { ObjectDetailsPage } from "./pages/ObjectDetails";
import { ObjectsPage } from "./pages/Objects";
import { ServerPage } from "./pages/Server";
import { SignInPage } from "./pages/SignIn";
import { useSession } from "./session";

const METHOD_TEXT = {
  certificate: "client certificate",
  token: "API token",
  oidc: "OpenID Connect",
  none: "no authentication configured",
};

export function App() {
  const { session, loading, signOut } = useSession();
  if (loading && !session) return <div className="loading">Loading…</div>;
  if (!session) return <SignInPage />;
  return (
    <HashRouter>
      <header className="topbar">
        <span className="brand">Keystead</span>
        <nav>
          <NavLink to="/objects">Objects</NavLink>
          <NavLink to="/create">Create</NavLink>
          <NavLink to="/import">Import</NavLink>
          <NavLink to="/crypto">Encrypt / decrypt</NavLink>
          <NavLink to="/server">Server</NavLink>
        </nav>
        <span className="who" data-testid="signed-in-user" title={`signed in with ${METHOD_TEXT[session.method]}`}>
          {session.user} <small>({METHOD_TEXT[session.method]})</small>
        </span>
        {session.method === "token" || session.method === "oidc" ? (
          <button type="button" className="link" onClick={signOut}>
            Sign out
          </button>
        ) : null}
      </header>
      <main>
        <Routes>
          <Route path="/" element={<Navigate to="/objects" replace />} />
          <Route path="/objects" element={<ObjectsPage />} />
          <Route path="/objects/:uid" element={<ObjectDetailsPage />} />
          <Route path="/create" element={<CreatePage />} />
          <Route path="/import" element={<ImportPage />} />
          <Route path="/crypto" element={<CryptoPage />} />
          <Route path="/server" element={<ServerPage />} />
          <Route path="*" element={<Alert kind="error">This page does not exist.</Alert>} />
        </Routes>
      </main>
    </HashRouter>
  );
}
