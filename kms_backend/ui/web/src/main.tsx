import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { SessionProvider, takeOidcResult } from "./session";
import "./styles.css";

// Read an OIDC sign-in result before the router looks at the URL fragment.
const oidc = takeOidcResult();

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <SessionProvider oidc={oidc}>
      <App />
    </SessionProvider>
  </StrictMode>,
);
