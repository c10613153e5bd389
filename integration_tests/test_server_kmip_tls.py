"""``keystead serve`` as a subprocess, driven over the mutual-TLS KMIP port: PyKMIP's ProxyKmipClient in KMIP 1.2
and 2.0, and a raw TLS socket sending bad input that must get a KMIP error (or a closed connection when it cannot
even be framed) while the server keeps serving and nothing stored changes."""

from __future__ import annotations

import socket
import ssl
import struct
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from kms_backend.kmip import binary_codec, json_codec

try:
    from ._keystead_server import (  # type: ignore[import-not-found,unused-ignore]
        CREATE_AES_PAYLOAD,
        KeysteadProcess,
        pykmip_client,
        read_message,
        request_message,
        uid_payload,
    )
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import (
        CREATE_AES_PAYLOAD,
        KeysteadProcess,
        pykmip_client,
        read_message,
        request_message,
        uid_payload,
    )

pytestmark = [
    pytest.mark.integration,
    # PyKMIP 0.11 uses deprecated ssl and SQLAlchemy APIs; pytest turns warnings into errors.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*MovedIn20Warning.*"),
]

MAX_MESSAGE = 65536

with warnings.catch_warnings():  # PyKMIP is locked in requirements.lock: its absence is an error, not a skip
    warnings.simplefilter("ignore")
    from kmip import enums
    from kmip.pie import objects
    from kmip.pie.exceptions import KmipOperationFailure


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(tmp_path_factory.mktemp("kmip"), "--max-message-size", str(MAX_MESSAGE))
    assert process.kmip_port is not None
    yield process
    assert process.stop() == 0


# --- PyKMIP ----------------------------------------------------------------------------------------------------------

VERSIONS = ["KMIP_1_2", "KMIP_2_0"]


@pytest.fixture(params=VERSIONS)
def pykmip(request: pytest.FixtureRequest, server: KeysteadProcess) -> Iterator[Any]:
    with pykmip_client(server, request.param) as client:
        yield client


def test_create_get_attributes_activate_revoke_destroy(pykmip: Any) -> None:
    uid = pykmip.create(enums.CryptographicAlgorithm.AES, 256)
    key = pykmip.get(uid)
    assert key.cryptographic_algorithm == enums.CryptographicAlgorithm.AES and len(key.value) == 32
    got_uid, attributes = pykmip.get_attributes(uid, ["Cryptographic Length"])
    assert got_uid == uid
    assert [a.attribute_value.value for a in attributes] == [256]
    pykmip.activate(uid)
    pykmip.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
    pykmip.destroy(uid)
    with pytest.raises(KmipOperationFailure):
        pykmip.get(uid)


def test_register_and_locate(pykmip: Any) -> None:
    secret = objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, bytes(range(16)), name=f"key-{uuid.uuid4()}")
    uid = pykmip.register(secret)
    assert pykmip.get(uid).value == bytes(range(16))
    found = pykmip.locate()
    assert uid in found


def test_create_key_pair(pykmip: Any) -> None:
    public, private = pykmip.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048)
    assert public != private
    assert pykmip.get(public).key_format_type is not None


def test_many_requests_on_one_connection(pykmip: Any) -> None:
    uid = pykmip.create(enums.CryptographicAlgorithm.AES, 128)
    for _ in range(50):
        assert len(pykmip.get(uid).value) == 16


# --- raw TLS socket --------------------------------------------------------------------------------------------------


def tls_connect(server: KeysteadProcess, user: str | None = "client") -> ssl.SSLSocket:
    assert server.certs is not None and server.kmip_port is not None
    context = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    if user is not None:
        context.load_cert_chain(str(server.certs / f"{user}.pem"), str(server.certs / f"{user}.key"))
    sock = socket.create_connection(("127.0.0.1", server.kmip_port), timeout=10)
    return context.wrap_socket(sock, server_hostname="localhost")


