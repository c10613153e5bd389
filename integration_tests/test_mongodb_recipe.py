"""integrations/mongodb/README.md, followed literally (STYLE rule 15): its KMS-host commands run (certificates with
the right SAN, ``keystead serve``), then mongod's KMIP traffic is replayed with the settings of the README's
``mongod.conf`` and the CSFLE flows run for real through pymongocrypt with the README's ``kms_providers``.

Encryption at rest, replayed (``kmip_vectors/mongod-*``, ``percona-mongodb``: mongod's bytes, one connection, strict
host name checking):

- header 1.2, and 1.0 with ``kmipUseLegacyProtocol``;
- Create AES-256 with usage mask 12, Activate, Get (exactly 32 bytes), Get Attributes "State" (Active);
- the audit-log Encrypt without Cryptographic Parameters (server defaults AES-CBC-PKCS5, IV returned) and Decrypt;
- after the README's "retire" command the State poll answers Deactivated (mongod then stops) and the key no longer
  encrypts;
- Percona's variant Registers the key it generated.
"""

from __future__ import annotations

import ast
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

try:
    from ._keystead_server import KeysteadProcess, free_port  # type: ignore[import-not-found,unused-ignore]
    from ._recipe import INTEGRATIONS, files, product_file, run_steps, serve_arguments
    from ._replay import Connection, Replay, Response, client_context, undefined_tags, walk_all
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import KeysteadProcess, free_port
    from _recipe import INTEGRATIONS, files, product_file, run_steps, serve_arguments
    from _replay import Connection, Replay, Response, client_context, undefined_tags, walk_all

from kms_backend.kmip._registry_data import State, Tag

pytestmark = [pytest.mark.integration]

#: What write_vectors.py puts in the audit-log Encrypt and in Percona's Register.
AUDIT_RECORD = b"mongod audit log key, 32 bytes.."
PERCONA_KEY = bytes(range(0x40, 0x60))
#: The README's copies: product host folder -> the folder the KMS-host commands filled.
COPIES = {"/etc/mongod/kmip": "mongod-kmip", "/etc/payroll/kmip": "app-kmip"}
RECIPE = INTEGRATIONS / "mongodb" / "README.md"


@dataclass
class Deployment:
    """The README followed on a scratch KMS host."""

    workdir: Path
    server: KeysteadProcess
    files: dict[str, Path]

    @property
    def https_port(self) -> str:
        return self.server.http_url.rsplit(":", 1)[1].rstrip("/")

    def kmip(self, config: str) -> dict[str, Any]:
        """The ``security.kmip`` section of one of the README's mongod configuration files."""
        settings = yaml.safe_load(self.files[config].read_text())["security"]["kmip"]
        assert isinstance(settings, dict)
        return settings

    def mongod_connection(self, config: str) -> Connection:
        """A connection made the way mongod makes it from ``config``: CA file, one PEM with certificate and key,
        strict host name verification of ``serverName``."""
        kmip = self.kmip(config)
        assert kmip["port"] == 5696  # the test's server listens on a free port instead
        context = ssl.create_default_context(cafile=str(self.file(kmip["serverCAFile"])))
        context.load_cert_chain(str(self.file(kmip["clientCertificateFile"])))
        assert self.server.kmip_port is not None
        return Connection(context, "127.0.0.1", self.server.kmip_port, kmip["serverName"])

    def file(self, product_path: str) -> Path:
        return product_file(RECIPE, self.workdir, product_path, COPIES)

    def run_step(self, name: str, **variables: str) -> str:
        """One of the README's later steps (after its ``settings``), as the operator runs it."""
        return run_steps(RECIPE, [name], {"HTTPS_PORT": self.https_port, **variables}, self.workdir).stdout


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("mongodb-recipe")
    run_steps(RECIPE, ["certificates"], {}, workdir)
    written = {}
    for name, text in files(RECIPE).items():
        written[name] = workdir / name
        written[name].write_text(text)
    # The README's serve line, on a free KMIP port instead of 5696.
    server = KeysteadProcess.start(workdir, *serve_arguments(RECIPE), "--kmip-port", str(free_port()), tls=False)
    yield Deployment(workdir, server, written)
    assert server.stop() == 0


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


