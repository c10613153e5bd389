"""The client behind a load balancer, against a real ``keystead serve``: PROXY protocol v1 and v2 headers from a
trusted proxy (``--trusted-proxies``) name the client on the KMIP port and on HTTPS, so that the per-client rate
limit, the per-client connection cap and the audit log apply to it; a header from any other peer, or a malformed one,
is refused; X-Forwarded-For counts only from a trusted proxy. Then the same through the HAProxy that
``deploy/ha/cluster.py`` configures (``send-proxy-v2``), with clients on distinct loopback addresses.

The rate limits are set very low (one request per 20 s after a burst of 2) so that no refill happens during a test.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration_tests._ha import haproxy_database
from integration_tests._keystead_server import REPO, KeysteadProcess, free_port, read_message, request_message
from kms_backend.kmip import binary_codec, json_codec

LIMIT = ("--rate-limit", "0.05", "--rate-limit-burst", "2")
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
DISCOVER = binary_codec.encode(json_codec.decode_obj(request_message(("DiscoverVersions", []))))


def v1(client: str, port: int = 40000) -> bytes:
    family = "TCP6" if ":" in client else "TCP4"
    destination = "::1" if ":" in client else "127.0.0.1"
    return f"PROXY {family} {client} {destination} {port} 5696\r\n".encode()


def v2(client: str, port: int = 40000, command: int = 0x1) -> bytes:
    address = ipaddress.ip_address(client)
    if address.version == 4:
        family, body = 0x11, struct.pack("!4s4sHH", address.packed, bytes([127, 0, 0, 1]), port, 5696)
    else:
        body = struct.pack("!16s16sHH", address.packed, ipaddress.IPv6Address("::1").packed, port, 5696)
        family = 0x21
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def _context(certs: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    context.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
    return context


def _connect(
    port: int, certs: Path, header: bytes = b"", source: str | None = None, split: bool = False
) -> ssl.SSLSocket:
    """A mutual-TLS connection to 127.0.0.1:``port`` whose first bytes are ``header`` (from ``source``; ``split``:
    sent in two pieces a moment apart, as two TCP segments)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0) if source else None)
    try:
        if split:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.sendall(header[:9])
            time.sleep(0.2)
            header = header[9:]
        raw.sendall(header)
        return _context(certs).wrap_socket(raw, server_hostname="127.0.0.1")
    except BaseException:
        raw.close()
        raise


def _https_statuses(port: int, certs: Path, header: bytes = b"", *, count: int = 1, source: str | None = None,
                    path: str = "/version", forwarded_for: str | None = None) -> list[int]:  # fmt: skip
    """``count`` GET ``path`` requests on one keep-alive connection: their statuses."""
    statuses = []
    with _connect(port, certs, header, source) as sock:
        extra = f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
        for _ in range(count):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
            response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
            response.begin()
            response.read()
            statuses.append(response.status)
    return statuses


def _https_status(port: int, certs: Path, header: bytes = b"", **options: str) -> int:
    """One request on a new connection: its status."""
    return _https_statuses(port, certs, header, **options)[0]  # type: ignore[arg-type]


def _kmip_results(sock: ssl.SSLSocket, count: int) -> list[str]:
    """Send DiscoverVersions ``count`` times on ``sock``: each answer's result (Success or the failure reason)."""
    results = []
    for _ in range(count):
        sock.sendall(DISCOVER)
        text = json.dumps(read_message(sock))
        results.append("ServerLimitExceeded" if "Limit" in text else "Success" if "Success" in text else text)
    return results


