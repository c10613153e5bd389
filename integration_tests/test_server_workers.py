"""``keystead serve --workers 2``: two processes share the HTTP and KMIP ports and one SQLite database; what one
worker creates the other serves, concurrent creates in both are all kept (durably), and SIGTERM stops both."""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
from pathlib import Path

import httpx
import pytest

from kms_backend.kmip import binary_codec, json_codec

try:
    from ._keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess, read_message, request_message  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess, read_message, request_message

pytestmark = pytest.mark.integration

WORKER = re.compile(r'^keystead_worker\{pid="(\d+)"\} 1\.0$', re.MULTILINE)


def https_client(server: KeysteadProcess) -> httpx.Client:
    """A client with its own keep-alive connection (so it stays with one worker)."""
    assert server.certs is not None
    context = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    context.load_cert_chain(str(server.certs / "client.pem"), str(server.certs / "client.key"))
    return httpx.Client(base_url=server.http_url, verify=context, timeout=30)


def worker_pid(http: httpx.Client) -> int:
    match = WORKER.search(http.get("/metrics").text)
    assert match is not None
    return int(match.group(1))


def clients_per_worker(server: KeysteadProcess, workers: int) -> dict[int, httpx.Client]:
    """One connected client per worker process, found by opening connections until each worker has answered."""
    found: dict[int, httpx.Client] = {}
    for _ in range(200):
        http = https_client(server)
        pid = worker_pid(http)
        if pid in found:
            http.close()
        else:
            found[pid] = http
            if len(found) == workers:
                return found
    raise AssertionError(f"only workers {sorted(found)} answered")


def create(http: httpx.Client) -> str:
    response = http.post("/kmip/2_1", json={"tag": "Create", "value": CREATE_AES_PAYLOAD})
    assert response.status_code == 200, response.text
    return str(next(v["value"] for v in response.json()["value"] if v["tag"] == "UniqueIdentifier"))


def get_status(http: httpx.Client, uid: str) -> int:
    body = {"tag": "Get", "value": [{"tag": "UniqueIdentifier", "type": "TextString", "value": uid}]}
    return http.post("/kmip/2_1", json=body).status_code


def kmip_create(server: KeysteadProcess) -> str:
    """A Create over a fresh KMIP TLS connection (whichever worker accepts it)."""
    assert server.certs is not None and server.kmip_port is not None
    context = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    context.load_cert_chain(str(server.certs / "client.pem"), str(server.certs / "client.key"))
    with context.wrap_socket(
        socket.create_connection(("127.0.0.1", server.kmip_port), timeout=10), server_hostname="localhost"
    ) as conn:
        conn.sendall(binary_codec.encode(json_codec.decode_obj(request_message(("Create", CREATE_AES_PAYLOAD)))))
        response = read_message(conn)
    assert response is not None, "the server closed the KMIP connection"
    (item,) = [i for i in response["value"] if i["tag"] == "BatchItem"]
    fields = {c["tag"]: c.get("value") for c in item["value"]}
    assert fields["ResultStatus"] == "Success", fields
    return str(next(c["value"] for c in fields["ResponsePayload"] if c["tag"] == "UniqueIdentifier"))


def test_two_workers_share_ports_and_store(tmp_path: Path) -> None:
    server = KeysteadProcess.start(tmp_path / "workers", "--workers", "2")
    try:
        banner = server.stdout.read_text()
        assert banner.count("is ready.") == 1 and "workers 2 processes" in banner
        clients = clients_per_worker(server, 2)
        (pid_a, http_a), (pid_b, http_b) = clients.items()
        for pid in (pid_a, pid_b):  # the workers are children of the serve process
            stat = Path(f"/proc/{pid}/stat").read_text()
            assert int(stat.rsplit(")", 1)[1].split()[1]) == server.process.pid

        # Each worker serves what the other created, including over KMIP.
        uid_a, uid_b = create(http_a), create(http_b)
        assert get_status(http_b, uid_a) == 200 and get_status(http_a, uid_b) == 200
        for _ in range(4):
            uid = kmip_create(server)
            assert get_status(http_a, uid) == 200 and get_status(http_b, uid) == 200

        # Writers in both processes at once: SQLite serialises them, none is lost.
        created: dict[int, list[str]] = {pid_a: [], pid_b: []}

        def writer(pid: int, http: httpx.Client) -> None:
            created[pid].extend(create(http) for _ in range(25))

        threads = [threading.Thread(target=writer, args=item) for item in clients.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        uids = created[pid_a] + created[pid_b]
        assert len(set(uids)) == 50
        assert all(get_status(http_b, uid) == 200 for uid in created[pid_a])
        assert all(get_status(http_a, uid) == 200 for uid in created[pid_b])
        for http in clients.values():
            http.close()
    finally:
        assert server.stop() == 0
    output = server.stdout.read_text()
    assert output.count("is ready.") == 1 and output.count("Keystead stopped.") == 1
    for pid in (pid_a, pid_b):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "Traceback" not in server.stderr.read_text()

    # Durable: a fresh single-process server on the same database finds every object.
    again = KeysteadProcess.start(tmp_path / "again", "--data-dir", str(tmp_path / "workers" / "data"), tls=False)
    try:
        with httpx.Client(base_url=again.http_url, timeout=30) as http:
            assert all(get_status(http, uid) == 200 for uid in [uid_a, uid_b, *uids])
    finally:
        assert again.stop() == 0


def test_workers_startup_error_is_reported_once(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(AssertionError, match=r"cannot listen on 127\.0\.0\.1"):
            KeysteadProcess.start(tmp_path, "--workers", "2", "--http-port", str(port), tls=False)
    finally:
        taken.close()
