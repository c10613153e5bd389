"""Google Workspace CSE end to end: two ``keystead serve`` processes on loopback act as key services (KACLS), their
keys created with the ``keystead`` CLI; requests go through the real ``/google_cse`` routes with tokens signed by
test issuers (the identity provider's JWKS served over HTTP, "Google's" from a file). Checked: Google's JSON shapes,
the wrap/unwrap/digest/privileged/S-MIME operations, a rewrap from one KACLS to the other (the new one signs a
token that the old one verifies against its /certs), and every refusal as Google's structured error."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

try:
    from ._keystead_server import REPO, KeysteadProcess, free_port, keystead  # type: ignore[import-not-found,unused-ignore]
    from ._recipe import files, keystead_commands  # type: ignore[import-not-found,unused-ignore]
    from ._token_issuer import TokenIssuer, served_jwks  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import REPO, KeysteadProcess, free_port, keystead
    from _recipe import files, keystead_commands
    from _token_issuer import TokenIssuer, served_jwks

pytestmark = pytest.mark.integration

README = REPO / "README.md"
DRIVE_ISSUER = "gsuitecse-tokenissuer-drive@system.gserviceaccount.com"
IDP_AUDIENCE = "kacls-test-audience"
USER = "Alice@Example.com"
RESOURCE = "//googleapis.com/drive/files/1AbC"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Kacls:
    """One running key service and the tokens for it."""

    server: KeysteadProcess
    url: str  # its KACLS URL
    http: httpx.Client
    idp: TokenIssuer
    google: TokenIssuer

    def authorization(self, role: str | None, **claims: Any) -> str:
        body = {
            "aud": "cse-authorization",
            "email": USER.lower(),
            "kacls_url": self.url,
            "resource_name": RESOURCE,
            "perimeter_id": "",
            "role": role,
            **claims,
        }
        return self.google.token({k: v for k, v in body.items() if v is not None})

    def authentication(self, **claims: Any) -> str:
        body = {"aud": IDP_AUDIENCE, "email": USER, **claims}
        return self.idp.token({k: v for k, v in body.items() if v is not None})

    def post(self, operation: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"/google_cse/{operation}", json=body)

    def ok(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(operation, body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def refused(response: httpx.Response, status: int, words: str) -> None:
    """Google's structured error reply: the status, and a body {"code", "message", "details"}."""
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == status
    assert words in error["message"], error["message"]


def start_kacls(
    workdir: Path, port: int, peer_port: int, idp: TokenIssuer, jwks_url: str, google_jwks: Path, signing: bool
) -> KeysteadProcess:
    """``keystead serve`` with the README's cse.yaml, its URLs and issuers pointed at loopback and the test issuers,
    and the keys made by the README's commands."""
    url = f"http://127.0.0.1:{port}/google_cse"
    config: dict[str, Any] = yaml.safe_load(files(README)["cse.yaml"])
    assert set(config) == {"google_cse_kacls_url", "google_cse_authentication_issuers", "google_cse_privileged_users"}
    config |= {
        "google_cse_kacls_url": url,
        "google_cse_authentication_issuers": [
            {"issuer": idp.issuer, "jwks_uri": jwks_url, "audience": [IDP_AUDIENCE]},
        ],
        "google_cse_authorization_issuers": [
            {"issuer": DRIVE_ISSUER, "jwks_file": str(google_jwks), "audience": ["cse-authorization"]},
        ],
        "google_cse_kacls_peers": [f"http://127.0.0.1:{peer_port}/google_cse"],
        "google_cse_privileged_users": ["@example.com"],
    }
    if signing:
        config["google_cse_signing_key_id"] = '["google_cse_signing", "_sk"]'
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "keystead.yaml").write_text(yaml.safe_dump(config))
    server = KeysteadProcess.start(
        workdir, "--config", str(workdir / "keystead.yaml"), "--http-port", str(port), tls=False
    )
    assert f"CSE key service (KACLS) at /google_cse as {url}" in server.stdout.read_text()
    # The keys, by the README's commands: an AES-256 key tagged google_cse, and (for rewrap) an RSA signing key pair.
    commands = keystead_commands(README, "cse-keys")
    assert [c[:2] for c in commands] == [["sym", "keys"], ["rsa", "keys"]]
    for command in commands if signing else commands[:1]:
        created = keystead(*command, "--url", server.http_url, cwd=workdir)
        assert created.returncode == 0, created.stderr
    return server