def _refused(port: int, header: bytes) -> bool:
    """Whether a connection starting with ``header`` is closed by the server at once (before any TLS): one that is
    accepted waits for the client's TLS ClientHello instead."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
        raw.sendall(header)
        raw.settimeout(3)
        try:
            while raw.recv(4096):  # a TLS alert, if the TLS layer is what refuses it
                pass
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        return True


def _held_open(sock: ssl.SSLSocket) -> bool:
    """Whether the server keeps ``sock`` open (nothing arrives within a second) rather than closing it."""
    sock.settimeout(1.0)
    try:
        return sock.recv(1) != b""
    except TimeoutError:
        return True
    except (ConnectionError, ssl.SSLError):
        return False


def _audit_clients(path: Path) -> list[str]:
    return [json.loads(line)["client"] for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    """Trusts 127.0.0.1, where the tests connect from, as a proxy."""
    workdir = tmp_path_factory.mktemp("proxied")
    proc = KeysteadProcess.start(
        workdir,
        "--trusted-proxies", "127.0.0.1",
        *LIMIT,
        "--max-connections-per-client", "2",
        "--audit-log", str(workdir / "audit.log"),
    )  # fmt: skip
    yield proc
    proc.stop()


def _ports(proc: KeysteadProcess) -> tuple[int, int, Path]:
    assert proc.kmip_port is not None and proc.certs is not None
    return int(proc.http_url.rsplit(":", 1)[1]), proc.kmip_port, proc.certs


def test_v1_and_v2_headers_name_the_client_on_https(server: KeysteadProcess) -> None:
    http_port, _, certs = _ports(server)
    for header in (v1("198.51.100.1"), v2("198.51.100.2"), v1("2001:db8::3"), v2("2001:db8::4")):
        # Each client has its own bucket: two requests, then 429 for it alone.
        assert [_https_status(http_port, certs, header) for _ in range(3)] == [200, 200, 429], header
    # The proxy's own connections (HAProxy's health checks send no header, or a LOCAL one) are the proxy's.
    assert _https_status(http_port, certs, path="/health") == 200
    assert _https_status(http_port, certs, v2("198.51.100.2", command=0x0), path="/health") == 200


def test_v1_and_v2_headers_name_the_client_on_the_kmip_port(server: KeysteadProcess) -> None:
    _, kmip_port, certs = _ports(server)
    with _connect(kmip_port, certs, v2("203.0.113.10")) as sock:
        assert _kmip_results(sock, 3) == ["Success", "Success", "ServerLimitExceeded"]
    with _connect(kmip_port, certs, v1("203.0.113.11")) as sock:
        assert _kmip_results(sock, 1) == ["Success"]  # another client: its own bucket
    for header in (v1("203.0.113.12"), v2("203.0.113.12")):  # a header that arrives in two pieces
        with _connect(kmip_port, certs, header, split=True) as sock:
            assert _kmip_results(sock, 1) == ["Success"]
    audit = Path(server.stdout).parent / "audit.log"
    clients = _audit_clients(audit)
    assert clients.count("203.0.113.10") == 2 and clients.count("203.0.113.11") == 1, clients
    assert clients.count("203.0.113.12") == 2, clients


def test_connections_are_capped_per_real_client(server: KeysteadProcess) -> None:
    _, kmip_port, certs = _ports(server)
    first = [_connect(kmip_port, certs, v2("203.0.113.20")) for _ in range(2)]
    try:
        assert all(_held_open(sock) for sock in first)
        with _connect(kmip_port, certs, v1("203.0.113.20")) as third:  # over the cap of 2 for this client
            assert not _held_open(third)
        with _connect(kmip_port, certs, v2("203.0.113.21")) as other:  # another client behind the same proxy
            assert _held_open(other)
    finally:
        for sock in first:
            sock.close()


@pytest.mark.parametrize(
    "header",
    [
        b"PROXY TCP4 198.51.100.9 127.0.0.1 051000 5696\r\n",  # leading zero in a port
        b"PROXY TCP4 198.51.100.9 127.0.0.1 51000\r\n",  # a field missing
        b"PROXY TCP4 " + b"9" * 120,  # no CRLF within 107 bytes
        V2_SIGNATURE + b"\x11\x11\x00\x0c" + b"\x00" * 12,  # version 1 in a v2 header
        V2_SIGNATURE + b"\x21\x11\x00\x08" + b"\x00" * 8,  # an IPv4 block of 8 bytes
    ],
    ids=["v1-port", "v1-field", "v1-no-crlf", "v2-version", "v2-short"],
)
def test_malformed_headers_are_refused_on_both_ports(server: KeysteadProcess, header: bytes) -> None:
    http_port, kmip_port, certs = _ports(server)
    assert _refused(http_port, header)
    assert _refused(kmip_port, header)
    assert _https_status(http_port, certs, path="/health") == 200  # the server goes on
    assert "refusing the connection of proxy 127.0.0.1: PROXY" in server.stderr.read_text()


def test_headers_from_untrusted_peers_are_refused_and_forwarded_for_ignored(tmp_path: Path) -> None:
    """127.0.0.1 is not a trusted proxy here: its PROXY headers are refused on both ports, its X-Forwarded-For
    names nobody (uvicorn alone would have believed it from 127.0.0.1), and its plain requests are served."""
    proc = KeysteadProcess.start(tmp_path, "--trusted-proxies", "192.0.2.0/24", *LIMIT)
    try:
        http_port, kmip_port, certs = _ports(proc)
        for header in (v1("198.51.100.30"), v2("198.51.100.31")):
            assert _refused(http_port, header)
            assert _refused(kmip_port, header)
        assert (
            "refusing a PROXY protocol header from 127.0.0.1, which is not a trusted proxy" in proc.stderr.read_text()
        )
        statuses = [_https_status(http_port, certs, forwarded_for=f"198.51.100.{n}") for n in range(3)]
        assert statuses == [200, 200, 429]  # one bucket: 127.0.0.1's
    finally:
        proc.stop()


def test_without_trusted_proxies_a_header_is_not_tls(tmp_path: Path) -> None:
    proc = KeysteadProcess.start(tmp_path)
    try:
        http_port, kmip_port, certs = _ports(proc)
        assert _refused(http_port, v2("198.51.100.40"))
        assert _refused(kmip_port, v1("198.51.100.41"))
        assert _https_status(http_port, certs) == 200
    finally:
        proc.stop()


def test_worker_processes_take_the_header_off_too(tmp_path: Path) -> None:
    """--workers 2: the listening sockets are shared by two processes, each accepting through its own listener."""
    proc = KeysteadProcess.start(tmp_path, "--workers", "2", "--trusted-proxies", "127.0.0.1", *LIMIT)
    try:
        http_port, kmip_port, certs = _ports(proc)
        for n in range(4):  # enough connections to reach both workers; each client's bucket lives in one worker
            assert _https_statuses(http_port, certs, v2(f"198.51.100.{50 + n}"), count=3) == [200, 200, 429]
            with _connect(kmip_port, certs, v1(f"203.0.113.{50 + n}")) as sock:
                assert _kmip_results(sock, 3) == ["Success", "Success", "ServerLimitExceeded"]
    finally:
        assert proc.stop() == 0


# -- behind the HAProxy of deploy/ha/cluster.py ---------------------------------------------------------------------


def test_limits_apply_per_client_behind_the_clusters_haproxy(tmp_path: Path) -> None:
    """One node behind cluster.py's HAProxy (send-proxy-v2 on both ports; the node trusts 127.0.0.1): clients on
    127.0.0.2 to 127.0.0.5 each get their own rate limit and connection cap, and the audit log names them."""
    with haproxy_database("postgresql", tmp_path) as url:
        _behind_haproxy(url, tmp_path / "cluster")


def _behind_haproxy(url: str, directory: Path) -> None:
    """That test on the database at ``url``: one node started by cluster.py in ``directory``, stopped after."""
    directory.mkdir()
    tokens = directory / "tokens"
    tokens.write_text("proxy-test-token:admin\n")
    http_port, kmip_port = free_port(), free_port()
    audit = directory / "audit.log"
    cluster = [sys.executable, str(REPO / "deploy" / "ha" / "cluster.py")]
    up = subprocess.run(
        [*cluster, "up", "--dir", str(directory), "--database", url, "--nodes", "1",
         "--kmip-port", str(kmip_port), "--http-port", str(http_port),
         "--", "--api-tokens-file", str(tokens), *LIMIT, "--max-connections-per-client", "2",
         "--audit-log", str(audit)],
        capture_output=True, text=True, timeout=180, check=False, cwd=REPO,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "send-proxy-v2" in (directory / "haproxy.cfg").read_text()
        certs = directory / "certs"
        # HTTPS, HTTP mode: HAProxy ends TLS and names the client to the node in its PROXY v2 header.
        assert _https_statuses(http_port, certs, count=3, source="127.0.0.2") == [200, 200, 429]
        assert _https_status(http_port, certs, source="127.0.0.3") == 200
        # KMIP, TCP mode: TLS end to end, the header before it.
        with _connect(kmip_port, certs, source="127.0.0.4") as sock:
            assert _kmip_results(sock, 3) == ["Success", "Success", "ServerLimitExceeded"]
        with _connect(kmip_port, certs, source="127.0.0.5") as sock:
            assert _kmip_results(sock, 1) == ["Success"]
        assert set(_audit_clients(audit)) == {"127.0.0.4", "127.0.0.5"}
        # Two connections per client: a third from 127.0.0.4 is cut, one from 127.0.0.5 is not.
        held = [_connect(kmip_port, certs, source="127.0.0.4") for _ in range(2)]
        try:
            assert all(_held_open(sock) for sock in held)
            with _connect(kmip_port, certs, source="127.0.0.4") as third:
                assert not _held_open(third)
            with _connect(kmip_port, certs, source="127.0.0.5") as other:
                assert _held_open(other)
        finally:
            for sock in held:
                sock.close()
    finally:
        if (directory / "cluster.json").exists():
            subprocess.run([*cluster, "down", "--dir", str(directory)], capture_output=True, timeout=120, check=False)
