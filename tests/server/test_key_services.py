"""The key-service plumbing without a server: configuration checks, routing of multi-parameter paths, the OpenAPI
path parameters, Google's resource key hash and the Google issuer defaults. (The services themselves are tested
end to end in integration_tests/test_google_cse.py and test_ms_dke.py.)"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kms_backend.server.config import ConfigError, JwtIssuer, load_config
from kms_backend.server.google_cse import google_issuers, resource_key_hash
from kms_backend.server.http_app import HttpError, Request, Response, Route, Router
from kms_backend.server.openapi import openapi_document
from kms_backend.server.tokens import TokenError, TokenVerifier

ISSUERS = '[{"issuer": "https://idp.example", "jwks_uri": "https://idp.example/jwks"}]'


def _handler(_request: Request) -> Response:
    return Response(200, b"")


def test_router_matches_several_parameters() -> None:
    router = Router(
        [
            Route("GET", "/ms_dke/{key_name}", _handler, "key"),
            Route("POST", "/ms_dke/{key_name}/{key_id}/decrypt", _handler, "decrypt"),
            Route("GET", "/access/list/{id}", _handler, "list"),
        ]
    )
    route, params = router.match("POST", "/ms_dke/contoso/abc-123/decrypt")
    assert route.summary == "decrypt" and params == {"key_name": "contoso", "key_id": "abc-123"}
    route, params = router.match("GET", "/ms_dke/contoso")
    assert route.summary == "key" and params == {"key_name": "contoso"}
    for path in ("/ms_dke/contoso/abc/encrypt", "/ms_dke//abc/decrypt", "/ms_dke/a/b/c/decrypt"):
        with pytest.raises(HttpError) as missing:
            router.match("POST", path)
        assert missing.value.status == 404
    with pytest.raises(HttpError) as wrong_method:
        router.match("GET", "/ms_dke/contoso/abc/decrypt")
    assert wrong_method.value.status == 405


def test_openapi_names_every_path_parameter() -> None:
    config = load_config({}, {})
    routes = [Route("POST", "/ms_dke/{key_name}/{key_id}/decrypt", _handler, "decrypt")]
    operation = openapi_document(routes, config)["paths"]["/ms_dke/{key_name}/{key_id}/decrypt"]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["key_name", "key_id"]


def test_key_service_options_need_their_issuers_and_urls() -> None:
    with pytest.raises(ConfigError, match="google-cse-authentication-issuers"):
        load_config({"google_cse_kacls_url": "https://kms.example/google_cse"}, {})
    with pytest.raises(ConfigError, match="must be an http"):
        load_config({"google_cse_kacls_url": "kms.example", "google_cse_authentication_issuers": ISSUERS}, {})
    with pytest.raises(ConfigError, match="ms-dke-issuers"):
        load_config({"ms_dke_service_url": "https://kms.example/ms_dke"}, {})
    config = load_config(
        {},
        {
            "KEYSTEAD_MS_DKE_SERVICE_URL": "https://kms.example/ms_dke",
            "KEYSTEAD_MS_DKE_ISSUERS": ISSUERS,
            "KEYSTEAD_MS_DKE_TENANTS": "t1,t2",
        },
    )
    assert config.ms_dke_tenants == ("t1", "t2") and config.ms_dke_issuers[0].issuer == "https://idp.example"
    assert load_config({}, {}).google_cse_key_id == '["google_cse"]'


def test_resource_key_hash_is_googles_hmac() -> None:
    key = bytes(range(32))
    expected = hmac.new(key, b"ResourceKeyDigest:doc-1:perimeter", hashlib.sha256).digest()
    assert base64.b64decode(resource_key_hash(key, "doc-1", "perimeter")) == expected


def test_google_issuers_default() -> None:
    issuers = {i.issuer: i for i in google_issuers()}
    drive = issuers["gsuitecse-tokenissuer-drive@system.gserviceaccount.com"]
    assert drive.audience == ("cse-authorization",) and drive.jwks_uri is not None
    assert drive.jwks_uri.endswith("/gsuitecse-tokenissuer-drive@system.gserviceaccount.com")
    assert "apps-security-cse-kaclscommunication@system.gserviceaccount.com" in issuers


def _issuer_and_token(**claims: object) -> tuple[JwtIssuer, str, dict[str, object]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk["kid"] = "k1"
    issuer = JwtIssuer(issuer="https://idp.example", jwks_uri="https://idp.example/jwks", audience=("app",))
    body = {"iss": issuer.issuer, "aud": "app", "exp": int(time.time()) + 60, **claims}
    token = jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})
    return issuer, token, {"keys": [jwk]}


def test_token_verifier_answers_503_when_the_issuer_keys_cannot_be_fetched() -> None:
    issuer, token, jwks = _issuer_and_token(email="a@example.com")

    def unreachable(_url: str) -> bytes:
        raise OSError("connection refused")

    with pytest.raises(TokenError) as down:
        TokenVerifier([issuer], fetch=unreachable).verify(token, "authentication token")
    assert down.value.status == 503
    claims = TokenVerifier([issuer], fetch=lambda _url: json.dumps(jwks).encode()).verify(token, "token")
    assert claims["email"] == "a@example.com"
    _, other_audience, _ = _issuer_and_token(aud="other")
    with pytest.raises(TokenError) as wrong:
        TokenVerifier([issuer], fetch=lambda _url: json.dumps(jwks).encode()).verify(other_audience, "token")
    assert wrong.value.status == 401


def test_cse_without_its_wrapping_key_answers_500_in_googles_shape(tmp_path) -> None:
    """A key service whose AES key was never created: a clear 500 in Google's error JSON, with CORS, and status
    still answers."""
    from .conftest import build_server, caller

    idp_issuer, idp_token, idp_jwks = _issuer_and_token(email="alice@example.com")
    google_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    google_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(google_key.public_key()))
    (tmp_path / "idp.json").write_text(json.dumps(idp_jwks))
    (tmp_path / "google.json").write_text(json.dumps({"keys": [google_jwk]}))
    kacls = "https://kms.example/google_cse"
    server = build_server(
        google_cse_kacls_url=kacls,
        google_cse_authentication_issuers=[
            {"issuer": idp_issuer.issuer, "jwks_file": str(tmp_path / "idp.json"), "audience": ["app"]}
        ],
        google_cse_authorization_issuers=[
            {"issuer": "google", "jwks_file": str(tmp_path / "google.json"), "audience": ["cse-authorization"]}
        ],
    )
    authorization = jwt.encode(
        {"iss": "google", "aud": "cse-authorization", "exp": int(time.time()) + 60, "email": "alice@example.com",
         "role": "writer", "resource_name": "doc", "kacls_url": kacls},
        google_key,
        algorithm="RS256",
    )  # fmt: skip
    call = caller(server)
    try:
        assert call("GET", "/google_cse/status").json()["kacls_url"] == kacls
        body = {"authentication": idp_token, "authorization": authorization, "key": "AAAA", "reason": ""}
        response = call("POST", "/google_cse/wrap", json=body)
        assert response.status_code == 500, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        error = response.json()
        assert error["code"] == 500 and "cannot use its KMS key" in error["message"]
    finally:
        server.close()