@pytest.fixture(scope="module")
def issuers() -> Iterator[tuple[TokenIssuer, TokenIssuer, str]]:
    idp, google = TokenIssuer("https://idp.example.test"), TokenIssuer(DRIVE_ISSUER)
    with served_jwks(idp) as base:
        yield idp, google, base + "/0"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, issuers: Any) -> Iterator[tuple[Kacls, Kacls]]:
    """KACLS ``old`` (no signing key) and ``new`` (signs its tokens), each other's peer."""
    idp, google, jwks_url = issuers
    root = tmp_path_factory.mktemp("cse")
    google_jwks = google.write_jwks(root / "google-jwks.json")
    old_port, new_port = free_port(), free_port()
    old = start_kacls(root / "old", old_port, new_port, idp, jwks_url, google_jwks, signing=False)
    try:
        new = start_kacls(root / "new", new_port, old_port, idp, jwks_url, google_jwks, signing=True)
    except BaseException:
        old.stop()
        raise
    clients = [httpx.Client(base_url=s.http_url, timeout=30) for s in (old, new)]
    yield (
        Kacls(old, f"{old.http_url}/google_cse", clients[0], idp, google),
        Kacls(new, f"{new.http_url}/google_cse", clients[1], idp, google),
    )
    for client in clients:
        client.close()
    assert old.stop() == 0 and new.stop() == 0


@pytest.fixture(scope="module")
def kacls(pair: tuple[Kacls, Kacls]) -> Kacls:
    return pair[0]


def test_status_certs_and_cors(pair: tuple[Kacls, Kacls]) -> None:
    old, new = pair
    response = old.http.get("/google_cse/status")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    status = response.json()
    assert status["server_type"] == "KACLS" and status["kacls_url"] == old.url
    assert {"wrap", "unwrap", "digest", "rewrap", "privilegedunwrap", "privatekeysign"} <= set(
        status["operations_supported"]
    )
    preflight = old.http.options("/google_cse/wrap", headers={"origin": "https://drive.google.com"})
    assert preflight.status_code == 204 and "POST" in preflight.headers["access-control-allow-methods"]
    assert old.http.get("/google_cse/certs").json() == {"keys": []}
    keys = new.http.get("/google_cse/certs").json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["kid"]
    assert old.http.get("/google_cse/wrap").status_code == 405


def test_wrap_then_unwrap(kacls: Kacls) -> None:
    dek = os.urandom(32)
    wrapped = kacls.ok(
        "wrap",
        {
            "authentication": kacls.authentication(),
            "authorization": kacls.authorization("writer"),
            "key": b64(dek),
            "reason": "{client:'drive' op:'update'}",
        },
    )["wrapped_key"]
    raw = base64.b64decode(wrapped)
    assert len(raw) == 12 + 32 + 16  # nonce || ciphertext || tag
    for role in ("reader", "writer"):
        unwrapped = kacls.ok(
            "unwrap",
            {
                "authentication": kacls.authentication(),
                "authorization": kacls.authorization(role),
                "wrapped_key": wrapped,
                "reason": "",
            },
        )
        assert base64.b64decode(unwrapped["key"]) == dek
    # google_email, when the IdP's email differs, is the Workspace identity the authorization token names.
    unwrapped = kacls.ok(
        "unwrap",
        {
            "authentication": kacls.authentication(email="a.smith@idp.example.test", google_email=USER),
            "authorization": kacls.authorization("reader"),
            "wrapped_key": wrapped,
            "reason": "",
        },
    )
    assert base64.b64decode(unwrapped["key"]) == dek
    # The resource name is bound to the wrapped key: another document's token does not unwrap it.
    other = kacls.post(
        "unwrap",
        {
            "authentication": kacls.authentication(),
            "authorization": kacls.authorization("reader", resource_name="//googleapis.com/drive/files/other"),
            "wrapped_key": wrapped,
            "reason": "",
        },
    )
    refused(other, 400, "cannot be unwrapped")
    tampered = bytearray(raw)
    tampered[20] ^= 1
    refused(
        kacls.post(
            "unwrap",
            {
                "authentication": kacls.authentication(),
                "authorization": kacls.authorization("reader"),
                "wrapped_key": b64(bytes(tampered)),
                "reason": "",
            },
        ),
        400,
        "cannot be unwrapped",
    )


