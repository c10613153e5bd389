"""HTTP authentication: client certificate CN, API tokens, JWTs checked against an issuer's JWKS."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from kms_backend.server.auth import Authenticator, AuthError, Credentials, parse_api_tokens, subject_common_name
from kms_backend.server.config import load_config

ISSUER = "https://idp.example"
AUDIENCE = "keystead"
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(65537, 2048)
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def jwks(*entries: tuple[Any, str, str]) -> dict[str, Any]:
    keys = []
    for key, kid, alg in entries:
        algorithm = ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) else RSAAlgorithm
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
    return {"keys": keys}


def token(key: Any = EC_KEY, alg: str = "ES256", kid: str = "ec1", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-123", "email": "alice@example.com", "exp": now + 300}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks((EC_KEY, "ec1", "ES256"), (RSA_KEY, "rsa1", "RS256"))))
    return path


def authenticator(jwks_file: Path, **issuer: Any) -> Authenticator:
    entry = {"issuer": ISSUER, "jwks_file": str(jwks_file), "audience": AUDIENCE, **issuer}
    return Authenticator(load_config({"jwt_issuers": json.dumps([entry])}))


def bearer(value: str) -> Credentials:
    return Credentials(authorization=f"Bearer {value}")


def test_valid_jwt_gives_email_then_sub(jwks_file: Path) -> None:
    auth = authenticator(jwks_file)
    assert auth.authenticate(bearer(token())) == "alice@example.com"
    assert auth.authenticate(bearer(token(email=None))) == "user-123"
    assert auth.authenticate(bearer(token(RSA_KEY, "RS256", "rsa1"))) == "alice@example.com"
    assert authenticator(jwks_file, user_claims=["sub"]).authenticate(bearer(token())) == "user-123"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: token(exp=int(time.time()) - 3600), "expired"),
        (lambda: token(aud="someone-else"), "audience"),
        (lambda: token(nbf=int(time.time()) + 3600), "not valid yet"),
        (lambda: token(iss="https://evil.example"), "unknown issuer"),
        (lambda: token(exp=None), "invalid JWT"),
        (lambda: token(kid="missing"), "no key"),
        (lambda: token(OTHER_KEY), "invalid JWT"),  # right kid, wrong signature
        (lambda: token(RSA_KEY, "RS256", "ec1"), "no key"),  # kid of an ES256 key with RS256
        (lambda: "not.a.jwt", "malformed"),
    ],
)
def test_bad_jwts_are_refused(jwks_file: Path, make: Any, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        authenticator(jwks_file).authenticate(bearer(make()))


def test_alg_none_is_refused(jwks_file: Path) -> None:
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60}, None, "none")  # type: ignore[arg-type]
    with pytest.raises(AuthError, match="unsigned"):
        authenticator(jwks_file).authenticate(bearer(unsigned))


def test_hs256_needs_explicit_configuration(tmp_path: Path) -> None:
    secret = b"s" * 32
    path = tmp_path / "hs.json"
    path.write_text(
        json.dumps({"keys": [{"kty": "oct", "kid": "h1", "k": jwt.utils.base64url_encode(secret).decode()}]})
    )
    hs_token = token(secret, "HS256", "h1")
    with pytest.raises(AuthError, match="HS256 is not accepted"):
        authenticator(path).authenticate(bearer(hs_token))
    assert authenticator(path, algorithms=["HS256"]).authenticate(bearer(hs_token)) == "alice@example.com"


def test_hs256_with_a_public_key_as_secret_is_refused(jwks_file: Path) -> None:
    # The classic confusion attack: sign HS256 with the issuer's public key bytes.
    with pytest.raises(AuthError):
        authenticator(jwks_file, algorithms=["HS256", "ES256"]).authenticate(bearer(token(b"x" * 32, "HS256", "ec1")))


def test_api_tokens(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text("# comment\nfile-token:carol\n")
    auth = Authenticator(load_config({"api_tokens": ["t1:alice", "t2:bob"], "api_tokens_file": str(file)}))
    assert auth.authenticate(bearer("t1")) == "alice"
    assert auth.authenticate(bearer("t2")) == "bob"
    assert auth.authenticate(bearer("file-token")) == "carol"
    for bad in ("t3", "t1x", ""):
        with pytest.raises(AuthError):
            auth.authenticate(bearer(bad))
    with pytest.raises(AuthError, match="Bearer"):
        auth.authenticate(Credentials(authorization="Basic dDE6"))
    with pytest.raises(AuthError, match="authentication required"):
        auth.authenticate(Credentials())
    assert parse_api_tokens(("a:b:c",), None) == {"a": "b:c"}


def test_no_authentication_configured_means_default_user() -> None:
    auth = Authenticator(load_config({"default_username": "ops"}))
    assert not auth.enabled
    assert auth.authenticate(Credentials()) == "ops"
    assert auth.authenticate(Credentials(client_cert_cn="admin")) == "admin"


def test_client_certificate_comes_first(jwks_file: Path) -> None:
    auth = authenticator(jwks_file)
    assert auth.authenticate(Credentials(client_cert_cn="admin", authorization="Bearer garbage")) == "admin"


def test_subject_common_name() -> None:
    cert = {"subject": ((("organizationName", "Keystead"),), (("commonName", "user"),))}
    assert subject_common_name(cert) == "user"
    assert subject_common_name({"subject": ((("organizationName", "K"),),)}) is None
    assert subject_common_name(None) is None


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    body = b""
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, type[_JwksHandler]]]:
    handler = type("Handler", (_JwksHandler,), {"body": json.dumps(jwks((EC_KEY, "ec1", "ES256"))).encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", handler
    server.shutdown()
    server.server_close()


def test_jwks_uri_is_fetched_once_and_cached(jwks_server: tuple[str, type[_JwksHandler]]) -> None:
    uri, handler = jwks_server
    entry = {"issuer": ISSUER, "jwks_uri": uri, "audience": AUDIENCE}
    auth = Authenticator(load_config({"jwt_issuers": json.dumps([entry])}))
    for _ in range(3):
        assert auth.authenticate(bearer(token())) == "alice@example.com"
    assert handler.hits == 1
    # An unknown kid right after a fetch does not hammer the identity provider.
    with pytest.raises(AuthError):
        auth.authenticate(bearer(token(kid="rotated")))
    assert handler.hits == 1


def test_jwks_uri_unreachable_is_an_auth_error() -> None:
    entry = {"issuer": ISSUER, "jwks_uri": "http://127.0.0.1:9/none", "audience": AUDIENCE}
    auth = Authenticator(load_config({"jwt_issuers": json.dumps([entry])}))
    with pytest.raises(AuthError, match="unavailable"):
        auth.authenticate(bearer(token()))
