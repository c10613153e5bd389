"""Microsoft Purview Double Key Encryption end to end: ``keystead serve`` on loopback with ``/ms_dke`` switched on,
an RSA key pair created with the ``keystead`` CLI and tagged with the DKE key name, and bearer tokens signed by a
test issuer standing in for Entra ID (its JWKS served over HTTP). The public key is fetched as Office does, content
keys are encrypted to it with RSA-OAEP-256 and decrypted through the real route; every refusal is checked as an
HTTP 4xx with Microsoft's error JSON."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AUDIENCE = "https://aadrm.com"
KEY_NAME = "contoso-dke"
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@dataclass
class Dke:
    server: KeysteadProcess
    http: httpx.Client
    entra: TokenIssuer
    service_url: str
    workdir: Any

    def token(self, **claims: Any) -> str:
        body = {"aud": AUDIENCE, "tid": TENANT, "upn": "alice@contoso.test", "scp": "user_impersonation", **claims}
        return self.entra.token({k: v for k, v in body.items() if v is not None})

    def decrypt(self, key_id: str, value: str, token: str | None, alg: str = "RSA-OAEP-256") -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        return self.http.post(
            f"/ms_dke/{KEY_NAME}/{key_id}/decrypt", json={"alg": alg, "value": value}, headers=headers
        )


def refused(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"} and words in error["message"], error


@pytest.fixture(scope="module")
def dke(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dke]:
    entra = TokenIssuer(f"https://sts.windows.net/{TENANT}/")
    workdir = tmp_path_factory.mktemp("dke")
    port = free_port()
    service_url = f"http://127.0.0.1:{port}/ms_dke"
    with served_jwks(entra) as jwks:
        # The README's dke.yaml, its URLs, tenant and users pointed at loopback and the test issuer.
        config = yaml.safe_load(files(README)["dke.yaml"])
        assert config["ms_dke_issuers"][0]["audience"] == [AUDIENCE] and config["ms_dke_authorized_roles"]
        config |= {
            "ms_dke_service_url": service_url,
            "ms_dke_issuers": [{**config["ms_dke_issuers"][0], "issuer": entra.issuer, "jwks_uri": jwks + "/0"}],
            "ms_dke_tenants": [TENANT],
            "ms_dke_authorized_emails": ["alice@contoso.test", "@fabrikam.test"],
            "ms_dke_authorized_roles": ["DKE.Decrypt"],
        }
        (workdir / "keystead.yaml").write_text(yaml.safe_dump(config))
        server = KeysteadProcess.start(
            workdir, "--config", str(workdir / "keystead.yaml"), "--http-port", str(port), tls=False
        )
        try:
            assert f"Microsoft DKE key service at /ms_dke as {service_url}" in server.stdout.read_text()
            (command,) = keystead_commands(README, "dke-keys")  # the README's key pair, tagged with the key name
            assert command[-2:] == ["--tag", KEY_NAME]
            created = keystead(*command, "--url", server.http_url, cwd=workdir)
            assert created.returncode == 0, created.stderr
            with httpx.Client(base_url=server.http_url, timeout=30) as http:
                yield Dke(server, http, entra, service_url, workdir)
        finally:
            assert server.stop() == 0


def public_key(dke: Dke) -> tuple[rsa.RSAPublicKey, str]:
    response = dke.http.get(f"/ms_dke/{KEY_NAME}")
    assert response.status_code == 200, response.text
    answer = response.json()
    key = answer["key"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and isinstance(key["e"], int)
    assert key["kid"].startswith(f"{dke.service_url}/{KEY_NAME}/")
    expires = datetime.strptime(answer["cache"]["exp"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    assert 23 * 3600 < (expires - datetime.now(UTC)).total_seconds() <= 24 * 3600
    modulus = int.from_bytes(base64.b64decode(key["n"]), "big")
    assert modulus.bit_length() == 2048
    return rsa.RSAPublicNumbers(key["e"], modulus).public_key(), key["kid"].rsplit("/", 1)[1]


def test_public_key_then_decrypt(dke: Dke) -> None:
    key, key_id = public_key(dke)
    secret = os.urandom(32)
    value = base64.b64encode(key.encrypt(secret, OAEP)).decode()
    response = dke.decrypt(key_id, value, dke.token())
    assert response.status_code == 200, response.text
    assert base64.b64decode(response.json()["value"]) == secret
    # Authorized by domain, by role, and by the email claim instead of upn.
    for claims in (
        {"upn": "bob@fabrikam.test"},
        {"upn": "carol@elsewhere.test", "roles": ["Reader", "DKE.Decrypt"]},
        {"upn": None, "email": "Alice@Contoso.test"},
    ):
        answer = dke.decrypt(key_id, value, dke.token(**claims))
        assert answer.status_code == 200, (claims, answer.text)
        assert base64.b64decode(answer.json()["value"]) == secret


def test_refusals(dke: Dke) -> None:
    key, key_id = public_key(dke)
    value = base64.b64encode(key.encrypt(b"k" * 32, OAEP)).decode()
    stranger = TokenIssuer("https://sts.windows.net/00000000-0000-0000-0000-000000000000/")
    forger = TokenIssuer(dke.entra.issuer)
    missing = dke.decrypt(key_id, value, None)
    refused(missing, 401, "Bearer")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    refused(dke.decrypt(key_id, value, stranger.token({"aud": AUDIENCE, "tid": TENANT})), 401, "not trusted")
    refused(dke.decrypt(key_id, value, dke.token(aud="https://other.example")), 401, "audience")
    refused(dke.decrypt(key_id, value, dke.entra.token({"aud": AUDIENCE, "tid": TENANT}, lifetime=-600)), 401,
            "expired")  # fmt: skip
    header, payload, signature = dke.token().split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    refused(dke.decrypt(key_id, value, tampered), 401, "")
    refused(dke.decrypt(key_id, value, forger.token({"aud": AUDIENCE, "tid": TENANT})), 401, "cannot be checked")
    refused(dke.decrypt(key_id, value, dke.token(tid="11111111-2222-3333-4444-555555555555")), 403, "tenant")
    refused(dke.decrypt(key_id, value, dke.token(upn="mallory@evil.test")), 403, "not authorized")
    refused(dke.decrypt(key_id, value, dke.token(upn="eve@contoso.test", roles=["Reader"])), 403, "not authorized")
    refused(dke.decrypt(key_id, value, dke.token(), alg="RSA-OAEP"), 400, "RSA-OAEP-256")
    refused(dke.decrypt(key_id, "***", dke.token()), 400, "base64")
    refused(dke.decrypt(key_id, base64.b64encode(os.urandom(256)).decode(), dke.token()), 400, "does not decrypt")
    refused(dke.decrypt("no-such-key", value, dke.token()), 404, "no-such-key")
    refused(dke.http.get("/ms_dke/no-such-name"), 404, "no-such-name")


def test_key_id_must_be_a_public_key_of_that_name(dke: Dke) -> None:
    """The key id of another name's key, or a private key's id, does not decrypt under this name."""
    other = keystead(
        "rsa", "keys", "create", "--url", dke.server.http_url, "--size-in-bits", "2048", "--tag", "other-name",
        "--json", cwd=dke.workdir,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    _, key_id = public_key(dke)
    value = base64.b64encode(os.urandom(256)).decode()
    created = json.loads(other.stdout)
    own_private = _private_key_of(dke, key_id)
    for uid in (created["public_key_id"], created["private_key_id"], own_private):
        refused(dke.decrypt(uid, value, dke.token()), 404, "named")


def _private_key_of(dke: Dke, public_id: str) -> str:
    """The id of the private key of ``public_id`` (its Private Key Link), through the KMIP JSON API."""
    response = dke.http.post(
        "/kmip/2_1",
        json={"tag": "GetAttributes", "value": [{"tag": "UniqueIdentifier", "type": "TextString", "value": public_id}]},
    )
    assert response.status_code == 200, response.text
    links = [
        {c["tag"]: c["value"] for c in node["value"]}
        for node in response.json()["value"][1]["value"]
        if node["tag"] == "Link"
    ]
    return next(str(link["LinkedObjectIdentifier"]) for link in links if link["LinkType"] == "PrivateKeyLink")


def test_rotation_keeps_old_documents_readable(dke: Dke) -> None:
    """A new key pair tagged with the same name: Office gets the new public key, content protected with the old one
    still decrypts with its own key id."""
    old_key, old_id = public_key(dke)
    old_secret = os.urandom(32)
    old_value = base64.b64encode(old_key.encrypt(old_secret, OAEP)).decode()
    (command,) = keystead_commands(README, "dke-keys")
    rotated = keystead(*command, "--url", dke.server.http_url, cwd=dke.workdir)
    assert rotated.returncode == 0, rotated.stderr
    new_key, new_id = public_key(dke)
    assert new_id != old_id
    new_secret = os.urandom(32)
    new_value = base64.b64encode(new_key.encrypt(new_secret, OAEP)).decode()
    for key_id, value, secret in ((old_id, old_value, old_secret), (new_id, new_value, new_secret)):
        response = dke.decrypt(key_id, value, dke.token())
        assert response.status_code == 200, response.text
        assert base64.b64decode(response.json()["value"]) == secret
    refused(dke.decrypt(old_id, new_value, dke.token()), 400, "does not decrypt")


def test_key_name_that_needs_escaping(dke: Dke) -> None:
    """A key name with a space: the kid is a URL (percent-encoded) that Office posts back to as it is."""
    created = keystead(
        "rsa", "keys", "create", "--url", dke.server.http_url, "--size-in-bits", "2048", "--tag", "Finance Team",
        cwd=dke.workdir,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    answer = dke.http.get("/ms_dke/Finance%20Team")
    assert answer.status_code == 200, answer.text
    key = answer.json()["key"]
    assert key["kid"].startswith(f"{dke.service_url}/Finance%20Team/")
    public = rsa.RSAPublicNumbers(key["e"], int.from_bytes(base64.b64decode(key["n"]), "big")).public_key()
    secret = os.urandom(32)
    path = key["kid"][len(dke.service_url) - len("/ms_dke") :] + "/decrypt"
    response = dke.http.post(
        path,
        json={"alg": "RSA-OAEP-256", "value": base64.b64encode(public.encrypt(secret, OAEP)).decode()},
        headers={"authorization": f"Bearer {dke.token()}"},
    )
    assert response.status_code == 200, response.text
    assert base64.b64decode(response.json()["value"]) == secret


def test_service_user_needs_the_keys_shared(tmp_path: Any) -> None:
    """With ``ms_dke_user`` another user than the keys' owner, the keys are not found until the owner shares them
    (the README's `keystead access-rights grant`)."""
    entra = TokenIssuer(f"https://sts.windows.net/{TENANT}/")
    port = free_port()
    config = {
        "ms_dke_service_url": f"http://127.0.0.1:{port}/ms_dke",
        "ms_dke_issuers": [{"issuer": entra.issuer, "jwks_file": str(entra.write_jwks(tmp_path / "jwks.json")),
                            "audience": [AUDIENCE]}],
        "ms_dke_user": "dke-service",
    }  # fmt: skip
    (tmp_path / "keystead.yaml").write_text(yaml.safe_dump(config))
    server = KeysteadProcess.start(tmp_path, "--config", str(tmp_path / "keystead.yaml"), "--http-port", str(port),
                                   tls=False)  # fmt: skip
    try:
        created = keystead(
            "rsa", "keys", "create", "--url", server.http_url, "--size-in-bits", "2048", "--tag", KEY_NAME, "--json",
            cwd=tmp_path,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        ids = json.loads(created.stdout)
        with httpx.Client(base_url=server.http_url, timeout=30) as http:
            refused(http.get(f"/ms_dke/{KEY_NAME}"), 404, KEY_NAME)
            for uid, operations in (
                (ids["public_key_id"], ["get", "getattributes", "locate"]),
                (ids["private_key_id"], ["decrypt"]),
            ):
                granted = keystead(
                    "access-rights", "grant", "dke-service", "--object-id", uid, *operations, "--url",
                    server.http_url, cwd=tmp_path,
                )  # fmt: skip
                assert granted.returncode == 0, granted.stderr
            answer = http.get(f"/ms_dke/{KEY_NAME}")
            assert answer.status_code == 200, answer.text
            key = answer.json()["key"]
            public = rsa.RSAPublicNumbers(key["e"], int.from_bytes(base64.b64decode(key["n"]), "big")).public_key()
            secret = os.urandom(32)
            token = entra.token({"aud": AUDIENCE, "tid": TENANT, "upn": "alice@contoso.test"})
            response = http.post(
                f"/ms_dke/{KEY_NAME}/{ids['public_key_id']}/decrypt",
                json={"alg": "RSA-OAEP-256", "value": base64.b64encode(public.encrypt(secret, OAEP)).decode()},
                headers={"authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
            assert base64.b64decode(response.json()["value"]) == secret
    finally:
        assert server.stop() == 0