def _wrapped(kacls: Kacls, dek: bytes) -> str:
    body = {
        "authentication": kacls.authentication(),
        "authorization": kacls.authorization("writer"),
        "key": b64(dek),
        "reason": "",
    }
    return str(kacls.ok("wrap", body)["wrapped_key"])


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "writer" if claims.get("role") == "reader" else claims.get("role")
    claims["email"] = "mallory@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_token_refusals(kacls: Kacls) -> None:
    wrapped = _wrapped(kacls, os.urandom(32))
    intruder = TokenIssuer(DRIVE_ISSUER)  # the right issuer name, but not its key
    stranger = TokenIssuer("https://evil.example.test")
    cases: list[tuple[str, str, str, int, str]] = [
        # (which token, token, operation, status, words in the message)
        ("authorization", kacls.authorization("reader", aud="someone-else"), "unwrap", 401, "audience"),
        ("authorization", kacls.google.token({"aud": "cse-authorization", "email": USER, "role": "reader",
                                              "resource_name": RESOURCE, "kacls_url": kacls.url}, lifetime=-600),
         "unwrap", 401, "expired"),
        ("authorization", _tamper(kacls.authorization("reader")), "unwrap", 401, "signature"),
        ("authorization", intruder.token({"aud": "cse-authorization", "email": USER, "role": "reader",
                                          "resource_name": RESOURCE}), "unwrap", 401, "cannot be checked"),
        ("authorization", stranger.token({"aud": "cse-authorization", "email": USER, "role": "reader",
                                          "resource_name": RESOURCE}), "unwrap", 401, "not trusted"),
        ("authorization", kacls.authorization("reader"), "wrap", 403, "role 'reader' does not allow wrap"),
        ("authorization", kacls.authorization(None), "unwrap", 403, "role None"),
        ("authorization", kacls.authorization("reader", kacls_url="https://other.example/google_cse"), "unwrap",
         403, "is for the key service"),
        ("authorization", kacls.authorization("reader", email="bob@example.com"), "unwrap", 403, "different users"),
        ("authorization", kacls.authorization("reader", resource_name=None), "unwrap", 401, "resource_name"),
        ("authorization", "not-a-jwt", "unwrap", 401, "well-formed"),
        ("authorization", jwt.encode({"iss": DRIVE_ISSUER, "role": "reader"}, None, algorithm="none"), "unwrap",
         401, "not signed"),
        ("authentication", kacls.authentication(aud="another-app"), "unwrap", 401, "audience"),
        ("authentication", kacls.idp.token({"aud": IDP_AUDIENCE, "email": USER}, lifetime=-600), "unwrap", 401,
         "expired"),
        ("authentication", stranger.token({"aud": IDP_AUDIENCE, "email": USER}), "unwrap", 401, "not trusted"),
        ("authentication", kacls.authentication(email=None), "unwrap", 401, "email"),
        ("authentication", "", "unwrap", 401, "missing"),
    ]  # fmt: skip
    for which, token, operation, status, words in cases:
        body: dict[str, Any] = {
            "authentication": kacls.authentication(),
            "authorization": kacls.authorization("writer" if operation == "wrap" else "reader"),
            "reason": "",
        }
        body[which] = token
        if operation == "wrap":
            body["key"] = b64(os.urandom(32))
        else:
            body["wrapped_key"] = wrapped
        refused(kacls.post(operation, body), status, words)


def test_bad_input(kacls: Kacls) -> None:
    tokens = {"authentication": kacls.authentication(), "authorization": kacls.authorization("writer")}
    refused(kacls.post("wrap", {**tokens, "key": "%%%", "reason": ""}), 400, "not valid base64")
    refused(kacls.post("wrap", {**tokens, "key": b64(os.urandom(129)), "reason": ""}), 400, "more than the 128")
    refused(kacls.post("wrap", {**tokens, "reason": ""}), 400, "'key'")
    refused(kacls.post("wrap", {**tokens, "key": b64(b"k" * 32), "reason": "x" * 2000}), 400, "'reason'")
    refused(kacls.http.post("/google_cse/wrap", content=b"{not json"), 400, "not valid JSON")
    refused(kacls.http.post("/google_cse/unwrap", json=[1, 2]), 400, "JSON object")
    refused(kacls.post("unwrap", {**tokens, "wrapped_key": b64(b"short"), "reason": ""}), 400, "too short")


