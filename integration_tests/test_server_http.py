"""``keystead serve`` as a subprocess, driven over HTTPS (mutual TLS) with httpx: JSON TTLV on /kmip/2_1 (bare
operations and batched Request Messages), binary TTLV on /kmip, and bad input that must get a 4xx or a KMIP error
while the server keeps serving and nothing stored changes."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kms_backend.kmip import binary_codec, json_codec

try:
    from ._keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess, request_message, uid_payload  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess, request_message, uid_payload

pytestmark = pytest.mark.integration

MAX_MESSAGE = 65536


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(tmp_path_factory.mktemp("http"), "--max-message-size", str(MAX_MESSAGE))
    yield process
    assert process.stop() == 0
    assert "Keystead stopped." in process.stdout.read_text()


def client(server: KeysteadProcess, user: str = "client") -> httpx.Client:
    assert server.certs is not None
    context = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    context.load_cert_chain(str(server.certs / f"{user}.pem"), str(server.certs / f"{user}.key"))
    return httpx.Client(base_url=server.http_url, verify=context, timeout=30)


@pytest.fixture(scope="module")
def admin(server: KeysteadProcess) -> Iterator[httpx.Client]:
    with client(server) as http:
        yield http


def owned_count(http: httpx.Client) -> int:
    return len(http.get("/access/owned").json())


def batch_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{c["tag"]: c.get("value") for c in item["value"]} for item in body["value"] if item["tag"] == "BatchItem"]


def test_startup_health_and_identity(server: KeysteadProcess, admin: httpx.Client) -> None:
    assert server.http_url.startswith("https://")
    assert admin.get("/health").json()["status"] == "UP"
    assert admin.get("/me").json() == {"user": "admin"}  # the client certificate's CN
    with client(server, "user") as other:
        assert other.get("/me").json() == {"user": "user"}
    assert "KMIP  127.0.0.1:" in server.stdout.read_text()


def test_bare_json_operations(admin: httpx.Client) -> None:
    response = admin.post("/kmip/2_1", json={"tag": "Create", "value": CREATE_AES_PAYLOAD})
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["tag"] == "CreateResponse"
    uid = created["value"][1]["value"]
    got = admin.post("/kmip/2_1", json={"tag": "Get", "value": uid_payload(uid)})
    assert got.status_code == 200 and got.json()["tag"] == "GetResponse"
    attributes = admin.post("/kmip/2_1", json={"tag": "GetAttributes", "value": uid_payload(uid)})
    assert attributes.status_code == 200 and attributes.json()["tag"] == "GetAttributesResponse"


def test_batched_request_message(admin: httpx.Client) -> None:
    # Create then Get through the ID Placeholder (no UniqueIdentifier in the Get).
    query = [{"tag": "QueryFunction", "type": "Enumeration", "value": "QueryOperations"}]
    message = request_message(("Create", CREATE_AES_PAYLOAD), ("Get", []), ("Query", query))
    response = admin.post("/kmip/2_1", json=message)
    assert response.status_code == 200
    results = batch_results(response.json())
    assert [r["ResultStatus"] for r in results] == ["Success", "Success", "Success"]
    assert [r["Operation"] for r in results] == ["Create", "Get", "Query"]


def test_binary_over_http(admin: httpx.Client) -> None:
    query = [{"tag": "QueryFunction", "type": "Enumeration", "value": "QueryOperations"}]
    for version in ((2, 1), (2, 0), (1, 4), (1, 0)):
        # Query reads the same in every version (Create's attributes differ between 1.x and 2.x).
        tree = json_codec.decode_obj(request_message(("Query", query), version=version))
        response = admin.post(
            "/kmip", content=binary_codec.encode(tree), headers={"content-type": "application/octet-stream"}
        )
        assert response.status_code == 200
        answer = json.loads(json_codec.encode(binary_codec.decode(response.content)))
        pv = answer["value"][0]["value"][0]["value"]
        assert (pv[0]["value"], pv[1]["value"]) == version
        assert batch_results(answer)[0]["ResultStatus"] == "Success", answer


BAD_BARE = [
    (b"garbage", 422),
    (b'{"tag": "Create", "value": [', 422),  # truncated
    (b'{"tag": "Launch", "value": []}', 404),  # unknown operation
    (b'{"tag": "Create", "value": []}', 422),  # missing fields
    (b'{"tag": "Get", "value": [{"tag": "UniqueIdentifier", "type": "Integer", "value": "x"}]}', 422),
    (b"x" * (MAX_MESSAGE + 1), 413),
]


@pytest.mark.parametrize(("body", "status"), BAD_BARE)
def test_bad_json_input_is_4xx_and_changes_nothing(admin: httpx.Client, body: bytes, status: int) -> None:
    before = owned_count(admin)
    response = admin.post("/kmip/2_1", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert owned_count(admin) == before
    assert admin.get("/health").status_code == 200


def _binary(message: dict[str, Any]) -> bytes:
    return binary_codec.encode(json_codec.decode_obj(message))


BAD_BINARY = [
    b"\x00" * 5,  # shorter than a header
    b"\x42\x00\x78\x01\x00\x00\x01\x00" + b"\x00" * 16,  # truncated: declares 256 bytes
    _binary(request_message(("Create", CREATE_AES_PAYLOAD), version=(9, 9))),  # wrong version
    _binary(request_message(("Create", CREATE_AES_PAYLOAD), version=(2, 1)))[:-8],  # cut
    _binary(request_message(("Create", []))),  # missing fields
    _binary(request_message(("Cancel", []))),  # an operation the server does not support
]


@pytest.mark.parametrize("body", BAD_BINARY)
def test_bad_binary_input_gets_a_kmip_error(admin: httpx.Client, body: bytes) -> None:
    before = owned_count(admin)
    response = admin.post("/kmip", content=body, headers={"content-type": "application/octet-stream"})
    assert response.status_code == 200
    answer = json.loads(json_codec.encode(binary_codec.decode(response.content)))
    assert all(r["ResultStatus"] == "OperationFailed" for r in batch_results(answer))
    assert owned_count(admin) == before


def test_errors_on_other_routes(admin: httpx.Client) -> None:
    assert admin.get("/nowhere").status_code == 404
    assert admin.put("/kmip").status_code == 405
    assert admin.post("/kmip", content=b"x", headers={"content-type": "image/gif"}).status_code == 415
    oversized = admin.post(
        "/kmip", content=b"\0" * (MAX_MESSAGE + 8), headers={"content-type": "application/octet-stream"}
    )
    assert oversized.status_code == 413
    assert admin.get("/health").status_code == 200


def test_tls_client_without_certificate_is_refused(server: KeysteadProcess) -> None:
    assert server.certs is not None
    context = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    with (
        httpx.Client(base_url=server.http_url, verify=context) as anonymous,
        pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
    ):
        anonymous.get("/me")


def test_plain_http_without_tls_is_the_make_run_default(tmp_path: Path) -> None:
    process = KeysteadProcess.start(tmp_path, tls=False)
    try:
        banner = process.stdout.read_text()
        assert process.http_url.startswith("http://127.0.0.1:")
        assert "KMIP  disabled" in banner and "keystead certs init" in banner
        with httpx.Client(base_url=process.http_url) as http:
            assert http.get("/health").status_code == 200
            assert http.get("/me").json() == {"user": "admin"}
            assert http.post("/kmip/2_1", json={"tag": "Create", "value": CREATE_AES_PAYLOAD}).status_code == 200
        assert (tmp_path / "data" / "keystead.sqlite").exists()
    finally:
        assert process.stop() == 0
    assert "Keystead stopped." in process.stdout.read_text()
