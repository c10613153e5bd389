"""What no server on this machine can beat, measured in the same run as the benchmarks that report beside it.

* ``tls_round_trip``: a do-nothing TLS echo server in Python (its own process, one thread per connection, the
  benchmark's mutual-TLS certificates) answered by the same kind of lean client the benchmarks use: the time one
  request/response costs on loopback before any KMIP work. Virtual machines pay several context switches here.
* ``fsync_time``: one 4 KiB write made durable (write + fsync) in a directory: the least a durable Create costs.

Both are medians of repeated samples; they bound the best ratio a benchmark row can reach (see ``bench_server`` and
``bench_crypto``).
"""

from __future__ import annotations

import os
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

_ECHO_SERVER = r"""
import socket, ssl, struct, sys, threading
certs = sys.argv[1]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certs + "/ca.pem")
context.load_cert_chain(certs + "/server.pem", certs + "/server.key")
context.verify_mode = ssl.CERT_REQUIRED
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], flush=True)

def read(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError
        data += chunk
    return data

def serve(raw):
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with context.wrap_socket(raw, server_side=True) as conn:
        try:
            while True:
                header = read(conn, 8)
                conn.sendall(header + read(conn, struct.unpack(">I", header[4:])[0]))
        except (ConnectionError, OSError):
            return

while True:
    raw, _ = listener.accept()
    threading.Thread(target=serve, args=(raw,), daemon=True).start()
"""


def tls_round_trip(certs: Path, message_size: int = 128, rounds: int = 7, batch: int = 500) -> float:
    """Median seconds of one request/response of ``message_size`` bytes through a Python TLS echo server."""
    server = subprocess.Popen(
        [sys.executable, "-c", _ECHO_SERVER, str(certs)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        context.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with context.wrap_socket(raw, server_hostname="localhost") as conn:
            message = b"\x42\x00\x78\x01" + struct.pack(">I", message_size - 8) + bytes(message_size - 8)

            def exchange() -> None:
                conn.sendall(message)
                received = 0
                while received < message_size:
                    chunk = conn.recv(message_size - received)
                    if not chunk:
                        raise ConnectionError("echo server closed")
                    received += len(chunk)

            for _ in range(100):
                exchange()
            samples = []
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(batch):
                    exchange()
                samples.append((time.perf_counter() - start) / batch)
        return statistics.median(samples)
    finally:
        server.kill()
        server.wait()


def fsync_time(directory: Path, rounds: int = 200) -> float:
    """Median seconds of a 4 KiB write followed by fsync in ``directory``."""
    path = directory / ".fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        samples = []
        block = bytes(4096)
        for _ in range(rounds):
            start = time.perf_counter()
            os.write(fd, block)
            os.fsync(fd)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


__all__ = ["fsync_time", "tls_round_trip"]
