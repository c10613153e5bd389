"""MongoDB encryption at rest (mongod Enterprise, Percona Server for MongoDB), replayed
(integrations/mongodb/README.md): mongod's bytes from ``kmip_vectors/mongod-*`` and ``percona-mongodb`` over mutual
TLS with strict hostname checking, one connection, one request per send.

- header 1.2, and 1.0 with ``kmipUseLegacyProtocol``;
- Create AES-256 with usage mask 12, Activate, Get (exactly 32 bytes), Get Attributes "State" (Active);
- the audit-log Encrypt without Cryptographic Parameters (server defaults AES-CBC-PKCS5, IV returned) and Decrypt;
- once the key is revoked, the State poll answers Deactivated (mongod then refuses to start or shuts down) and the
  key no longer encrypts;
- Percona's variant Registers the key it generated.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

try:
    from ._keystead_server import KeysteadProcess  # type: ignore[import-not-found,unused-ignore]
    from ._replay import Connection, Replay, Response, client_context, undefined_tags, walk_all
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import KeysteadProcess
    from _replay import Connection, Replay, Response, client_context, undefined_tags, walk_all

from kms_backend.kmip._registry_data import State, Tag

pytestmark = [pytest.mark.integration]

#: What write_vectors.py puts in the audit-log Encrypt and in Percona's Register.
AUDIT_RECORD = b"mongod audit log key, 32 bytes.."
PERCONA_KEY = bytes(range(0x40, 0x60))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(tmp_path_factory.mktemp("mongodb"))
    yield process
    assert process.stop() == 0


def tls_files(server: KeysteadProcess) -> tuple[Path, Path, Path]:
    certs = server.certs
    assert certs is not None
    return certs / "ca.pem", certs / "client.pem", certs / "client.key"


@pytest.fixture
def mongod(server: KeysteadProcess) -> Iterator[Connection]:
    """mongod's KMIP connection: it verifies the certificate chain and the host name strictly."""
    assert server.kmip_port is not None
    context = client_context(*tls_files(server), check_hostname=True)
    with Connection(context, "127.0.0.1", server.kmip_port, "localhost") as connection:
        yield connection


def step(replay: Replay, connection: Connection, stem: str) -> Response:
    response = replay.step(connection, stem)
    assert response.ok, (stem, response.reason, response.message)
    assert undefined_tags(response, response.version) == [], stem
    return response


def state_of(response: Response) -> int:
    """The State that a 1.x Get Attributes("State") answer carries."""
    names = [item.value for item in walk_all(response.payload, Tag.ATTRIBUTE_NAME)]
    assert names == ["State"]
    return int(response.value(Tag.ATTRIBUTE_VALUE))


def revoke(server: KeysteadProcess, uid: str) -> None:
    """What an operator does to retire mongod's master key (the recipe's curl command does the same)."""
    ca, cert, key = tls_files(server)
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    body = {
        "tag": "Revoke",
        "value": [
            {"tag": "UniqueIdentifier", "type": "TextString", "value": uid},
            {
                "tag": "RevocationReason",
                "value": [{"tag": "RevocationReasonCode", "type": "Enumeration", "value": "CessationOfOperation"}],
            },
        ],
    }
    with httpx.Client(base_url=server.http_url, verify=context) as http:
        answer = http.post("/kmip/2_1", json=body)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("product", ["mongod-1.2", "mongod-1.0-legacy"])
def test_mongod_master_key(server: KeysteadProcess, mongod: Connection, product: str) -> None:
    replay = Replay(product)
    created = step(replay, mongod, "01-create")
    uid = created.value(Tag.UNIQUE_IDENTIFIER)
    replay.keep("key", uid)
    step(replay, mongod, "02-activate")
    got = step(replay, mongod, "03-get")
    assert len(got.value(Tag.KEY_MATERIAL)) == 32  # else mongod: "KMIP got a key which was N bits long"
    assert state_of(step(replay, mongod, "04-get-attributes-state")) == State.ACTIVE
    if "05-encrypt" in replay.files:
        encrypted = step(replay, mongod, "05-encrypt")
        iv, ciphertext = encrypted.value(Tag.IV_COUNTER_NONCE), encrypted.value(Tag.DATA)
        assert len(iv) == 16 and len(ciphertext) == 48  # AES-CBC, PKCS#5 padding of 32 bytes
        replay.keep("iv", iv)
        replay.keep("ciphertext", ciphertext)
        assert step(replay, mongod, "06-decrypt").value(Tag.DATA) == AUDIT_RECORD

    revoke(server, uid)
    assert state_of(step(replay, mongod, "04-get-attributes-state")) == State.DEACTIVATED
    if "05-encrypt" in replay.files:
        refused = replay.step(mongod, "05-encrypt")
        assert not refused.ok and refused.reason is not None


def test_percona_server_for_mongodb_registers_its_key(mongod: Connection) -> None:
    replay = Replay("percona-mongodb")
    replay.keep("key", step(replay, mongod, "01-register").value(Tag.UNIQUE_IDENTIFIER))
    step(replay, mongod, "02-activate")
    assert step(replay, mongod, "03-get").value(Tag.KEY_MATERIAL) == PERCONA_KEY
    assert state_of(step(replay, mongod, "04-get-attributes-state")) == State.ACTIVE


def test_strict_hostname_checking(server: KeysteadProcess) -> None:
    """mongod never skips host name verification: a server certificate without the name in its SAN is fatal."""
    assert server.kmip_port is not None
    context = client_context(*tls_files(server), check_hostname=True)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        Connection(context, "127.0.0.1", server.kmip_port, "kms.not-in-the-san.example")
