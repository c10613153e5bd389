"""integrations/mysql/README.md, followed literally (STYLE rule 15): its KMS-host commands and serve line run, then
each keyring's KMIP traffic is replayed with the settings of the README's configuration files.

- MySQL Enterprise ``keyring_okv`` (``kmip_vectors/keyring_okv``), configured by ``okvclient.ora`` and the
  ``ssl/{CA,cert,key}.pem`` layout: KMIP 1.1, Maximum Response Size 280000, an Attribute Index before every
  Attribute Value, the Storage Status Mask sent as an Integer.
- Percona Server's ``component_keyring_kmip`` (``kmip_vectors/percona-mysql``), configured by
  ``component_keyring_kmip.cnf``: 1.0 and 1.4 headers on one connection, Object Group, Register + Activate of a key
  and of a Password (Secret Data), Locate + Get + Get Attributes "Name", Revoke + Destroy.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

try:
    from ._keystead_server import KeysteadProcess, free_port  # type: ignore[import-not-found,unused-ignore]
    from ._recipe import INTEGRATIONS, files, product_file, run_steps, serve_arguments
    from ._replay import VECTORS, Connection, Replay, Response, client_context, undefined_tags, walk_all
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import KeysteadProcess, free_port
    from _recipe import INTEGRATIONS, files, product_file, run_steps, serve_arguments
    from _replay import VECTORS, Connection, Replay, Response, client_context, undefined_tags, walk_all

from kms_backend.kmip._registry_data import ResultReason, Tag

pytestmark = [pytest.mark.integration]

RECIPE = INTEGRATIONS / "mysql" / "README.md"
COPIES = {"/etc/mysql/kmip": "percona-kmip"}
#: What write_vectors.py puts in Percona's key Register.
BINLOG_KEY = bytes(range(0x10, 0x30))


@dataclass
class Deployment:
    workdir: Path
    server: KeysteadProcess
    files: dict[str, str]

    def connect(self, ca: Path, cert: Path, key: Path, host: str, port: int) -> Connection:
        """A keyring's connection: client certificate, no host name check (Percona: no verification at all)."""
        assert port == 5696 and self.server.kmip_port is not None  # the test's server listens on a free port
        return Connection(client_context(ca, cert, key, check_hostname=False), "127.0.0.1", self.server.kmip_port, host)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("mysql-recipe")
    run_steps(RECIPE, ["certificates"], {}, workdir)
    # The README's serve line, on a free KMIP port instead of 5696.
    server = KeysteadProcess.start(workdir, *serve_arguments(RECIPE), "--kmip-port", str(free_port()), tls=False)
    yield Deployment(workdir, server, files(RECIPE))
    assert server.stop() == 0


def step(replay: Replay, connection: Connection, stem: str) -> Response:
    response = replay.step(connection, stem)
    assert response.ok, (stem, response.reason, response.message)
    assert undefined_tags(response, response.version) == [], stem
    return response


@pytest.fixture
def okv(deployment: Deployment) -> Iterator[Connection]:
    """keyring_okv's connection, from my.cnf's ``keyring_okv_conf_dir``: ``okvclient.ora`` and its ``ssl/``."""
    mysqld = configparser.ConfigParser()
    mysqld.read_string(deployment.files["my-okv.cnf"])
    conf_dir = mysqld["mysqld"]["keyring_okv_conf_dir"]
    assert mysqld["mysqld"]["early-plugin-load"] == "keyring_okv.so"
    assert f"to `{conf_dir}/`" in RECIPE.read_text()  # the README copies okv/ there
    ora = dict(line.split("=", 1) for line in deployment.files["okvclient.ora"].splitlines() if line and line[0] != "#")
    host, _, port = ora["SERVER"].rpartition(":")
    ssl_dir = deployment.workdir / "okv" / "ssl"
    with deployment.connect(ssl_dir / "CA.pem", ssl_dir / "cert.pem", ssl_dir / "key.pem", host, int(port)) as conn:
        yield conn


@pytest.fixture
def percona(deployment: Deployment) -> Iterator[tuple[Connection, str]]:
    """component_keyring_kmip's connection from its .cnf (``client_ca`` is the client certificate), and its
    Object Group."""
    assert json.loads(deployment.files["mysqld.my"]) == {"components": "file://component_keyring_kmip"}
    config = json.loads(deployment.files["component_keyring_kmip.cnf"])
    paths = (config["server_ca"], config["client_ca"], config["client_key"])
    ca, cert, key = (product_file(RECIPE, deployment.workdir, path, COPIES) for path in paths)
    assert "BEGIN CERTIFICATE" in cert.read_text() and cert.read_text() != ca.read_text()
    with deployment.connect(ca, cert, key, config["server_addr"], int(config["server_port"])) as conn:
        yield conn, config["object_group"]


def test_keyring_okv(okv: Connection) -> None:
    replay = Replay("keyring_okv")
    assert replay.request("01-create")[32:52] == bytes.fromhex("00000001 00000000 42006B02 00000004 00000001")  # 1.1
    uid = step(replay, okv, "01-create").value(Tag.UNIQUE_IDENTIFIER)
    replay.keep("key", uid)
    step(replay, okv, "02-activate")
    assert step(replay, okv, "03-locate").values(Tag.UNIQUE_IDENTIFIER) == [uid]
    assert len(step(replay, okv, "04-get").value(Tag.KEY_MATERIAL)) == 32
    step(replay, okv, "05-revoke")
    step(replay, okv, "06-destroy")
    gone = replay.step(okv, "04-get")
    assert not gone.ok and gone.reason == ResultReason.ITEM_NOT_FOUND


def test_percona_component_keyring_kmip(percona: tuple[Connection, str]) -> None:
    connection, group = percona
    replay = Replay("percona-mysql")
    assert group.encode() in replay.request("05-locate-group")  # the vectors use the README's object_group
    key = step(replay, connection, "01-register-key").value(Tag.UNIQUE_IDENTIFIER)
    replay.keep("key", key)
    step(replay, connection, "02-activate-key")
    password = step(replay, connection, "03-register-password").value(Tag.UNIQUE_IDENTIFIER)
    replay.keep("password", password)
    step(replay, connection, "04-activate-password")
    # Locate by Object Type + Object Group: the group's symmetric keys only, not the password.
    assert step(replay, connection, "05-locate-group").values(Tag.UNIQUE_IDENTIFIER) == [key]
    assert step(replay, connection, "06-get-key").value(Tag.KEY_MATERIAL) == BINLOG_KEY
    named = step(replay, connection, "07-get-attributes-name")
    assert [i.value for i in walk_all(named.payload, Tag.NAME_VALUE)] == ["percona_binlog-1"]
    step(replay, connection, "08-revoke-key")
    step(replay, connection, "09-destroy-key")
    assert step(replay, connection, "05-locate-group").values(Tag.UNIQUE_IDENTIFIER) == []
    # Mixed versions on one connection: every answer came back in its request's version (Replay.step checks).
    assert {response.version for _stem, _request, response in replay.sent} == {(1, 0), (1, 4)}


def test_vector_files_are_what_write_vectors_writes(tmp_path: Path) -> None:
    """The committed vectors of every product are exactly what kmip_vectors/write_vectors.py produces."""
    spec = importlib.util.spec_from_file_location("write_vectors", VECTORS / "write_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    module.main(tmp_path)
    written = {p.relative_to(tmp_path): p.read_text() for p in tmp_path.rglob("*.hex")}
    committed = {p.relative_to(VECTORS): p.read_text() for p in VECTORS.rglob("*.hex")}
    assert written == committed
