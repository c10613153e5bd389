"""integrations/pg_tde/README.md, followed literally (STYLE rule 15): its KMS-host commands and serve line run, then
pg_tde's KMIP traffic is replayed (libkmip's bytes from ``kmip_vectors/pg_tde*``) with the files and key names of the
README's SQL: a new mutual-TLS connection per operation, Register under a 1.4 header, Locate by Object Type + Name and
Get under 1.0 (no Located Items, a bare Key Value), duplicate names refused, rotation to a second key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

try:
    from ._keystead_server import KeysteadProcess, free_port  # type: ignore[import-not-found,unused-ignore]
    from ._recipe import INTEGRATIONS, fenced_blocks, files, product_file, run_steps, serve_arguments
    from ._replay import Connection, Replay, Response, client_context, undefined_tags, walk_all
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import KeysteadProcess, free_port
    from _recipe import INTEGRATIONS, fenced_blocks, files, product_file, run_steps, serve_arguments
    from _replay import Connection, Replay, Response, client_context, undefined_tags, walk_all

from kms_backend.kmip._registry_data import ItemType, ResultReason, Tag

pytestmark = [pytest.mark.integration]

RECIPE = INTEGRATIONS / "pg_tde" / "README.md"
COPIES = {"/etc/postgresql/kmip": "pg-kmip"}
#: The keys write_vectors.py puts in pg_tde's Registers (pg_tde generates them; the server only stores them).
PRINCIPAL_KEYS = {"pg_tde": bytes(range(0xA0, 0xC0)), "pg_tde-rotated": bytes(range(0xC0, 0xE0))}
_PROVIDER = re.compile(
    r"pg_tde_add_global_key_provider_kmip\('([^']+)', '([^']+)', (\d+),\s*'([^']+)', '([^']+)', '([^']+)'\)"
)
_CREATE = re.compile(r"pg_tde_create_key_using_global_key_provider\('([^']+)', '([^']+)'\)")


@dataclass
class Provider:
    """The README's ``pg_tde_add_global_key_provider_kmip`` call, with its files found on the scratch KMS host."""

    name: str
    host: str
    port: int
    cert: Path
    key: Path
    ca: Path


@dataclass
class Deployment:
    workdir: Path
    server: KeysteadProcess
    provider: Provider

    def operation(self, replay: Replay, stem: str) -> Response:
        """pg_tde opens a new TLS connection for every keyring operation and never verifies the server."""
        context = client_context(self.provider.ca, self.provider.cert, self.provider.key, check_hostname=False)
        assert self.server.kmip_port is not None
        with Connection(context, "127.0.0.1", self.server.kmip_port, self.provider.host) as connection:
            return replay.step(connection, stem)


def sql() -> str:
    return "\n".join(fenced_blocks(RECIPE, "sql"))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("pg_tde-recipe")
    run_steps(RECIPE, ["certificates"], {}, workdir)
    assert "pg_tde" in files(RECIPE)["postgresql.conf"]
    (call,) = _PROVIDER.findall(sql())
    name, host, port, cert, key, ca = call
    provider = Provider(
        name,
        host,
        int(port),
        *(product_file(RECIPE, workdir, path, COPIES) for path in (cert, key, ca)),
    )
    # The README's serve line, on a free KMIP port instead of 5696.
    server = KeysteadProcess.start(workdir, *serve_arguments(RECIPE), "--kmip-port", str(free_port()), tls=False)
    yield Deployment(workdir, server, provider)
    assert server.stop() == 0


def ok(response: Response) -> Response:
    assert response.ok, (response.reason, response.message)
    assert undefined_tags(response, response.version) == []
    return response


def test_provider_arguments_are_certificate_key_ca(deployment: Deployment) -> None:
    """pg_tde's SQL takes the client certificate, its key, then the CA (the documentation page lists the CA
    first; the SQL definition wins): the README's files must be in that order."""
    provider = deployment.provider
    assert provider.port == 5696
    assert "BEGIN CERTIFICATE" in provider.cert.read_text()
    assert "PRIVATE KEY" in provider.key.read_text()
    assert provider.ca.read_text() == (deployment.workdir / "certs" / "ca.pem").read_text()


def test_principal_key_register_locate_get_and_rotation(deployment: Deployment) -> None:
    created = _CREATE.findall(sql())
    names = list(dict.fromkeys(name for name, provider in created if provider == deployment.provider.name))
    assert len(names) == 2, created  # the first principal key and the rotated one
    uids = []
    for name, product in zip(names, ("pg_tde", "pg_tde-rotated"), strict=True):
        replay = Replay(product)
        assert name.encode() in replay.request("01-register")  # the vectors register the README's key names
        uid = ok(deployment.operation(replay, "01-register")).value(Tag.UNIQUE_IDENTIFIER)
        located = ok(deployment.operation(replay, "02-locate"))
        assert located.values(Tag.UNIQUE_IDENTIFIER) == [uid]
        assert walk_all(located.payload, Tag.LOCATED_ITEMS) == []  # 1.3's, unknown to a 1.0 client
        replay.keep("key", uid)
        key_value = walk_all(ok(deployment.operation(replay, "03-get")).payload, Tag.KEY_VALUE)
        assert len(key_value) == 1 and key_value[0].type == ItemType.STRUCTURE
        # libkmip reads Key Material and nothing else: no attribute inside the Key Value.
        assert [child.tag for child in key_value[0].value] == [Tag.KEY_MATERIAL]
        assert key_value[0].value[0].value == PRINCIPAL_KEYS[product]
        uids.append(uid)

        # Duplicate names: pg_tde fails when Locate answers more than one identifier for its key name. Keystead
        # keeps names unique per object type, so a second Register is refused and Locate keeps answering one.
        again = deployment.operation(replay, "01-register")
        assert not again.ok and again.reason == ResultReason.INVALID_FIELD
        assert "already used" in (again.message or "")
        assert ok(deployment.operation(replay, "02-locate")).values(Tag.UNIQUE_IDENTIFIER) == [uid]

    # After the rotation the old key is still there for backups taken under it.
    old = Replay("pg_tde")
    assert ok(deployment.operation(old, "02-locate")).values(Tag.UNIQUE_IDENTIFIER) == [uids[0]]


def test_vectors_use_libkmip_s_versions() -> None:
    replay = Replay("pg_tde")
    versions = {stem: (replay.request(stem)[35], replay.request(stem)[51]) for stem in ("01-register", "02-locate")}
    assert versions == {"01-register": (1, 4), "02-locate": (1, 0)}
