"""The ``keystead`` client: file encryption throughput and memory, and Get/s through the Python client.

    python -m bench.bench_client [--size-mib 1024] [--seconds 5] [--modes server,envelope]

* ``keystead sym encrypt`` / ``decrypt`` of one file (1 GiB by default) against a local ``keystead serve``, each
  run as its own process: wall time, MB/s and the process's peak RSS (``wait4``), server-side (JSON and binary
  TTLV over HTTP) and envelope mode; beside ``openssl enc`` on the same file in the same run. OpenSSL 3's ``enc``
  refuses AEAD ciphers ("AEAD ciphers not supported"), so the file baseline is ``openssl enc -aes-256-ctr`` (the
  same AES, without GHASH) and ``openssl speed -evp aes-256-gcm`` gives GCM's in-memory ceiling.
* KMIP Get at one connection over the mutual-TLS port 5696: ``KmsClient.get`` (typed request, codecs, response
  checks) beside a lean client sending pre-encoded bytes (what the server alone allows), and the same for JSON on
  ``/kmip/2_1``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import UNLIMITED
from bench.bench_server import TtlvClient, measure
from integration_tests._keystead_server import KeysteadProcess
from kms_backend.client import ClientConfig, KmsClient
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import binary_codec, messages
from kms_backend.kmip._registry_data import Operation

KEYSTEAD = Path(sys.executable).parent / "keystead"
RSS_LIMIT_MB = 200


def run_measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child process; fails loudly if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        assert process.stderr is not None
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode()[-500:]}")
    return elapsed, usage.ru_maxrss / 1024  # Linux reports kilobytes


def make_file(path: Path, size: int) -> None:
    """``size`` random bytes, written in 8 MiB pieces."""
    piece = os.urandom(8 << 20)
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(piece[: min(left, len(piece))])
            left -= len(piece)


def openssl_rows(source: Path, work: Path, size: int) -> list[tuple[str, float, float]]:
    key, iv = "00" * 32, "00" * 16
    target = work / "openssl.enc"
    seconds, rss = run_measured(
        ["openssl", "enc", "-aes-256-ctr", "-K", key, "-iv", iv, "-in", str(source), "-out", str(target)]
    )
    target.unlink()
    rows = [("openssl enc -aes-256-ctr (file)", size / seconds / 1e6, rss)]
    speed = subprocess.run(
        ["openssl", "speed", "-evp", "aes-256-gcm", "-bytes", str(1 << 20), "-seconds", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"^AES-256-GCM\s+([\d.]+)k", speed.stdout, re.M)
    if found:
        rows.append(("openssl speed aes-256-gcm (memory)", float(found.group(1)) * 1000 / 1e6, 0.0))
    return rows


def file_rows(
    server: KeysteadProcess, source: Path, work: Path, size: int, modes: list[str]
) -> list[tuple[str, float, float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSTEAD_")}
    env.update(HOME=str(work), KEYSTEAD_CLI_URL=server.http_url)
    subprocess.run([str(KEYSTEAD), "sym", "keys", "create", "--tag", "bench"], env=env, check=True, capture_output=True)
    variants = {
        "server": ("server-side, JSON /kmip/2_1", []),
        "binary": ("server-side, binary /kmip", ["--protocol", "binary"]),
        "envelope": ("envelope (local AES-GCM)", ["-e", "aes-gcm"]),
    }
    rows = []
    for mode in modes:
        label, extra = variants[mode]
        protocol = extra if mode == "binary" else []
        sealed, plain = work / f"{mode}.enc", work / f"{mode}.out"
        seconds, rss = run_measured(
            [str(KEYSTEAD), "sym", "encrypt", "-t", "bench", "-o", str(sealed), str(source), "-q", *extra], env
        )
        rows.append((f"keystead sym encrypt, {label}", size / seconds / 1e6, rss))
        seconds, rss = run_measured(
            [str(KEYSTEAD), "sym", "decrypt", "-t", "bench", "-o", str(plain), str(sealed), "-q", *protocol], env
        )
        rows.append((f"keystead sym decrypt, {label}", size / seconds / 1e6, rss))
        if not _same(source, plain):
            raise RuntimeError(f"{mode}: the decrypted file differs from the original")
        sealed.unlink()
        plain.unlink()
    return rows


def _same(a: Path, b: Path) -> bool:
    with a.open("rb") as x, b.open("rb") as y:
        while True:
            left, right = x.read(8 << 20), y.read(8 << 20)
            if left != right:
                return False
            if not left:
                return True


def get_rows(server: KeysteadProcess, seconds: float) -> list[tuple[str, float, float, float]]:
    assert server.certs is not None and server.kmip_port is not None
    certs = server.certs
    tls = {"tls_cert": str(certs / "client.pem"), "tls_key": str(certs / "client.key"), "tls_ca": str(certs / "ca.pem")}
    rows = []
    socket_config = ClientConfig(urls=(f"kmip://127.0.0.1:{server.kmip_port}",), **tls)  # type: ignore[arg-type]
    with KmsClient(socket_config) as kms:
        uid = kms.create_symmetric_key()
        lean = TtlvClient(server.kmip_port, certs)
        request = S.RequestMessage(
            request_header=S.RequestHeader(
                protocol_version=S.ProtocolVersion(protocol_version_major=2, protocol_version_minor=1), batch_count=1
            ),
            batch_item=[
                S.RequestBatchItem(operation=Operation.GET, request_payload=S.GetRequest(unique_identifier=uid))
            ],
        )
        encoded = binary_codec.encode(messages.encode(request))
        rows.append(("5696 lean client (pre-encoded bytes)", *measure(lambda: lean.call(encoded), seconds)))
        rows.append(("5696 KmsClient.get", *measure(lambda: kms.get(uid), seconds)))
        lean.close()
    for protocol in ("json", "binary"):
        config = ClientConfig(urls=(server.http_url,), protocol=protocol, **tls)  # type: ignore[arg-type]
        with KmsClient(config) as kms:
            rows.append((f"HTTPS {protocol} KmsClient.get", *measure(lambda: kms.get(uid), seconds)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024 MiB)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each Get measurement")
    parser.add_argument("--modes", default="server,binary,envelope", help="file modes to run")
    args = parser.parse_args(argv)
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="keystead-bench-client-") as tmp:
        work = Path(tmp)
        plain = KeysteadProcess.start(work / "plain", *UNLIMITED, tls=False)
        tls = KeysteadProcess.start(work / "tls", *UNLIMITED)
        try:
            source = work / "input.bin"
            make_file(source, size)
            print(f"file: {args.size_mib} MiB of random bytes; CPU cores: {os.cpu_count()}")
            print(f"{'':52} {'MB/s':>9} {'peak RSS MB':>12}")
            rows = openssl_rows(source, work, size) + file_rows(plain, source, work, size, args.modes.split(","))
            for name, rate, rss in rows:
                flag = "" if rss <= RSS_LIMIT_MB else f"  over {RSS_LIMIT_MB} MB"
                print(f"{name:52} {rate:9.1f} {rss:12.1f}{flag}")
            print()
            print(f"{'KMIP Get, one connection':52} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
            for name, rate, p50, p99 in get_rows(tls, args.seconds):
                print(f"{name:52} {rate:9.0f} {p50:8.3f} {p99:8.3f}")
        finally:
            plain.stop()
            tls.stop()


if __name__ == "__main__":
    main()
