"""The real products against ``keystead serve``, in containers, wherever a Docker engine and the images exist: Percona
Server for MongoDB (encryption at rest), Percona Distribution for PostgreSQL with pg_tde, and Percona Server for
MySQL with component_keyring_kmip. Each is configured from its recipe (integrations/*/README.md): the same
certificates, configuration files and SQL the replays in test_*_recipe.py use.

Without an engine (this machine has only the docker CLI, no daemon) or when an image can neither be found nor
pulled, each test skips and says which; the replays cover the KMIP traffic then.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    from ._docker import cleanup, engine, image, wait_for_log  # type: ignore[import-not-found,unused-ignore]
    from ._keystead_server import KeysteadProcess, free_port  # type: ignore[import-not-found,unused-ignore]
    from ._recipe import INTEGRATIONS, fenced_blocks, files, run_steps, serve_arguments
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _docker import cleanup, engine, image, wait_for_log
    from _keystead_server import KeysteadProcess, free_port
    from _recipe import INTEGRATIONS, fenced_blocks, files, run_steps, serve_arguments

__all__ = ["cleanup", "engine"]  # fixtures used by name

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PSMDB_IMAGE = "percona/percona-server-mongodb:7.0"
POSTGRES_IMAGE = "percona/percona-distribution-postgresql:17"
MYSQL_IMAGE = "percona/percona-server:8.4"
#: The name every recipe gives the KMS; containers resolve it to the host (they share its network).
KMS_HOST = "kms.example.internal"


def deploy(recipe: str, workdir: Path) -> KeysteadProcess:
    """The recipe's KMS-host steps and serve line (on a free KMIP port)."""
    readme = INTEGRATIONS / recipe / "README.md"
    run_steps(readme, ["certificates"], {}, workdir)
    for name, text in files(readme).items():
        (workdir / name).write_text(text)
    return KeysteadProcess.start(workdir, *serve_arguments(readme), "--kmip-port", str(free_port()), tls=False)


def run_container(client: Any, name: str, **options: Any) -> Any:
    return client.containers.run(
        name, detach=True, network_mode="host", extra_hosts={KMS_HOST: "127.0.0.1"}, remove=False, **options
    )


def owned_keys(server: KeysteadProcess, cert: Path, key: Path) -> list[str]:
    """The Symmetric Keys the certificate's user sees, by a Locate on the HTTPS API."""
    context = ssl.create_default_context(cafile=str(cert.parent / "ca.pem"))
    context.load_cert_chain(str(cert), str(key))
    context.check_hostname = False  # the certificate names kms.example.internal; this check connects to 127.0.0.1
    body = {"tag": "Locate", "value": [{"tag": "ObjectType", "type": "Enumeration", "value": "SymmetricKey"}]}
    with httpx.Client(base_url=server.http_url, verify=context) as http:
        answer = http.post("/kmip/2_1", json=body)
    assert answer.status_code == 200, answer.text
    return [v["value"] for v in answer.json()["value"] if v["tag"] == "UniqueIdentifier"]


def test_percona_server_for_mongodb(engine: Any, cleanup: list[Any], tmp_path: Path) -> None:
    name = image(engine, PSMDB_IMAGE)
    server = deploy("mongodb", tmp_path)
    try:
        kmip_port = str(server.kmip_port)
        command = [
            "--enableEncryption",
            f"--kmipServerName={KMS_HOST}",
            f"--kmipPort={kmip_port}",
            "--kmipServerCAFile=/etc/mongod/kmip/ca.pem",
            "--kmipClientCertificateFile=/etc/mongod/kmip/mongod.pem",
            "--port=27917",
        ]
        volumes = {str(tmp_path / "mongod-kmip"): {"bind": "/etc/mongod/kmip", "mode": "ro"}}
        (tmp_path / "mongod-kmip").chmod(0o755)
        for pem in (tmp_path / "mongod-kmip").iterdir():
            pem.chmod(0o644)  # the image's mongod user must read them
        container = run_container(engine, name, command=command, volumes=volumes)
        cleanup.append(container)
        wait_for_log(container, r"Waiting for connections")
        # mongod Registered its master key, as the CN of the recipe's client certificate.
        assert owned_keys(server, tmp_path / "mongod-kmip" / "mongod.crt", tmp_path / "mongod-kmip" / "mongod.key")
    finally:
        assert server.stop() == 0


def test_pg_tde(engine: Any, cleanup: list[Any], tmp_path: Path) -> None:
    name = image(engine, POSTGRES_IMAGE)
    server = deploy("pg_tde", tmp_path)
    try:
        (tmp_path / "pg-kmip").chmod(0o755)
        for pem in (tmp_path / "pg-kmip").iterdir():
            pem.chmod(0o644)
        volumes = {str(tmp_path / "pg-kmip"): {"bind": "/etc/postgresql/kmip", "mode": "ro"}}
        container = run_container(
            engine,
            name,
            environment={"POSTGRES_PASSWORD": "x", "ENABLE_PG_TDE": "1", "PGPORT": "55432"},
            volumes=volumes,
        )
        cleanup.append(container)
        wait_for_log(container, r"database system is ready to accept connections")
        sql = "\n".join(fenced_blocks(INTEGRATIONS / "pg_tde" / "README.md", "sql")[:1])
        sql = sql.replace(", 5696,", f", {server.kmip_port},")
        result = container.exec_run(["psql", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-p", "55432", "-c", sql])
        assert result.exit_code == 0, result.output.decode(errors="replace")
        check = container.exec_run(
            ["psql", "-U", "postgres", "-p", "55432", "-tAc", "SELECT pg_tde_is_encrypted('payroll')"]
        )
        assert check.output.decode().strip() == "t"
    finally:
        assert server.stop() == 0


def test_percona_server_for_mysql(engine: Any, cleanup: list[Any], tmp_path: Path) -> None:
    name = image(engine, MYSQL_IMAGE)
    server = deploy("mysql", tmp_path)
    try:
        config = json.loads((tmp_path / "component_keyring_kmip.cnf").read_text())
        config["server_port"] = str(server.kmip_port)
        (tmp_path / "component_keyring_kmip.cnf").write_text(json.dumps(config))
        (tmp_path / "percona-kmip").chmod(0o755)
        for pem in (tmp_path / "percona-kmip").iterdir():
            pem.chmod(0o644)
        volumes = {
            str(tmp_path / "percona-kmip"): {"bind": "/etc/mysql/kmip", "mode": "ro"},
            str(tmp_path / "mysqld.my"): {"bind": "/usr/sbin/mysqld.my", "mode": "ro"},
            str(tmp_path / "component_keyring_kmip.cnf"): {
                "bind": "/usr/lib64/mysql/plugin/component_keyring_kmip.cnf",
                "mode": "ro",
            },
        }
        container = run_container(
            engine, name, environment={"MYSQL_ROOT_PASSWORD": "x"}, command=["--port=33906"], volumes=volumes
        )
        cleanup.append(container)
        wait_for_log(container, r"ready for connections.*port: 33906")
        statement = "CREATE TABLE test.payroll (id INT PRIMARY KEY) ENCRYPTION='Y'"
        for sql in ("CREATE DATABASE test", statement, "SELECT * FROM performance_schema.keyring_component_status"):
            result = container.exec_run(["mysql", "-uroot", "-px", "-P33906", "--protocol=tcp", "-e", sql])
            assert result.exit_code == 0, result.output.decode(errors="replace")
    finally:
        assert server.stop() == 0
