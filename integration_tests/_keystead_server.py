"""Start ``keystead serve`` as a subprocess on free ports with a temporary data directory (for the server
integration tests), read where it listens from its startup message, stop it with SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0


def keystead(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the ``keystead`` command line (from this checkout) to completion."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "kms_backend.cli", *args]
    return subprocess.run(command, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class KeysteadProcess:
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    http_url: str
    kmip_port: int | None
    certs: Path | None

    @classmethod
    def start(cls, workdir: Path, *args: str, tls: bool = True) -> KeysteadProcess:
        """``keystead certs init`` (when ``tls``) then ``keystead serve`` on free ports."""
        workdir.mkdir(parents=True, exist_ok=True)
        certs = None
        options = ["--data-dir", str(workdir / "data"), "--http-port", "0", "--log-level", "warning", *args]
        if tls:
            certs = workdir / "certs"
            result = keystead("certs", "init", str(certs), cwd=workdir)
            assert result.returncode == 0, result.stderr
            options += [
                "--tls-cert", str(certs / "server.pem"),
                "--tls-key", str(certs / "server.key"),
                "--tls-ca", str(certs / "ca.pem"),
                "--kmip-port", str(free_port()),
            ]  # fmt: skip
        stdout, stderr = workdir / "stdout.txt", workdir / "stderr.txt"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        env = {k: v for k, v in env.items() if not k.startswith("KEYSTEAD_")}
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "kms_backend.cli", "serve", *options],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            text = stdout.read_text()
            if "  store " in text:
                http = re.search(r"HTTP  (https?://\S+)", text)
                kmip = re.search(r"KMIP  \S+:(\d+)", text)
                assert http is not None, text
                return cls(process, stdout, stderr, http.group(1), int(kmip.group(1)) if kmip else None, certs)
            if process.poll() is not None:
                raise AssertionError(f"keystead serve exited with {process.returncode}: {stderr.read_text()}")
            time.sleep(0.05)
        process.kill()
        raise AssertionError(f"keystead serve did not start: {stderr.read_text()}")

    def stop(self) -> int:
        """SIGTERM, then the exit status (after a graceful shutdown)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def alive(self) -> bool:
        return self.process.poll() is None


def request_message(*items: tuple[str, list[dict[str, Any]]], version: tuple[int, int] = (2, 1)) -> dict[str, Any]:
    """A JSON TTLV Request Message with one batch item per (operation, payload children)."""
    header = {
        "tag": "RequestHeader",
        "value": [
            {
                "tag": "ProtocolVersion",
                "value": [
                    {"tag": "ProtocolVersionMajor", "type": "Integer", "value": version[0]},
                    {"tag": "ProtocolVersionMinor", "type": "Integer", "value": version[1]},
                ],
            },
            {"tag": "BatchCount", "type": "Integer", "value": len(items)},
        ],
    }
    batch = [
        {
            "tag": "BatchItem",
            "value": [
                {"tag": "Operation", "type": "Enumeration", "value": op},
                {"tag": "RequestPayload", "value": payload},
            ],
        }
        for op, payload in items
    ]
    return {"tag": "RequestMessage", "value": [header, *batch]}


def read_message(conn: socket.socket) -> dict[str, Any] | None:
    """One binary TTLV message read off ``conn``, as JSON TTLV, or None if the server closed the connection."""
    from kms_backend.kmip import binary_codec, json_codec

    data = b""
    while len(data) < 8:
        chunk = conn.recv(8 - len(data))
        if not chunk:
            return None
        data += chunk
    size = binary_codec.read_message_length(data)
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    decoded: dict[str, Any] = json.loads(json_codec.encode(binary_codec.decode(data)))
    return decoded


def uid_payload(uid: str) -> list[dict[str, object]]:
    return [{"tag": "UniqueIdentifier", "type": "TextString", "value": uid}]


CREATE_AES_PAYLOAD: list[dict[str, object]] = [
    {"tag": "ObjectType", "type": "Enumeration", "value": "SymmetricKey"},
    {
        "tag": "Attributes",
        "value": [
            {"tag": "CryptographicAlgorithm", "type": "Enumeration", "value": "AES"},
            {"tag": "CryptographicLength", "type": "Integer", "value": 256},
        ],
    },
]


@contextmanager
def pykmip_client(server: KeysteadProcess, version: str) -> Iterator[Any]:
    """An open PyKMIP ``ProxyKmipClient`` on ``server``'s KMIP port over mutual TLS (client certificate CN
    ``admin``), speaking ``version`` (a ``kmip.core.enums.KMIPVersion`` member name such as ``"KMIP_1_2"``).

    PyKMIP 0.11 warns about SQLAlchemy 2 and deprecated APIs on import and use; the warnings are silenced here only.
    """
    import pytest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from kmip import enums
            from kmip.pie.client import ProxyKmipClient
        except ImportError:
            pytest.skip("PyKMIP is not installed")
        assert server.certs is not None and server.kmip_port is not None
        client = ProxyKmipClient(
            hostname="127.0.0.1",
            port=server.kmip_port,
            cert=str(server.certs / "client.pem"),
            key=str(server.certs / "client.key"),
            ca=str(server.certs / "ca.pem"),
            ssl_version="PROTOCOL_TLSv1_2",
            kmip_version=getattr(enums.KMIPVersion, version),
            config_file="/dev/null",
        )
        client.open()
    try:
        yield client
    finally:
        client.close()
