"""libmongocrypt (pymongocrypt, with pymongo's bson) against our KMIP socket, no MongoDB server: explicit
encryption with an in-memory key vault, the state machine driven here with a callback whose ``kms_request`` sends
libmongocrypt's KMIP bytes over mutual TLS with the client certificate.

Both KMIP flows of libmongocrypt's KMIP KMS provider:

- default: the data key is encrypted locally under a 96-byte KMIP Secret Data that libmongocrypt Registers,
  Activates and later Gets;
- delegated (``"delegated": True``): libmongocrypt Creates an AES-256 key, Activates it and has the server
  Encrypt/Decrypt the data key (AES-CBC, PKCS#5, Random IV).
"""

from __future__ import annotations

import socket
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

try:
    from ._keystead_server import KeysteadProcess  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import KeysteadProcess

from kms_backend.kmip import binary_codec, messages
from kms_backend.kmip._registry_data import Operation

pytestmark = [pytest.mark.integration]

bson = pytest.importorskip("bson", reason="pymongo (bson) is not installed: pip install pymongo")
pymongocrypt = pytest.importorskip("pymongocrypt", reason="pymongocrypt is not installed: pip install pymongocrypt")

from pymongocrypt.options import MongoCryptOptions  # noqa: E402
from pymongocrypt.synchronous.explicit_encrypter import ExplicitEncrypter  # noqa: E402
from pymongocrypt.synchronous.state_machine import MongoCryptCallback  # noqa: E402

DETERMINISTIC = "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic"
RANDOM = "AEAD_AES_256_CBC_HMAC_SHA_512-Random"


class KeyVault(MongoCryptCallback):  # type: ignore[misc]
    """The driver side of libmongocrypt: an in-memory key vault and KMIP over mutual TLS."""

    def __init__(self, tls: ssl.SSLContext) -> None:
        self.tls = tls
        self.keys: list[dict[str, Any]] = []
        #: (operation, protocol version) of every KMIP request libmongocrypt sent.
        self.operations: list[tuple[Operation, tuple[int, int]]] = []

    def kms_request(self, kms_context: Any) -> None:
        host, _, port = kms_context.endpoint.rpartition(":")
        message = kms_context.message
        request = binary_codec.decode(message)
        typed = messages.decode_request(request)
        self.operations.extend(
            (Operation(item.operation), messages.protocol_version(request)) for item in typed.batch_item
        )
        with (
            socket.create_connection((host, int(port)), timeout=10) as raw,
            self.tls.wrap_socket(raw, server_hostname="localhost") as conn,
        ):
            conn.sendall(message)
            while kms_context.bytes_needed > 0:
                data = conn.recv(kms_context.bytes_needed)
                if not data:
                    raise ConnectionError("the KMIP server closed the connection")
                kms_context.feed(data)

    def collection_info(self, database: str, filter: bytes) -> None:
        raise AssertionError("explicit encryption needs no collection info")

    def mark_command(self, database: str, cmd: bytes) -> bytes:
        raise AssertionError("explicit encryption needs no mongocryptd")

    def fetch_keys(self, filter: bytes) -> Iterator[bytes]:
        query = bson.decode(filter)
        wanted = {bytes(i) for i in _in_list(query, "_id")}
        names = set(_in_list(query, "keyAltNames"))
        for key in self.keys:
            if bytes(key["_id"]) in wanted or names & set(key.get("keyAltNames", [])):
                yield bson.encode(key)

    def insert_data_key(self, data_key: bytes) -> Any:
        document = bson.decode(data_key)
        self.keys.append(document)
        return document["_id"]

    def bson_encode(self, doc: Any) -> bytes:
        return bson.encode(doc)  # type: ignore[no-any-return]

    def close(self) -> None:
        pass


def _in_list(query: Any, field: str) -> list[Any]:
    """The values of ``{field: {"$in": [...]}}`` anywhere in a key-vault filter ({"$or": [...]})."""
    found: list[Any] = []
    if isinstance(query, dict):
        for name, value in query.items():
            if name == field and isinstance(value, dict) and "$in" in value:
                found.extend(value["$in"])
            else:
                found.extend(_in_list(value, field))
    elif isinstance(query, list):
        for item in query:
            found.extend(_in_list(item, field))
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(tmp_path_factory.mktemp("mongocrypt"))
    assert process.kmip_port is not None
    yield process
    assert process.stop() == 0


@pytest.fixture
def vault(server: KeysteadProcess) -> KeyVault:
    assert server.certs is not None
    tls = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    tls.load_cert_chain(str(server.certs / "client.pem"), str(server.certs / "client.key"))
    return KeyVault(tls)


@pytest.fixture
def encrypter(server: KeysteadProcess, vault: KeyVault) -> Iterator[Any]:
    options = MongoCryptOptions({"kmip": {"endpoint": f"127.0.0.1:{server.kmip_port}"}})
    explicit = ExplicitEncrypter(vault, options)
    yield explicit
    explicit.close()


def round_trip(encrypter: Any, key_id: Any, value: Any, algorithm: str) -> Any:
    sealed = encrypter.encrypt(bson.encode({"v": value}), algorithm, key_id=bytes(key_id))
    ciphertext = bson.decode(sealed)["v"]
    assert ciphertext.subtype == 6  # BSON encrypted value
    return bson.decode(encrypter.decrypt(bson.encode({"v": ciphertext})))["v"]


def test_default_flow_register_activate_get(encrypter: Any, vault: KeyVault) -> None:
    key_id = encrypter.create_data_key("kmip", master_key={}, key_alt_names=["default-flow"])
    document = vault.keys[-1]
    assert document["masterKey"]["provider"] == "kmip"
    assert "delegated" not in document["masterKey"] or not document["masterKey"]["delegated"]
    uuid.UUID(bytes=bytes(key_id))
    assert round_trip(encrypter, key_id, "a secret value", DETERMINISTIC) == "a secret value"
    assert round_trip(encrypter, key_id, {"nested": [1, 2, 3]}, RANDOM) == {"nested": [1, 2, 3]}
    operations = [op for op, _version in vault.operations]
    assert operations[:2] == [Operation.REGISTER, Operation.ACTIVATE]
    assert Operation.GET in operations[2:]


def test_default_flow_with_an_existing_secret_data(encrypter: Any, vault: KeyVault) -> None:
    first = encrypter.create_data_key("kmip", master_key={})
    key_id = vault.keys[-1]["masterKey"]["keyId"]
    second = encrypter.create_data_key("kmip", master_key={"keyId": key_id})
    assert vault.keys[-1]["masterKey"]["keyId"] == key_id
    assert round_trip(encrypter, first, 42, DETERMINISTIC) == 42
    assert round_trip(encrypter, second, 43, DETERMINISTIC) == 43


def test_delegated_flow_create_activate_encrypt_decrypt(encrypter: Any, vault: KeyVault) -> None:
    key_id = encrypter.create_data_key("kmip", master_key={"delegated": True})
    document = vault.keys[-1]
    assert document["masterKey"]["delegated"] is True
    assert [op for op, _version in vault.operations] == [Operation.CREATE, Operation.ACTIVATE, Operation.ENCRYPT]
    assert round_trip(encrypter, key_id, "delegated secret", DETERMINISTIC) == "delegated secret"
    assert vault.operations[-1][0] == Operation.DECRYPT  # the server decrypted the data key