def test_digest(kacls: Kacls) -> None:
    dek = os.urandom(32)
    wrapped = _wrapped(kacls, dek)
    answer = kacls.ok(
        "digest",
        {"authorization": kacls.authorization("verifier", perimeter_id="p-1"), "wrapped_key": wrapped, "reason": ""},
    )
    expected = hmac.new(dek, f"ResourceKeyDigest:{RESOURCE}:p-1".encode(), hashlib.sha256).digest()
    assert base64.b64decode(answer["resource_key_hash"]) == expected
    refused(
        kacls.post("digest", {"authorization": kacls.authorization("reader"), "wrapped_key": wrapped, "reason": ""}),
        403,
        "does not allow digest",
    )


def test_privileged_wrap_and_unwrap(kacls: Kacls) -> None:
    dek = os.urandom(32)
    wrapped = kacls.ok(
        "privilegedwrap",
        {
            "authentication": kacls.authentication(),
            "key": b64(dek),
            "perimeter_id": "",
            "resource_name": RESOURCE,
            "reason": "bulk import",
        },
    )["wrapped_key"]
    # What privilegedwrap wrapped, unwrap opens with Google's tokens, and privilegedunwrap opens with the IdP's.
    unwrapped = kacls.ok(
        "unwrap",
        {
            "authentication": kacls.authentication(),
            "authorization": kacls.authorization("reader"),
            "wrapped_key": wrapped,
            "reason": "",
        },
    )
    assert base64.b64decode(unwrapped["key"]) == dek
    taken = kacls.ok(
        "privilegedunwrap",
        {"authentication": kacls.authentication(), "resource_name": RESOURCE, "wrapped_key": wrapped, "reason": ""},
    )
    assert base64.b64decode(taken["key"]) == dek
    refused(
        kacls.post(
            "privilegedunwrap",
            {"authentication": kacls.authentication(), "resource_name": "other", "wrapped_key": wrapped, "reason": ""},
        ),
        400,
        "cannot be unwrapped",
    )
    refused(
        kacls.post(
            "privilegedunwrap",
            {"authentication": kacls.authentication(aud="x"), "resource_name": RESOURCE, "wrapped_key": wrapped},
        ),
        401,
        "audience",
    )
    # A genuine identity that is not an administrator: the privileged operations bypass the documents' lists.
    outsider = {"authentication": kacls.authentication(email="eve@elsewhere.test"), "reason": ""}
    refused(
        kacls.post("privilegedunwrap", {**outsider, "resource_name": RESOURCE, "wrapped_key": wrapped}),
        403,
        "not in google_cse_privileged_users",
    )
    refused(
        kacls.post("privilegedwrap", {**outsider, "key": b64(dek), "resource_name": RESOURCE, "perimeter_id": ""}),
        403,
        "not in google_cse_privileged_users",
    )


