"""A test token issuer: an RSA key that signs JWTs, its JWKS in a file or served over loopback HTTP."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


class TokenIssuer:
    """Signs RS256 JWTs as ``issuer``; ``jwks`` is its public key set."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        self.jwks = {"keys": [public]}

    def token(self, claims: dict[str, Any], *, lifetime: int = 300, key: rsa.RSAPrivateKey | None = None) -> str:
        """A JWT with ``iss``, ``iat`` and ``exp`` (``lifetime`` seconds from now, negative for an expired one)
        unless ``claims`` sets them; ``key``: sign with another key (a forgery)."""
        now = int(time.time())
        body = {"iss": self.issuer, "iat": now, "exp": now + lifetime, **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks))
        return path


@contextmanager
def served_jwks(*issuers: TokenIssuer) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering ``/jwks/<n>`` with the JWKS of ``issuers[n]``; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                index = int(self.path.rsplit("/", 1)[-1])
                body = json.dumps(issuers[index].jwks).encode()
            except (ValueError, IndexError):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks"
    finally:
        server.shutdown()
        server.server_close()