def results(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [{c["tag"]: c.get("value") for c in i["value"]} for i in response["value"] if i["tag"] == "BatchItem"]


def binary(message: dict[str, Any]) -> bytes:
    return binary_codec.encode(json_codec.decode_obj(message))


def exchange(conn: ssl.SSLSocket, data: bytes) -> dict[str, Any] | None:
    conn.sendall(data)
    return read_message(conn)


def locate_count(server: KeysteadProcess) -> int:
    with tls_connect(server) as conn:
        response = exchange(conn, binary(request_message(("Locate", [{"tag": "Attributes", "value": []}]))))
        assert response is not None
        (result,) = results(response)
        assert result["ResultStatus"] == "Success", result
        return len([c for c in result["ResponsePayload"] if c["tag"] == "UniqueIdentifier"])


def test_binary_create_and_get_on_a_persistent_connection(server: KeysteadProcess) -> None:
    with tls_connect(server) as conn:
        created = exchange(conn, binary(request_message(("Create", CREATE_AES_PAYLOAD))))
        assert created is not None
        uid = results(created)[0]["ResponsePayload"][1]["value"]
        for _ in range(20):
            got = exchange(conn, binary(request_message(("Get", uid_payload(uid)))))
            assert got is not None and results(got)[0]["ResultStatus"] == "Success"


def _framed_garbage() -> bytes:
    body = b"\xde\xad\xbe\xef" * 8
    return struct.pack(">II", 0x42007801, len(body)) + body


FRAMED_BAD = {
    "framed garbage": _framed_garbage(),
    "wrong version": binary(request_message(("Create", CREATE_AES_PAYLOAD), version=(4, 0))),  # 3.0 is read as 2.1
    "unknown operation": binary(request_message(("Cancel", []))),
    "missing fields": binary(request_message(("Create", [{"tag": "ObjectType", "type": "Enumeration", "value": 2}]))),
    "response instead of request": struct.pack(">II", 0x42007B01, 0),
}


@pytest.mark.parametrize("name", list(FRAMED_BAD))
def test_framed_bad_input_gets_a_kmip_error_and_the_connection_stays_usable(server: KeysteadProcess, name: str) -> None:
    before = locate_count(server)
    with tls_connect(server) as conn:
        response = exchange(conn, FRAMED_BAD[name])
        if response is None:
            assert name == "response instead of request"  # not a request header: hung up, as for garbage
        else:
            assert all(r["ResultStatus"] == "OperationFailed" for r in results(response)), response
            again = exchange(
                conn,
                binary(
                    request_message(
                        ("Query", [{"tag": "QueryFunction", "type": "Enumeration", "value": "QueryOperations"}])
                    )
                ),
            )
            assert again is not None and results(again)[0]["ResultStatus"] == "Success"
    assert locate_count(server) == before


def test_unframeable_garbage_closes_the_connection(server: KeysteadProcess) -> None:
    with tls_connect(server) as conn:
        assert exchange(conn, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") is None
    assert locate_count(server) >= 0  # still serving


def test_oversized_message_gets_an_error_then_the_connection_closes(server: KeysteadProcess) -> None:
    with tls_connect(server) as conn:
        conn.sendall(struct.pack(">II", 0x42007801, MAX_MESSAGE * 4))
        response = read_message(conn)
        assert response is not None
        assert results(response)[0]["ResultReason"] == "Invalid_Message"
        assert read_message(conn) is None
    assert locate_count(server) >= 0


def test_truncated_message_then_disconnect(server: KeysteadProcess) -> None:
    data = binary(request_message(("Create", CREATE_AES_PAYLOAD)))
    before = locate_count(server)
    with tls_connect(server) as conn:
        conn.sendall(data[: len(data) // 2])
    assert locate_count(server) == before


def test_client_without_certificate_is_refused(server: KeysteadProcess) -> None:
    # TLS 1.3 reports the refusal on the first read rather than in the handshake.
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)), tls_connect(server, user=None) as conn:
        conn.sendall(binary(request_message(("Query", []))))
        if read_message(conn) is None:
            raise ConnectionError("closed")
    assert locate_count(server) >= 0


def test_the_other_user_is_identified_by_its_certificate(server: KeysteadProcess) -> None:
    with tls_connect(server, "client") as admin:
        created = exchange(admin, binary(request_message(("Create", CREATE_AES_PAYLOAD))))
        assert created is not None
        uid = results(created)[0]["ResponsePayload"][1]["value"]
    with tls_connect(server, "user") as user:
        response = exchange(user, binary(request_message(("Get", uid_payload(uid)))))
        assert response is not None
        assert results(response)[0]["ResultStatus"] == "OperationFailed"  # not the owner