def test_gmail_private_key_operations(kacls: Kacls) -> None:
    user_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = user_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    wrapped_key = kacls.ok("wrapprivatekey", {"authentication": kacls.authentication(), "perimeter_id": "",
                                              "private_key": pem})["wrapped_private_key"]  # fmt: skip
    spki = user_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spki_hash = b64(hashlib.sha256(spki).digest())

    def gmail(role: str, **claims: Any) -> dict[str, str]:
        extra = {"spki_hash": spki_hash, "spki_hash_algorithm": "SHA-256", **claims}
        return {"authentication": kacls.authentication(), "authorization": kacls.authorization(role, **extra)}

    digest = hashlib.sha256(b"signed attributes").digest()
    signed = kacls.ok(
        "privatekeysign",
        {**gmail("signer"), "algorithm": "SHA256withRSA", "digest": b64(digest), "reason": "",
         "wrapped_private_key": wrapped_key},
    )  # fmt: skip
    user_key.public_key().verify(
        base64.b64decode(signed["signature"]), digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
    )
    pss = kacls.ok(
        "privatekeysign",
        {**gmail("signer"), "algorithm": "RSASSA-PSS", "digest": b64(digest), "rsa_pss_salt_length": 32,
         "reason": "", "wrapped_private_key": wrapped_key},
    )  # fmt: skip
    user_key.public_key().verify(
        base64.b64decode(pss["signature"]),
        digest,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        utils.Prehashed(hashes.SHA256()),
    )
    dek = os.urandom(32)
    for algorithm, scheme in (
        ("RSA/ECB/PKCS1Padding", padding.PKCS1v15()),
        ("RSA/ECB/OAEPwithSHA-256andMGF1Padding", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)),
    ):
        encrypted = user_key.public_key().encrypt(dek, scheme)
        request = {"algorithm": algorithm, "encrypted_data_encryption_key": b64(encrypted), "reason": "",
                   "wrapped_private_key": wrapped_key}  # fmt: skip
        answer = kacls.ok("privatekeydecrypt", {**gmail("decrypter"), **request})
        assert base64.b64decode(answer["data_encryption_key"]) == dek
        privileged = kacls.ok(
            "privilegedprivatekeydecrypt",
            {"authentication": kacls.authentication(), "spki_hash": spki_hash, "spki_hash_algorithm": "SHA-256",
             **request},
        )  # fmt: skip
        assert base64.b64decode(privileged["data_encryption_key"]) == dek
    encrypted = user_key.public_key().encrypt(dek, padding.PKCS1v15())
    request = {"algorithm": "RSA/ECB/PKCS1Padding", "encrypted_data_encryption_key": b64(encrypted), "reason": "",
               "wrapped_private_key": wrapped_key}  # fmt: skip
    refused(kacls.post("privatekeydecrypt", {**gmail("signer"), **request}), 403, "does not allow privatekeydecrypt")
    refused(
        kacls.post("privatekeydecrypt", {**gmail("decrypter", spki_hash=b64(b"\0" * 32)), **request}),
        403,
        "spki_hash",
    )
    refused(
        kacls.post("privilegedprivatekeydecrypt", {"authentication": kacls.authentication(),
                                                   "spki_hash": b64(b"\1" * 32), **request}),
        403,
        "spki_hash",
    )  # fmt: skip
    refused(
        kacls.post("privatekeysign", {**gmail("signer"), "algorithm": "MD5withRSA", "digest": b64(digest),
                                      "reason": "", "wrapped_private_key": wrapped_key}),
        400,
        "unsupported signature algorithm",
    )  # fmt: skip


def test_rewrap_from_another_kacls(pair: tuple[Kacls, Kacls]) -> None:
    old, new = pair
    dek = os.urandom(32)
    wrapped_by_old = _wrapped(old, dek)
    answer = new.ok(
        "rewrap",
        {
            "authorization": new.authorization("migrator"),
            "original_kacls_url": old.url,
            "reason": "migration",
            "wrapped_key": wrapped_by_old,
        },
    )
    expected = hmac.new(dek, f"ResourceKeyDigest:{RESOURCE}:".encode(), hashlib.sha256).digest()
    assert base64.b64decode(answer["resource_key_hash"]) == expected
    unwrapped = new.ok(
        "unwrap",
        {
            "authentication": new.authentication(),
            "authorization": new.authorization("reader"),
            "wrapped_key": answer["wrapped_key"],
            "reason": "",
        },
    )
    assert base64.b64decode(unwrapped["key"]) == dek
    # The old KACLS cannot rewrap from the new one: it has no signing key to ask with.
    refused(
        old.post("rewrap", {"authorization": old.authorization("migrator"), "original_kacls_url": new.url,
                            "reason": "", "wrapped_key": answer["wrapped_key"]}),
        500,
        "google_cse_signing_key_id",
    )  # fmt: skip
    refused(
        new.post("rewrap", {"authorization": new.authorization("migrator"), "original_kacls_url":
                            "https://unknown.example/google_cse", "reason": "", "wrapped_key": wrapped_by_old}),
        403,
        "not one of google_cse_kacls_peers",
    )  # fmt: skip
    refused(
        new.post("rewrap", {"authorization": new.authorization("writer"), "original_kacls_url": old.url,
                            "reason": "", "wrapped_key": wrapped_by_old}),
        403,
        "does not allow rewrap",
    )  # fmt: skip


def test_privileged_unwrap_refuses_a_forged_kacls_token(pair: tuple[Kacls, Kacls]) -> None:
    old, new = pair
    wrapped = _wrapped(old, os.urandom(32))
    forger = TokenIssuer(new.url)  # claims to be the new KACLS, signs with a key its /certs does not publish
    forged = forger.token({"aud": "kacls-migration", "kacls_url": old.url, "resource_name": RESOURCE})
    body = {"authentication": forged, "resource_name": RESOURCE, "wrapped_key": wrapped, "reason": ""}
    refused(old.post("privilegedunwrap", body), 401, "KACLS token")
