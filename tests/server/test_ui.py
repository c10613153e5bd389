"""The ``/ui`` routes: static files of a built application, the sign-in configuration, ``whoami``, and the
OpenID Connect code flow against a fake provider (the browser side runs in integration_tests/test_web_ui.py)."""

from __future__ import annotations

import gzip
import json
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kms_backend.server.auth import Authenticator
from kms_backend.server.config import ConfigError, load_config
from kms_backend.server.http_app import Request
from kms_backend.server.ui import OidcError, OidcSignIn, WebUi

from .conftest import build_server, caller

ISSUER = "https://idp.example"
CLIENT = "keystead-ui"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<!doctype html><script src="./assets/app-1a2b.js"></script>')
    (tmp_path / "assets" / "app-1a2b.js").write_text("console.log('keystead');" * 100)
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


def ui_request(path: str, *, headers: dict[str, str] | None = None, query: str = "", **params: str) -> Request:
    request = Request("GET", path, headers or {}, b"", params)
    request.query = query
    return request


def test_static_files_cache_and_compression(dist: Path) -> None:
    config = load_config({"database": "memory://"})
    web = WebUi(config, Authenticator(config), root=dist)
    index = web.index(ui_request("/ui/"))
    assert index.status == 200 and index.content_type.startswith("text/html")
    headers = dict(index.headers)
    assert headers[b"cache-control"] == b"no-cache"
    assert b"frame-ancestors 'none'" in headers[b"content-security-policy"]
    asset = web.asset(ui_request("/ui/assets/app-1a2b.js", headers={"accept-encoding": "gzip, br"}, file="app-1a2b.js"))
    assert dict(asset.headers)[b"content-encoding"] == b"gzip"
    assert gzip.decompress(asset.body) == (dist / "assets" / "app-1a2b.js").read_bytes()
    assert b"immutable" in dict(asset.headers)[b"cache-control"]
    plain = web.asset(ui_request("/ui/assets/app-1a2b.js", file="app-1a2b.js"))
    assert plain.body == (dist / "assets" / "app-1a2b.js").read_bytes()
    assert web.top_file(ui_request("/ui/favicon.svg", file="favicon.svg")).content_type == "image/svg+xml"


def test_routes_through_the_app(server: Any) -> None:
    call = caller(server)
    assert call("GET", "/").headers["location"] == "/ui/"
    assert call("GET", "/ui").status_code == 308
    assert call("GET", "/ui/assets/../../../etc/passwd").status_code == 404
    assert call("GET", "/ui/no-such-file.js").status_code in (404, 503)
    config = call("GET", "/ui/config.json").json()
    assert config["auth"] == {
        "none": True,
        "default_user": "admin",
        "certificate": False,
        "token": False,
        "oidc": None,
    }
    assert call("GET", "/ui/whoami").json() == {"authenticated": True, "user": "admin", "method": "none"}
    assert call("GET", "/ui/oidc/login").status_code == 404  # not configured


def test_not_built_says_how_to_build(tmp_path: Path) -> None:
    config = load_config({"database": "memory://"})
    web = WebUi(config, Authenticator(config), root=tmp_path / "missing")
    response = web.index(ui_request("/ui/"))
    assert response.status == 503 and b"make setup" in response.body


def test_whoami_never_401() -> None:
    server = build_server(api_tokens=["tok-1:alice"])
    call = caller(server)
    assert call("GET", "/ui/whoami").json() == {
        "authenticated": False,
        "reason": "authentication required: present a client certificate or a bearer token",
    }
    answer = call("GET", "/ui/whoami", headers={"Authorization": "Bearer nope"}).json()
    assert answer == {"authenticated": False, "reason": "invalid bearer token"}
    answer = call("GET", "/ui/whoami", headers={"Authorization": "Bearer tok-1"}).json()
    assert answer == {"authenticated": True, "user": "alice", "method": "bearer"}
    assert call("GET", "/ui/config.json").json()["auth"]["token"] is True


def test_oidc_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="go together"):
        load_config({"ui_oidc_issuer": ISSUER})
    with pytest.raises(ConfigError, match="must also be one of --jwt-issuers"):
        load_config({"ui_oidc_issuer": ISSUER, "ui_oidc_client_id": CLIENT})
    issuers = [{"issuer": ISSUER, "jwks_file": "/dev/null"}]
    with pytest.raises(ConfigError, match="openid"):
        load_config(
            {"ui_oidc_issuer": ISSUER, "ui_oidc_client_id": CLIENT, "jwt_issuers": issuers, "ui_oidc_scopes": "email"}
        )


