"""A minimal OpenID Connect provider on loopback, for sign-in tests: discovery, a login form at the authorization
endpoint (the test types a user name and submits), the token endpoint (authorization code with PKCE S256 and a
client secret) and the JWKS. ID tokens are RS256 JWTs with ``iss``, ``aud``, ``sub``, ``email``, ``nonce``."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


class OidcProvider:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OidcProvider:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def id_token(self, user: str, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": user,
            "email": user,
            "nonce": nonce,
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, value: Any) -> None:
                self._send(status, json.dumps(value).encode(), "application/json")

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self._json(
                        200,
                        {
                            "issuer": provider.issuer,
                            "authorization_endpoint": f"{provider.issuer}/authorize",
                            "token_endpoint": f"{provider.issuer}/token",
                            "jwks_uri": f"{provider.issuer}/jwks",
                        },
                    )
                elif url.path == "/jwks":
                    self._json(200, provider.jwks())
                elif url.path == "/favicon.ico":
                    self._send(204, b"", "image/x-icon")
                elif url.path == "/authorize":
                    if query.get("client_id") != provider.client_id or query.get("code_challenge_method") != "S256":
                        self._send(400, b"bad authorization request", "text/plain")
                        return
                    hidden = "".join(
                        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                        for k, v in query.items()
                    )
                    page = (
                        "<!doctype html><html><head><title>Test IdP</title></head><body><h1>Test identity provider"
                        f'</h1><form method="post" action="/authorize">{hidden}<label>User <input name="user">'
                        '</label><button type="submit">Log in</button></form></body></html>'
                    )
                    self._send(200, page.encode(), "text/html; charset=utf-8")
                else:
                    self._send(404, b"not found", "text/plain")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if self.path == "/authorize":
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = form
                    target = form["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": form["state"]})
                    self._send(302, b"", "text/plain", {"Location": target})
                elif self.path == "/token":
                    provider.token_requests.append(form)
                    grant = provider.codes.pop(form.get("code", ""), None)
                    verifier = form.get("code_verifier", "")
                    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                    if (
                        grant is None
                        or form.get("client_id") != provider.client_id
                        or form.get("client_secret") != provider.client_secret
                        or form.get("redirect_uri") != grant["redirect_uri"]
                        or challenge.decode() != grant["code_challenge"]
                    ):
                        self._json(400, {"error": "invalid_grant", "error_description": "code, client or verifier"})
                        return
                    token = provider.id_token(grant["user"], grant["nonce"])
                    self._json(200, {"access_token": "opaque", "token_type": "Bearer", "id_token": token})
                else:
                    self._send(404, b"not found", "text/plain")

        return Handler
