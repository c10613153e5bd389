"""What the per-client limits and the PROXY protocol cost the server (issue 21), run by hand:

    python -m bench.bench_proxy [--seconds 3] [--rounds 5]

Three servers side by side in the same run: ``limit off`` (``--rate-limit 0``), ``limit on`` (the rate limiter
checked on every request, at a rate no client reaches) and ``proxied`` (limit on, and ``--trusted-proxies
127.0.0.1``: connections are accepted by ``ProxiedListener``, which peeks at each one for a PROXY header). Every
cell runs once per round, the rounds interleaved, and the medians are shown, so that the machine's other load falls
on all columns alike. Rows: a new mutual-TLS connection per request (HTTPS ``GET /health``; KMIP DiscoverVersions),
with a PROXY v2 header where the row says so, and requests on one keep-alive HTTPS connection (``GET /version``).
Reports ops/s and the server's CPU µs per op (user + system, from /proc), the figure that matters on a loaded
machine.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import socket
import ssl
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.bench_server import process_cpu
from integration_tests._keystead_server import KeysteadProcess, read_message, request_message
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
    if read_message(sock) is None:
        raise RuntimeError("the server closed the KMIP connection")


def _new_connection(
    port: int, context: ssl.SSLContext, header: bytes, exchange: Callable[[ssl.SSLSocket], None]
) -> None:
    with _connect(port, context, header) as sock:
        exchange(sock)


def _run(call: Callable[[], object], seconds: float, pid: int) -> tuple[float, float]:
    """(ops/s, server CPU µs per op) of ``call`` repeated for ``seconds`` (after a short warm-up)."""
    for _ in range(5):
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
    parser.add_argument("--seconds", type=float, default=3.0, help="per cell, split over the rounds")
    parser.add_argument("--rounds", type=int, default=5, help="every cell once per round, interleaved; medians shown")
    args = parser.parse_args(argv)
    variants = {
        "limit off": ("--rate-limit", "0"),
        "limit on": ("--rate-limit", "1e9"),
        "proxied": ("--rate-limit", "1e9", "--trusted-proxies", "127.0.0.1"),
    }
    rows: list[tuple[str, bytes, Callable[[ssl.SSLSocket], None], bool]] = [
        ("HTTPS new connection + GET /health", b"", functools.partial(_get, path="/health"), False),
        ("HTTPS new connection, PROXY v2 header", V2_HEADER, functools.partial(_get, path="/health"), False),
        ("KMIP new connection + DiscoverVersions", b"", _kmip, True),
        ("KMIP new connection, PROXY v2 header", V2_HEADER, _kmip, True),
    ]
    keep_alive = "HTTPS keep-alive GET /version"
    with tempfile.TemporaryDirectory(prefix="keystead-bench-proxy-") as tmp, contextlib.ExitStack() as stack:
        servers = {}
        for name, extra in variants.items():
            servers[name] = KeysteadProcess.start(Path(tmp) / name.replace(" ", "-"), *extra)
            stack.callback(servers[name].stop)
        # (row, variant) -> the call to repeat, and the server's pid
        cells: dict[tuple[str, str], tuple[Callable[[], object], int]] = {}
        for name, server in servers.items():
            assert server.certs is not None and server.kmip_port is not None
            http_port = int(server.http_url.rsplit(":", 1)[1])
            for label, header, exchange, kmip in rows:
                if header and name != "proxied":
                    continue
                port = server.kmip_port if kmip else http_port
                repeat = functools.partial(_new_connection, port, _context(server.certs), header, exchange)
                cells[(label, name)] = (repeat, server.process.pid)
            sock = stack.enter_context(_connect(http_port, _context(server.certs), b""))
            cells[(keep_alive, name)] = (functools.partial(_get, sock, "/version"), server.process.pid)
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in cells}
        for _ in range(args.rounds):
            for key, (call, pid) in cells.items():
                samples[key].append(_run(call, args.seconds / args.rounds, pid))
    print(f"\nbench_proxy: {args.seconds:g} s per cell in {args.rounds} rounds; ops/s, server CPU µs per op (medians)")
    print(f"{'row':<40} " + " ".join(f"{name:>20}" for name in variants))
    for label in [row[0] for row in rows] + [keep_alive]:
        line = []
        for name in variants:
            if (label, name) not in samples:
                line.append(f"{'-':>20}")
                continue
            rate = statistics.median(r for r, _ in samples[(label, name)])
            cpu = statistics.median(c for _, c in samples[(label, name)])
            line.append(f"{rate:>7.0f}/s {cpu:>7.0f} µs")
        print(f"{label:<40} " + " ".join(line))


if __name__ == "__main__":
    main()