class FakeProvider:
    """Discovery and token endpoint of an identity provider, in memory."""

    def __init__(self, tmp_path: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwks = tmp_path / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1"}]}))
        self.posted: list[tuple[str, Mapping[str, str]]] = []
        self.nonce: str | None = None
        self.user = "dana@example.com"

    def fetch_json(self, url: str) -> Mapping[str, Any]:
        assert url == f"{ISSUER}/.well-known/openid-configuration"
        return {"authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token"}

    def post_form(self, url: str, form: Mapping[str, str]) -> Mapping[str, Any]:
        self.posted.append((url, form))
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": CLIENT, "email": self.user, "nonce": self.nonce, "iat": now, "exp": now + 60}
        return {"id_token": jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})}


def oidc_setup(tmp_path: Path) -> tuple[OidcSignIn, FakeProvider]:
    provider = FakeProvider(tmp_path)
    config = load_config(
        {
            "database": "memory://",
            "jwt_issuers": [{"issuer": ISSUER, "jwks_file": str(provider.jwks), "audience": CLIENT}],
            "ui_oidc_issuer": ISSUER,
            "ui_oidc_client_id": CLIENT,
            "ui_oidc_client_secret": "s3cret",
        }
    )
    oidc = OidcSignIn(config, Authenticator(config), fetch_json=provider.fetch_json, post_form=provider.post_form)
    return oidc, provider


def test_oidc_code_flow(tmp_path: Path) -> None:
    oidc, provider = oidc_setup(tmp_path)
    url, cookie = oidc.start("kms.example:9998")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(f"{ISSUER}/auth?")
    assert query["redirect_uri"] == "http://kms.example:9998/ui/oidc/callback"
    assert query["code_challenge_method"] == "S256" and query["scope"] == "openid email profile"
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/ui/oidc" in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    state, nonce, verifier = value.split(".")
    assert state == query["state"] and nonce == query["nonce"]
    provider.nonce = nonce
    token, user = oidc.finish("kms.example:9998", {"code": "c1", "state": state}, value)
    assert user == "dana@example.com" and token.count(".") == 2
    _url, form = provider.posted[-1]
    assert form["code_verifier"] == verifier and form["client_secret"] == "s3cret" and form["code"] == "c1"

    # Another browser's answer, a replayed nonce, a provider error, no cookie: each refused with a reason.
    with pytest.raises(OidcError, match="does not match the sign-in"):
        oidc.finish("kms.example:9998", {"code": "c1", "state": "forged"}, value)
    provider.nonce = "another"
    with pytest.raises(OidcError, match="nonce"):
        oidc.finish("kms.example:9998", {"code": "c1", "state": state}, value)
    with pytest.raises(OidcError, match="access_denied: the user said no"):
        oidc.finish("h", {"error": "access_denied", "error_description": "the user said no"}, value)
    with pytest.raises(OidcError, match="expired"):
        oidc.finish("h", {"code": "c1", "state": state}, None)


def test_oidc_callback_route_redirects_to_the_page(tmp_path: Path) -> None:
    oidc, provider = oidc_setup(tmp_path)
    config = load_config({"database": "memory://"})
    web = WebUi(config, Authenticator(config), root=tmp_path, oidc=oidc)
    start = web.oidc_login(ui_request("/ui/oidc/login", headers={"host": "kms:1"}))
    assert start.status == 302
    cookie = dict(start.headers)[b"set-cookie"].decode().split(";", 1)[0]
    state, nonce, _ = cookie.split("=", 1)[1].split(".")
    provider.nonce = nonce
    done = web.oidc_callback(
        ui_request("/ui/oidc/callback", headers={"host": "kms:1", "cookie": cookie}, query=f"code=x&state={state}")
    )
    location = dict(done.headers)[b"location"].decode()
    assert done.status == 303 and location.startswith("/ui/#oidc_token=ey")
    assert b"Max-Age=0" in dict(done.headers)[b"set-cookie"]
    failed = web.oidc_callback(ui_request("/ui/oidc/callback", headers={"cookie": cookie}, query="state=zz&code=x"))
    assert dict(failed.headers)[b"location"].decode().startswith("/ui/#oidc_error=")
