"""High availability: three ``keystead serve`` nodes on one PostgreSQL (then MariaDB) behind HAProxy, set up by
the README's own ``ha-up`` step (``deploy/ha/cluster.py``) and torn down by its ``ha-down``; a node killed with
SIGKILL during load.

Clients run Create then Get through HAProxy, over the KMIP port (TCP mode, mutual TLS end to end) and over HTTPS
(HTTP mode, bearer tokens). The errors they may see are the ones a client retries: a connection cut by the dying
node, or an HTTP 502/503 from HAProxy for a request that was on it. Every key a client was told was created must
afterwards read back identical through HAProxy. The Python client, the ``keystead`` CLI and the remote PKCS#11
backend each fail over from a dead URL to a live node.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from integration_tests._ha import readme_cluster
from integration_tests._keystead_server import REPO
from integration_tests.conftest import _unavailable
from kms_backend.client import ClientConfig, KmsClient
from kms_backend.client.errors import KmsConnectionError, KmsHttpError, KmsOperationError
from kms_backend.kmip._registry_data import ResultReason, RevocationReasonCode

#: HTTP statuses HAProxy answers for a request whose node died under it, or when no node is up yet.
RETRIED_STATUSES = {502, 503, 504}


@dataclass
class Cluster:
    directory: Path
    state: dict[str, Any]
    kmip_port: int
    http_port: int
    token: str

    @property
    def certs(self) -> Path:
        return Path(self.state["certs"])

    def node_url(self, index: int) -> str:
        return f"https://127.0.0.1:{self.state['nodes'][index]['http_port']}"

    def kill(self, index: int) -> None:
        """SIGKILL node ``index`` (no-op if it is dead already)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(self.state["nodes"][index]["pid"]), signal.SIGKILL)

    def haproxy_stats(self) -> dict[tuple[str, str], dict[str, str]]:
        """(backend, server) -> HAProxy's statistics row (``show stat`` on the admin socket)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.directory / "haproxy.sock"))
            sock.sendall(b"show stat\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        lines = b"".join(chunks).decode().lstrip("# ").splitlines()
        rows = list(csv.DictReader(lines))
        return {(row["pxname"], row["svname"]): row for row in rows}

    def kmip_client(self) -> KmsClient:
        certs = self.certs
        config = ClientConfig(
            urls=(f"kmip://127.0.0.1:{self.kmip_port}",),
            tls_cert=str(certs / "client.pem"),
            tls_key=str(certs / "client.key"),
            tls_ca=str(certs / "ca.pem"),
            timeout=10,
        )
        return KmsClient(config)

    def http_client(self, *urls: str) -> KmsClient:
        config = ClientConfig(
            urls=urls or (f"https://127.0.0.1:{self.http_port}",),
            tls_ca=str(self.certs / "ca.pem"),
            token=self.token,
            timeout=10,
        )
        return KmsClient(config)


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster per database for the module: the failover tests kill node 0 (and use node 2), the load test
    kills node 1."""
    with readme_cluster(request.param, tmp_path_factory.mktemp("ha")) as (directory, env):
        state = json.loads((directory / "cluster.json").read_text())
        token = (directory / "tokens").read_text().split(":")[0]
        yield Cluster(directory, state, int(env["KMIP_PORT"]), int(env["HTTP_PORT"]), token)


def test_a_revoke_on_one_node_is_refused_at_once_by_another(cluster: Cluster) -> None:
    """Runs first (file order), while every node is up: the nodes' kept objects and Plans follow the change stamp."""
    with cluster.http_client(cluster.node_url(0)) as node_a, cluster.http_client(cluster.node_url(2)) as node_b:
        for _ in range(5):
            uid = node_a.create_symmetric_key()
            for _ in range(3):
                node_b.encrypt(uid, b"kept plan" * 4)  # node B keeps the object and the decision
            node_a.revoke(uid, RevocationReasonCode.CESSATION_OF_OPERATION)
            with pytest.raises(KmsOperationError) as refused:
                node_b.encrypt(uid, b"kept plan" * 4)
            assert refused.value.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE


@dataclass
class Load:
    """What the clients of one kind did."""

    created: dict[str, bytes] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _key_bytes(client: KmsClient, uid: str) -> bytes:
    block = client.get(uid).managed_object.key_block  # type: ignore[union-attr]
    material = block.key_value.key_material
    return bytes(material if isinstance(material, bytes) else material.key)  # type: ignore[union-attr]


def _run_load(make_client: Callable[[], KmsClient], load: Load, stop: threading.Event) -> None:
    client = make_client()
    try:
        while not stop.is_set():
            try:
                uid = client.create_symmetric_key(length=256)
                material = _key_bytes(client, uid)
            except (KmsConnectionError, KmsHttpError) as exc:
                retried = isinstance(exc, KmsConnectionError) or exc.status in RETRIED_STATUSES
                with load.lock:
                    (load.retried if retried else load.unexpected).append(str(exc))
                time.sleep(0.05)  # then the same work again: the client's retry
                continue
            except Exception as exc:
                with load.lock:
                    load.unexpected.append(f"{type(exc).__name__}: {exc}")
                continue
            with load.lock:
                load.created[uid] = material
                load.successes.append(time.monotonic())
    finally:
        client.close()