@pytest.mark.parametrize("product", ["mongod-1.2", "mongod-1.0-legacy"])
def test_mongod_enterprise_master_key(deployment: Deployment, product: str) -> None:
    replay = Replay(product)
    with deployment.mongod_connection("mongod.conf") as mongod:
        uid = step(replay, mongod, "01-create").value(Tag.UNIQUE_IDENTIFIER)
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

        assert '"Active"' in deployment.run_step("state", KEY_ID=uid)
        deployment.run_step("retire", OLD_KEY_ID=uid)
        assert '"Deactivated"' in deployment.run_step("state", KEY_ID=uid)
        assert state_of(step(replay, mongod, "04-get-attributes-state")) == State.DEACTIVATED
        if "05-encrypt" in replay.files:
            refused = replay.step(mongod, "05-encrypt")
            assert not refused.ok and refused.reason is not None


def test_percona_server_for_mongodb_registers_its_key(deployment: Deployment) -> None:
    replay = Replay("percona-mongodb")
    with deployment.mongod_connection("mongod-percona.conf") as mongod:
        replay.keep("key", step(replay, mongod, "01-register").value(Tag.UNIQUE_IDENTIFIER))
        step(replay, mongod, "02-activate")
        assert step(replay, mongod, "03-get").value(Tag.KEY_MATERIAL) == PERCONA_KEY
        assert state_of(step(replay, mongod, "04-get-attributes-state")) == State.ACTIVE


def test_strict_hostname_checking(deployment: Deployment) -> None:
    """mongod never skips host name verification: the README's certificate carries ``serverName``, the
    development certificate of ``keystead certs init`` (localhost only) would be refused."""
    kmip = deployment.kmip("mongod.conf")
    assert kmip["serverName"] != "localhost"
    ca = deployment.file(kmip["serverCAFile"])
    pem = deployment.file(kmip["clientCertificateFile"])
    context = client_context(ca, pem, pem, check_hostname=True)
    assert deployment.server.kmip_port is not None
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        Connection(context, "127.0.0.1", deployment.server.kmip_port, "localhost")


# -- CSFLE: the README's ClientEncryption settings, through libmongocrypt for real --------------------------------


def csfle_settings(deployment: Deployment) -> dict[str, Any]:
    """The literal settings the README's ``csfle.py`` passes to ClientEncryption."""
    tree = ast.parse(deployment.files["csfle.py"].read_text())
    settings = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("kms_providers", "kms_tls_options", "data_key_options"):
                settings[name] = ast.literal_eval(node.value)
    assert set(settings) == {"kms_providers", "kms_tls_options", "data_key_options"}
    return settings


def test_csfle_client_encryption_settings(deployment: Deployment) -> None:
    pytest.importorskip("pymongocrypt", reason="pymongocrypt is not installed: pip install pymongocrypt")
    import bson
    from pymongocrypt.options import MongoCryptOptions
    from pymongocrypt.synchronous.explicit_encrypter import ExplicitEncrypter

    try:
        from .test_mongocrypt import KeyVault  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from test_mongocrypt import KeyVault

    settings = csfle_settings(deployment)
    host, _, port = settings["kms_providers"]["kmip"]["endpoint"].rpartition(":")
    assert port == "5696"
    tls = settings["kms_tls_options"]["kmip"]
    context = ssl.create_default_context(cafile=str(deployment.file(tls["tlsCAFile"])))
    context.load_cert_chain(str(deployment.file(tls["tlsCertificateKeyFile"])))
    assert deployment.server.kmip_port is not None
    kmip_port = deployment.server.kmip_port

    class Driver(KeyVault):  # type: ignore[misc,valid-type]
        """The driver's KMS connection: to the endpoint's name (verified), here resolved to the test server."""

        def kms_request(self, kms_context: Any) -> None:
            name = kms_context.endpoint.rpartition(":")[0]
            message = kms_context.message
            with (
                socket.create_connection(("127.0.0.1", kmip_port), timeout=10) as raw,
                self.tls.wrap_socket(raw, server_hostname=name) as conn,
            ):
                conn.sendall(message)
                while kms_context.bytes_needed > 0:
                    data = conn.recv(kms_context.bytes_needed)
                    if not data:
                        raise ConnectionError("the KMIP server closed the connection")
                    kms_context.feed(data)

    driver = Driver(context)
    encrypter = ExplicitEncrypter(driver, MongoCryptOptions({"kmip": {"endpoint": f"{host}:{port}"}}))
    try:
        for options in settings["data_key_options"]:
            key_id = encrypter.create_data_key("kmip", key_alt_names=[f"payroll-{len(driver.keys)}"], **options)
            sealed = encrypter.encrypt(
                bson.encode({"v": "123-45-6789"}), "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic", key_id=bytes(key_id)
            )
            assert bson.decode(encrypter.decrypt(sealed))["v"] == "123-45-6789"
    finally:
        encrypter.close()
    assert [bool(k["masterKey"].get("delegated")) for k in driver.keys] == [False, True]
