"""What the per-client limits and the PROXY protocol cost the server (issue 21), run by hand:

    python -m bench.bench_proxy [--seconds 3]

Three servers side by side in the same run, each measured in turn: ``limit off`` (``--rate-limit 0``), ``limit on``
(the rate limiter checked on every request, at a rate no client reaches) and ``proxied`` (limit on, and
``--trusted-proxies 127.0.0.1``: connections are accepted by ``ProxiedListener``, which peeks at each one for a
PROXY header). Rows: a new mutual-TLS connection per request (HTTPS ``GET /health``; KMIP DiscoverVersions), with a
PROXY v2 header where the row says so, and requests on one keep-alive HTTPS connection (``GET /version``). Reports
ops/s and the server's CPU µs per op (user + system, from /proc), the figure that matters on a loaded machine.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import socket
import ssl
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.bench_server import process_cpu
from integration_tests._keystead_server import KeysteadProcess, request_message
from kms_backend.kmip import binary_codec, json_codec

V2_HEADER = b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" + struct.pack("!H4s4sHH", 12, bytes([198, 51, 100, 7]), bytes(4), 4000, 1)
DISCOVER = binary_codec.encode(json_codec.decode_obj(request_message(("DiscoverVersions", []))))


def _context(certs: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    context.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
    return context


def _connect(port: int, context: ssl.SSLContext, header: bytes) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if header:
        raw.sendall(header)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def _get(sock: ssl.SSLSocket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    response = http.client.HTTPResponse(sock)  # type: ignore[arg-type,unused-ignore]
    response.begin()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status}")


def _kmip(sock: ssl.SSLSocket) -> None:
    sock.sendall(DISCOVER)
    body = b""
    while len(body) < 8:
        body += sock.recv(8 - len(body))
    size = binary_codec.read_message_length(body)
    while len(body) < size:
        body += sock.recv(size - len(body))


def _new_connection(
    port: int, context: ssl.SSLContext, header: bytes, exchange: Callable[[ssl.SSLSocket], None]
) -> None:
    with _connect(port, context, header) as sock:
        exchange(sock)


def _run(call: Callable[[], object], seconds: float, pid: int) -> tuple[float, float]:
    """(ops/s, server CPU µs per op) of ``call`` repeated for ``seconds`` (after a short warm-up)."""
    for _ in range(20):
        call()
    count, cpu = 0, process_cpu(pid)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()
        count += 1
    elapsed = time.perf_counter() - start
    return count / elapsed, (process_cpu(pid) - cpu) / count * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    variants = {
        "limit off": ("--rate-limit", "0"),
        "limit on": ("--rate-limit", "1e9"),
        "proxied": ("--rate-limit", "1e9", "--trusted-proxies", "127.0.0.1"),
    }
    with tempfile.TemporaryDirectory(prefix="keystead-bench-proxy-") as tmp:
        servers = {
            name: KeysteadProcess.start(Path(tmp) / name.replace(" ", "-"), *extra) for name, extra in variants.items()
        }
        try:
            print(f"\nbench_proxy: {args.seconds:g} s per row; server CPU µs per op")
            print(f"{'row':<44} " + " ".join(f"{name:>22}" for name in variants))
            rows: list[tuple[str, bytes, Callable[[ssl.SSLSocket], None], bool]] = [
                ("HTTPS new connection + GET /health", b"", functools.partial(_get, path="/health"), False),
                ("HTTPS new connection, PROXY v2 header", V2_HEADER, functools.partial(_get, path="/health"), False),
                ("KMIP new connection + DiscoverVersions", b"", _kmip, True),
                ("KMIP new connection, PROXY v2 header", V2_HEADER, _kmip, True),
            ]
            for label, header, exchange, kmip in rows:
                cells = []
                for name, server in servers.items():
                    if header and name != "proxied":
                        cells.append(f"{'-':>22}")
                        continue
                    assert server.certs is not None and server.kmip_port is not None
                    port = server.kmip_port if kmip else int(server.http_url.rsplit(":", 1)[1])
                    once = functools.partial(_new_connection, port, _context(server.certs), header, exchange)
                    rate, cpu = _run(once, args.seconds, server.process.pid)
                    cells.append(f"{rate:>8.0f}/s {cpu:>8.0f} µs")
                print(f"{label:<44} " + " ".join(cells))
            cells = []
            for server in servers.values():
                assert server.certs is not None
                with _connect(int(server.http_url.rsplit(":", 1)[1]), _context(server.certs), b"") as sock:
                    rate, cpu = _run(functools.partial(_get, sock, "/version"), args.seconds, server.process.pid)
                cells.append(f"{rate:>8.0f}/s {cpu:>8.0f} µs")
            print(f"{'HTTPS keep-alive GET /version':<44} " + " ".join(cells))
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