def test_a_node_killed_during_load_loses_nothing(cluster: Cluster) -> None:
    loads = {"kmip": Load(), "http": Load()}
    stop = threading.Event()
    threads = [
        threading.Thread(target=_run_load, args=(maker, loads[kind], stop))
        for kind, maker in (("kmip", cluster.kmip_client), ("http", cluster.http_client))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2.0)
        stats = cluster.haproxy_stats()
        for backend in ("keystead_kmip_nodes", "keystead_http_nodes"):
            assert int(stats[(backend, "node1")]["stot"]) > 0, f"{backend}: node1 served nothing before the kill"
        killed_at = time.monotonic()
        cluster.kill(1)
        time.sleep(4.0)
        stats = cluster.haproxy_stats()
        for backend in ("keystead_kmip_nodes", "keystead_http_nodes"):
            assert stats[(backend, "node1")]["status"].startswith("DOWN"), stats[(backend, "node1")]["status"]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    for kind, load in loads.items():
        assert not load.unexpected, f"{kind}: {load.unexpected[:5]}"
        before = [t for t in load.successes if t < killed_at]
        after = [t for t in load.successes if t > killed_at + 2.0]
        assert before and after, f"{kind}: {len(before)} successes before the kill, {len(after)} well after it"
    with cluster.http_client() as reader:
        for kind, load in loads.items():
            for uid, material in load.created.items():
                assert _key_bytes(reader, uid) == material, f"{kind}: {uid} changed or lost"
    total = sum(len(load.created) for load in loads.values())
    retried = sum(len(load.retried) for load in loads.values())
    print(f"\n{total} keys acknowledged and read back after the kill; {retried} retried errors")


def test_the_python_client_fails_over_to_the_next_url(cluster: Cluster) -> None:
    cluster.kill(0)
    with cluster.http_client(cluster.node_url(0), cluster.node_url(2)) as client:
        uid = client.create_symmetric_key()
        assert _key_bytes(client, uid)


def test_the_cli_fails_over_to_the_next_url(cluster: Cluster, tmp_path: Path) -> None:
    cluster.kill(0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSTEAD_")}
    env["PYTHONPATH"] = str(REPO)
    env["HOME"] = str(tmp_path)  # no ~/.config/keystead/client.yaml of the machine
    common = [
        "--url", f"{cluster.node_url(0)},{cluster.node_url(2)}",
        "--tls-ca", str(cluster.certs / "ca.pem"), "--token", cluster.token, "--retries", "0",
    ]  # fmt: skip
    created = subprocess.run(
        [sys.executable, "-m", "kms_backend.cli", "sym", "keys", "create", "--number-of-bits", "256",
         "--algorithm", "aes", *common],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    uid = created.stdout.strip().split()[-1]
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"high availability\n" * 100)
    encrypted = subprocess.run(
        [sys.executable, "-m", "kms_backend.cli", "sym", "encrypt", "--key-id", uid,
         "--output-file", str(tmp_path / "enc"), str(plain), *common],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert encrypted.returncode == 0, encrypted.stderr


def test_the_remote_pkcs11_backend_fails_over_to_the_next_url(cluster: Cluster) -> None:
    from kms_backend.kmip import _schema_data as S
    from kms_backend.kmip._registry_data import BlockCipherMode, CryptographicAlgorithm, Operation
    from provider.backends.base import Identity
    from provider.backends.remote import RemoteBackend
    from provider.config import BackendConfig

    with cluster.http_client() as admin:
        uid = admin.create_symmetric_key()
    cluster.kill(0)
    config = BackendConfig(
        type="remote",
        url=f"{cluster.node_url(0)},{cluster.node_url(2)}",
        tls_ca=str(cluster.certs / "ca.pem"),
        bearer_token=cluster.token,
    )
    backend = RemoteBackend(config)
    try:
        parameters = S.CryptographicParameters(
            cryptographic_algorithm=CryptographicAlgorithm.AES, block_cipher_mode=BlockCipherMode.GCM
        )
        request = S.EncryptRequest(unique_identifier=uid, cryptographic_parameters=parameters, data=b"x" * 32)
        response = backend.run(Operation.ENCRYPT, request, Identity("admin"))
        assert isinstance(response, S.EncryptResponse) and response.data
    finally:
        backend.close()


def test_the_pkcs11_library_fails_over_to_the_next_url(cluster: Cluster, tmp_path: Path) -> None:
    """pkcs11-tool through the C library, its token on the remote backend with a dead node's URL first."""
    pkcs11_tool = shutil.which("pkcs11-tool")
    if pkcs11_tool is None:
        _unavailable("pkcs11-tool is not installed (Debian package opensc)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KEYSTEAD_", "OPENSSL_"))}
    env["PYTHONPATH"] = str(REPO)
    keystead = [sys.executable, "-m", "kms_backend.cli"]
    library = subprocess.run([*keystead, "pkcs11", "path"], env=env, capture_output=True, text=True, check=True)
    module = library.stdout.strip()
    if not Path(module).exists():
        _unavailable(f"the PKCS#11 library is not built ({module}): make setup")
    init = subprocess.run(
        [*keystead, "pkcs11", "init", "--dir", str(tmp_path / "token"), "--pin", "1234", "--so-pin", "5678"],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    config = Path(init.stdout.strip().split("=", 1)[1])
    raw = yaml.safe_load(config.read_text())
    cluster.kill(0)
    raw["backend"] = {
        "type": "remote",
        "url": f"{cluster.node_url(0)},{cluster.node_url(2)}",
        "tls_ca": str(cluster.certs / "ca.pem"),
        "bearer_token": cluster.token,
    }
    config.write_text(yaml.safe_dump(raw))
    env["KEYSTEAD_PKCS11_CONFIG"] = str(config)
    label = f"ha-{secrets.token_hex(4)}"
    base = [pkcs11_tool, "--module", module, "--login", "--pin", "1234"]
    made = subprocess.run(
        [*base, "--keygen", "--key-type", "AES:32", "--label", label], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    listed = subprocess.run(
        [*base, "--list-objects", "--type", "secrkey"], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    # Listed through the live node: the key is in the KMS, not in the library.
    assert listed.returncode == 0 and label in listed.stdout, listed.stdout + listed.stderr
